"""What each part of Dsar (service.py) shares: the dependencies Dsar is built with, and
the steps one part calls on another. Each step is defined in one part (named below) and
Dsar joins them; they are declared here for the type checker only."""
from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Any

from shared.erasure_ledger import ErasureLedger
from shared.messaging.outbox import Outbox
from shared.receipts import ReceiptKeys

if TYPE_CHECKING:
    from sqlalchemy.engine import Row
    from sqlalchemy.orm import Session


class Part:
    """A part of Dsar: its dependencies (dataclass fields of Dsar) and the others' steps."""
    outbox: Outbox
    clock: Callable[[], dt.datetime]
    reask_after: dt.timedelta
    removed_retention: dt.timedelta
    services: tuple[str, ...]
    ledger: ErasureLedger | None
    receipt_keys: ReceiptKeys | None

    if TYPE_CHECKING:
        # service.py
        def _audit(self, session: Session, request_id: str, step: str,
                   service: str | None = None, actor: str | None = None) -> None: ...

        def _for_school(self, session: Session, request_id: str,
                        school_ids: Collection[str]) -> Row[Any]: ...

        def view(self, session: Session, request_id: str) -> dict[str, Any]: ...

        # subject_requests.py
        def file(self, session: Session, school_id: str, kind: str, subject_type: str,
                 subject_id: str | None, details: dict[str, Any], filer: str | None,
                 role: str, source_id: str | None = None, trusted: bool = False,
                 second_factor_recent: bool = True) -> dict[str, Any]: ...

        def _owns(self, session: Session, account_id: str | None, subject_type: str | None,
                  subject_id: str | None) -> bool: ...

        @staticmethod
        def _via_link(session: Session, account_id: str, student_id: str) -> bool: ...

        # fanout.py
        def _start(self, session: Session, request_id: str) -> None: ...

        def _announce_closed(self, session: Session, request_id: str,
                             outcome: str) -> None: ...

        def _blank_free_text(self, session: Session, ids: Collection[str]) -> None: ...

        # exports.py
        @staticmethod
        def _with_exports(session: Session, ids: Collection[str]) -> set[str]: ...

        def _withdraw_exports(self, session: Session, ids: Collection[str]) -> None: ...

        # offboarding.py
        def _forget_school(self, session: Session, school_id: str) -> None: ...

        # receipts.py
        def _issue_receipt(self, session: Session, request_id: str) -> None: ...

"""Access and portability exports: the services' parts assembled into one zip for a
limited time, and withdrawn when their subject is erased (a part of Dsar, service.py)."""
from __future__ import annotations

import datetime as dt
import io
import json
import zipfile
from typing import Callable

import sqlalchemy as sa

from shared.csv_export import csv_table
from shared.errors import NotFound

from . import domain, summary
from .domain import Status
from .models import export_parts, requests


SUMMARY_FILE = "your-data.html"


class Exports:
    """The export of a completed access or portability request."""
    clock: Callable[[], dt.datetime]

    def export_zip(self, session, request_id: str, school_ids) -> bytes:
        row = self._for_school(session, request_id, school_ids)
        if row.kind not in domain.EXPORTS or row.status != Status.COMPLETED \
                or row.export_expires_at is None or row.export_expires_at <= self.clock():
            raise NotFound()  # not ready, or expired
        parts = session.execute(sa.select(export_parts.c.service, export_parts.c.tables)
                                .where(export_parts.c.request_id == request_id)
                                .order_by(export_parts.c.service)).all()
        everything = {p.service: p.tables for p in parts}
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            archive.writestr("export.json", json.dumps(
                {"request_id": request_id, "subject": {"type": row.subject_type,
                                                       "id": row.subject_id},
                 "services": everything}, indent=2, sort_keys=True, default=str))
            for service, tables in everything.items():
                for table, rows in tables.items():
                    if not rows:
                        continue
                    archive.writestr(f"{service}/{table}.csv", csv_table(rows))
            # For a person to read and print (issue 24): grouped, no ids or hashes.
            archive.writestr(SUMMARY_FILE, summary.render(
                everything, row.kind, row.completed_at, row.export_expires_at))
        self._audit(session, request_id, "exported")
        return buffer.getvalue()

    @staticmethod
    def _with_exports(session, ids) -> set[str]:
        if not ids:
            return set()
        return set(session.execute(sa.select(requests.c.id).where(
            requests.c.id.in_(sorted(ids)), requests.c.export_expires_at.is_not(None))
        ).scalars()) | set(session.execute(sa.select(export_parts.c.request_id).where(
            export_parts.c.request_id.in_(sorted(ids)))).scalars())

    def _withdraw_exports(self, session, ids) -> None:
        """The export is not downloadable any more (the answer an expired one gets)."""
        if not ids:
            return
        session.execute(export_parts.delete().where(export_parts.c.request_id.in_(sorted(ids))))
        session.execute(requests.update().where(requests.c.id.in_(sorted(ids)))
                        .values(export_expires_at=None))
        for request_id in sorted(ids):
            self._audit(session, request_id, "export_withdrawn")

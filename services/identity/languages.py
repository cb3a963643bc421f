"""Each person's language (issue 29): chosen at activation or later by the person, kept on
the login (declared personal data, personal_data.py) and announced to notifications with
LanguageChosen, so that every email to that person is in it (a part of Identity,
service.py)."""
from __future__ import annotations

import logging

from sqlalchemy.orm import Session

from shared.i18n import LANGUAGES
from shared.messaging.outbox import Outbox

from .domain import Unknown
from .models import accounts

log = logging.getLogger(__name__)


class Languages:
    """Recording the language a login chose."""
    outbox: Outbox

    def choose_language(self, session: Session, account_id: str, language: str) -> str:
        """Records `language` ("en" | "cy") as the login's and sends LanguageChosen (again
        on every change: notifications keeps the latest). The language recorded."""
        if language not in LANGUAGES:
            raise ValueError(f"not a language of ours: {language!r}")
        done = session.execute(accounts.update().where(accounts.c.id == account_id)
                               .values(language=language).returning(accounts.c.id)).first()
        if done is None:
            raise Unknown("no such account")
        self.outbox.add(session, "LanguageChosen",
                        {"account_id": account_id, "language": language}, school_id=None)
        log.info("language chosen account_id=%s language=%s", account_id, language)
        return language

"""The language each email is written in (issue 29): the person's own choice
(LanguageChosen, kept per login), else both languages, the school's default first
(shared.i18n.bilingual_order)."""
from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import affected, among
from shared.i18n import LANGUAGES, bilingual_order

from .models import guardians, languages, school_admins, schools, student_contacts
from .templates import School


def record(session: Session, account_id: str, language: str) -> None:
    """LanguageChosen: the login's language, the latest replacing the one before."""
    if language not in LANGUAGES:
        return
    session.execute(languages.delete().where(languages.c.account_id == account_id))
    session.execute(languages.insert().values(account_id=account_id, language=language))


def chosen(session: Session, account_ids: Iterable[str | None]) -> dict[str, str]:
    """{account id: its language} of those that chose one."""
    ids = sorted({a for a in account_ids if a})
    if not ids:
        return {}
    return {row.account_id: row.language for row in session.execute(
        sa.select(languages.c.account_id, languages.c.language).where(
            among(languages.c.account_id, ids)))}


def for_login(session: Session, account_id: str | None, school_default: str | None
              ) -> list[str]:
    """The languages of a mail to a login: its choice alone, else both (school's first)."""
    return bilingual_order(chosen(session, [account_id]).get(account_id or ""),
                           school_default)


def for_mail(session: Session, account_id: str, school: School | None = None) -> list[str]:
    """The languages of a mail to a login: its choice, else both, the school's default
    first (a mail of no school: the default of a school the login belongs to)."""
    default = school.default_language if school else login_school_default(session,
                                                                          account_id)
    return for_login(session, account_id, default)


def login_school_default(session: Session, account_id: str) -> str | None:
    """The default language of a school the login belongs to (for a mail of no school:
    a password reset, a privacy notice); None when it belongs to none here."""
    for table in (guardians, school_admins, student_contacts):
        found = session.execute(sa.select(schools.c.default_language).join(
            table, table.c.school_id == schools.c.school_id).where(
            table.c.account_id == account_id).order_by(schools.c.school_id)
            .limit(1)).scalar()
        if found:
            return str(found)
    return None


def forget(session: Session, account_id: str) -> int:
    """The login's language erased; how many rows."""
    return affected(session.execute(languages.delete().where(
        languages.c.account_id == account_id)))


def export(session: Session, account_ids: Iterable[str]) -> list[dict[str, str]]:
    """The language rows of these logins, as an access export shows them."""
    return [{"account_id": a, "language": language}
            for a, language in sorted(chosen(session, account_ids).items())]

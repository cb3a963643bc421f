"""Access and portability exports: the services' parts assembled into one zip for a
limited time, and withdrawn when their subject is erased (a part of Dsar, service.py)."""
from __future__ import annotations

import io
import json
import zipfile
from collections.abc import Collection
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from shared.csv_export import csv_table
from shared.db import among
from shared.errors import Conflict, NotFound

from . import domain, summary
from .domain import Status
from .models import export_parts, requests, school_languages
from .part import Part


SUMMARY_FILE = "your-data.html"


class NoExportToRelease(Conflict):
    code = "no_export_to_release"
    answer = ("There is no copy to release: the request is not a completed request for a "
              "copy of data, or its copy has expired.")


class FiledByTheSchool(Conflict):
    code = "filed_by_the_school"
    answer = ("The school filed this request itself: there is nobody to release the copy "
              "to in the app. Hand it over yourself.")


class Exports(Part):
    """The export of a completed access or portability request."""

    def export_zip(self, session: Session, request_id: str,
                   school_ids: Collection[str]) -> bytes:
        row = self._for_school(session, request_id, school_ids)
        return self._zip(session, row, "exported")

    def export_zip_for_requester(self, session: Session, request_id: str, account_id: str,
                                 reading: str | None = None) -> bytes:
        """The parent or student who asked, once the school released the export to them,
        while the subject is still theirs (a link revoked or locked after the release ends
        the download, as it ends filing about the child); 404 otherwise (not theirs, not
        released, not ready, expired). `reading`: the language they read the app in, for
        the summary where the export does not record theirs."""
        row = session.execute(sa.select(requests).where(requests.c.id == request_id)
                              .with_for_update()).first()
        if row is None or row.filed_by != account_id or row.export_released_at is None \
                or not self._owns(session, account_id, row.subject_type, row.subject_id):
            raise NotFound()
        return self._zip(session, row, "exported_to_requester", reading)

    def release_export(self, session: Session, request_id: str, school_ids: Collection[str],
                       actor: str) -> dict[str, Any]:
        """The school lets the parent or student who asked download the export in the app
        until it expires (issue 24), instead of handing it over itself."""
        row = self._for_school(session, request_id, school_ids)
        now = self.clock()
        if row.kind not in domain.EXPORTS or row.status != Status.COMPLETED \
                or row.export_expires_at is None or row.export_expires_at <= now:
            raise NoExportToRelease()
        if row.filed_by is None or row.filed_as not in ("parent", "student"):
            raise FiledByTheSchool()
        if row.export_released_at is None:
            session.execute(requests.update().where(requests.c.id == request_id)
                            .values(export_released_at=now))
            self._audit(session, request_id, "export_released", actor=actor)
            # The requester is told it is there to download, and until when (ids only).
            self.outbox.add(session, "ExportReleased", {
                "request_id": row.id, "kind": row.kind, "filed_by": row.filed_by,
                "filed_as": row.filed_as, "subject": {"school_id": row.school_id,
                                                      "type": row.subject_type,
                                                      "id": row.subject_id},
                "expires_at": row.export_expires_at}, school_id=row.school_id)
        return self.view(session, request_id)

    def record_school_language(self, session: Session, school_id: str,
                               language: str | None) -> None:
        """SchoolActivated: the school's default language (sent again when it changes)."""
        session.execute(school_languages.delete().where(
            school_languages.c.school_id == school_id))
        session.execute(school_languages.insert().values(
            school_id=school_id, default_language=language or "en"))

    def _zip(self, session: Session, row: Row[Any], step: str,
             reading: str | None = None) -> bytes:
        request_id = row.id
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
            # For a person to read and print (issue 24): grouped, no ids or hashes, in the
            # requester's language (issue 29).
            school_default = session.execute(sa.select(school_languages.c.default_language)
                                             .where(school_languages.c.school_id
                                                    == row.school_id)).scalar()
            language = summary.language_of(everything, row.filed_by, reading, school_default)
            archive.writestr(SUMMARY_FILE, summary.render(
                everything, row.kind, row.completed_at, row.export_expires_at, language))
        self._audit(session, request_id, step)
        return buffer.getvalue()

    @staticmethod
    def _with_exports(session: Session, ids: Collection[str]) -> set[str]:
        if not ids:
            return set()
        return set(session.execute(sa.select(requests.c.id).where(
            among(requests.c.id, sorted(ids)), requests.c.export_expires_at.is_not(None))
        ).scalars()) | set(session.execute(sa.select(export_parts.c.request_id).where(
            among(export_parts.c.request_id, sorted(ids)))).scalars())

    def _withdraw_exports(self, session: Session, ids: Collection[str]) -> None:
        """The export is not downloadable any more (the answer an expired one gets)."""
        if not ids:
            return
        session.execute(export_parts.delete().where(among(export_parts.c.request_id, sorted(ids))))
        session.execute(requests.update().where(among(requests.c.id, sorted(ids)))
                        .values(export_expires_at=None))
        for request_id in sorted(ids):
            self._audit(session, request_id, "export_withdrawn")

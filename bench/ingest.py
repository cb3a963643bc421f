"""A 2,000-student school's term pushed through ingest's API, beside a bare insert; and a
OneRoster bundle of a 2,000-student school beside the same data as JSON batches.

    make bench            (or: .venv/bin/python -m bench.ingest --students 2000)

The term: students, guardians (1.5 per student), staff, classes, and per student and
subject three attainment records and four characteristics (about 150,000 records for
2,000 students and 10 subjects), in batches of 5,000 events, on PostgreSQL
(PP_TEST_DATABASE_URL, a database of its own, dropped after). "Accepted" means validated,
given ids, translated and written to the outbox, committed. The baseline writes a row per
record (outbox-sized) with one bare executemany per batch into the same database.
The OneRoster rows compare one bulk bundle upload (read, checked, projected, pushed) with
pushing the same school's equivalent JSON batches, each into a school of its own.
"""
from __future__ import annotations

import argparse
import tempfile
import time
import uuid
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bench.common import Figure, table, temporary_database
from services.ingest.app import SPEC
from services.ingest.schemas import MAX_EVENTS_PER_BATCH
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.config import Settings
from shared.service import ServiceRuntime
from tests import second_factor
from tests.oneroster_sample import SampleSchool

SUBJECTS = ("Maths", "English", "Science", "History", "Geography", "French", "Art",
            "Music", "Computing", "PE")


def term(students: int) -> list[dict]:
    """A school's term as pushed events: staff, students, guardians, classes, results."""
    groups = max(1, students // 25)
    events = _staff(students) + _students(students) + _guardians(students)
    events += _classes(students, groups)
    for s in range(students):
        for subject in SUBJECTS:
            events += _results(s, subject, f"{subject}-{s % groups}")
    return events


def _staff(students: int) -> list[dict]:
    return [{"type": "staff.upserted", "source_id": f"T{t}", "data": {
        "title": "Ms", "given_name": f"Teacher{t}", "family_name": "Staff"}}
        for t in range(max(10, students // 20))]


def _students(students: int) -> list[dict]:
    return [{"type": "student.upserted", "source_id": f"S{s}", "data": {
        "given_name": f"Given{s}", "family_name": f"Family{s}",
        "date_of_birth": f"{2010 + s % 7}-0{1 + s % 9}-1{s % 9}", "form_group": f"{7 + s % 5}A",
        "year_group": 7 + s % 5}} for s in range(students)]


def _guardians(students: int) -> list[dict]:
    return [{"type": "guardian.upserted", "source_id": f"G{g}", "data": {
        "given_name": f"Parent{g}", "family_name": f"Family{g % students}",
        "email": f"parent{g}@example.org", "students": [{
            "student_id": f"S{g % students}", "relationship": "parent",
            "receives_reports": True}]}} for g in range(students * 3 // 2)]


def _classes(students: int, groups: int) -> list[dict]:
    return [{"type": "class.upserted", "source_id": f"{subject}-{c}", "data": {
        "name": f"{subject} {c}", "subject": subject, "teacher_ids": [f"T{c % 10}"],
        "student_ids": [f"S{s}" for s in range(c, students, groups)]}}
        for subject in SUBJECTS for c in range(groups)]


def _results(s: int, subject: str, klass: str) -> list[dict]:
    """One student's attainments and characteristics in one subject's class."""
    events = [{"type": "attainment.recorded", "source_id": f"A-{s}-{subject}-{kind}", "data": {
        "student_id": f"S{s}", "class_id": klass, "period": "2026 Autumn", "kind": kind,
        "value": value, "out_of": 100 if kind == "mark" else None}}
        for kind, value in (("mark", "67"), ("grade", "B"), ("target", "A"))]
    events += [{"type": "characteristic.recorded", "source_id": f"C-{s}-{subject}-{kind}",
                "data": {"student_id": f"S{s}", "class_id": klass, "period": "2026 Autumn",
                         "kind": kind, "value": "Good"}}
               for kind in ("attitude", "effort", "behaviour", "attendance")]
    return events


def figures(quick: bool = False, students: int | None = None) -> list[Figure]:
    students = students or (200 if quick else 2000)
    events = term(students)
    batches = [events[i:i + MAX_EVENTS_PER_BATCH]
               for i in range(0, len(events), MAX_EVENTS_PER_BATCH)]
    url, drop_database = temporary_database("ingest")
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            rt, client, key = _service(url, data_dir)
            pushed, rows = _push_term(rt, client, key, batches)
            sample = SampleSchool(students=students, classes=max(10, students // 25))
            json_events, bundle = sample.json_events(), sample.bundle()
            as_json = _push_as_json(client, key, json_events)
            as_roster = _upload_bundle(rt, client, key, bundle)
            baseline = _bare_inserts(rt, len(batches), max(1, len(events) // len(batches)))
            rt.engine.dispose()
    finally:
        drop_database()

    records = len(json_events)
    return [
        Figure("ingest", f"term push through the API ({students:,} students, "
               f"{len(events):,} records, {rows:,} events out)", len(events) / pushed,
               "records/s", "bare executemany of a row per record, same database",
               len(events) / baseline),
        Figure("ingest", f"OneRoster bundle upload ({len(bundle) // 1024:,} KiB, "
               f"{records:,} records)", records / as_roster, "records/s",
               "the same school as JSON batches", records / as_json)]


def _service(url: str, data_dir: str) -> tuple[ServiceRuntime, Any, Ed25519PrivateKey]:
    """Ingest on the database given, its API as a test client, and the key tokens are
    signed with."""
    # What ingest can take, not the pace it takes a school at (issue 27): unbounded.
    settings = replace(Settings.from_env({"PP_DATA_DIR": data_dir,
                                          "PP_INGEST_SCHOOL_EVENTS_PER_SECOND": "0"}),
                       database_urls={"ingest": url})
    rt = ServiceRuntime(SPEC, settings)
    rt.start()
    key = Ed25519PrivateKey.generate()
    rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()): key.public_key()})
    return rt, rt.create_app().test_client(), key


def _push_term(rt: ServiceRuntime, client: Any, key: Ed25519PrivateKey,
               batches: list[list[dict]]) -> tuple[float, int]:
    """(seconds to push the term's batches, events in the outbox after)."""
    school = str(uuid.uuid4())
    token = TokenSigner(key).issue(str(uuid.uuid4()), "school_system", [school])
    headers = {"Authorization": f"Bearer {token}"}
    start = time.perf_counter()
    for batch in batches:
        response = client.post("/api/v1/school-data/batches", headers=headers,
                               json={"batch_id": uuid.uuid4().hex, "events": batch})
        assert response.status_code == 202 and not response.json["rejected"], \
            (response.status_code, response.json)
    pushed = time.perf_counter() - start
    with rt.engine.connect() as conn:
        rows = conn.execute(sa.text("SELECT count(*) FROM outbox")).scalar_one()
    return pushed, rows


def _push_as_json(client: Any, key: Ed25519PrivateKey, json_events: list[dict]) -> float:
    """Seconds to push the sample school as JSON batches."""
    json_token = TokenSigner(key).issue(str(uuid.uuid4()), "school_system",
                                        [str(uuid.uuid4())])
    start = time.perf_counter()
    for i in range(0, len(json_events), MAX_EVENTS_PER_BATCH):
        response = client.post("/api/v1/school-data/batches", json={
            "batch_id": uuid.uuid4().hex,
            "events": json_events[i:i + MAX_EVENTS_PER_BATCH]},
            headers={"Authorization": f"Bearer {json_token}"})
        assert response.status_code == 202 and not response.json["rejected"]
    return time.perf_counter() - start


def _upload_bundle(rt: ServiceRuntime, client: Any, key: Ed25519PrivateKey,
                   bundle: bytes) -> float:
    """Seconds to upload the same school as a OneRoster bundle and apply it."""
    roster_school = str(uuid.uuid4())
    # A school admin's upload needs a sign-in that passed the second factor (issue 25).
    admin = TokenSigner(key).issue(str(uuid.uuid4()), "school_admin", [roster_school],
                                   **second_factor.passed_claims())
    client.put("/api/v1/school-data/oneroster/settings",
               json={"report_contact_roles": ["parent"]},
               headers={"Authorization": f"Bearer {admin}"})
    start = time.perf_counter()
    response = client.post("/api/v1/school-data/oneroster", data=bundle,
                           content_type="application/zip",
                           headers={"Authorization": f"Bearer {admin}"})
    assert response.status_code == 202, response.json
    rt.context.use_cases.jobs.drain(rt.context.sessions)  # as the worker does
    return time.perf_counter() - start


def _bare_inserts(rt: ServiceRuntime, transactions: int, per_transaction: int) -> float:
    """Seconds for the baseline: bare executemany of a row per record, same database."""
    bare = sa.Table("bare", sa.MetaData(), sa.Column("id", sa.String(36)),
                    sa.Column("payload", sa.Text))
    bare.create(rt.engine)
    payload = '{"type":"AttainmentRecorded","data":{"value":"B"}}' * 4
    start = time.perf_counter()
    for _ in range(transactions):
        with rt.engine.begin() as conn:
            conn.execute(bare.insert(), [{"id": str(uuid.uuid4()), "payload": payload}
                                         for _ in range(per_transaction)])
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=2000)
    args = parser.parse_args()
    print(table(figures(students=args.students)))


if __name__ == "__main__":
    main()

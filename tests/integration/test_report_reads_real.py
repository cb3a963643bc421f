"""A report read's fast path (issue 13): one SELECT and the answer kept since publishing.
It must answer exactly as the schema-rendered read did: the same bytes to everyone who may
read, the 404 of a missing report to everyone else (unverified, revoked, another family,
another school, embargoed), 423 while restricted, and nothing after an erasure. On
PostgreSQL (autocommit, its own pool) and SQLite (embedded mode)."""
from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import replace
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import jsonify
from sqlalchemy.dialects import postgresql

from services.reports import domain, schemas
from services.reports.app import SPEC
from services.reports.models import reports
from services.reports.service import READ_REPORT
from shared.contracts import typed as ev
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.config import Settings
from shared.rights import Subject
from shared.service import ServiceRuntime
from tests import second_factor

pytestmark = pytest.mark.integration
PERIOD = "2026 Autumn"


def ids(*names: str) -> SimpleNamespace:
    return SimpleNamespace(**{name: str(uuid.uuid4()) for name in names})


@pytest.fixture(params=["postgresql", "sqlite"])
def world(request, tmp_path):
    url = (request.getfixturevalue("new_database")("reads") if request.param == "postgresql"
           else f"sqlite:///{tmp_path / 'reports.db'}")
    rt = ServiceRuntime(SPEC, replace(Settings.from_env({"PP_DATA_DIR": str(tmp_path)}),
                                      database_urls={"reports": url}))
    rt.start()
    key = Ed25519PrivateKey.generate()
    rt.verifier = TokenVerifier(lambda: {key_id(key.public_key()): key.public_key()})
    app = rt.create_app()
    service = rt.context.use_cases.reports
    school, elsewhere = str(uuid.uuid4()), str(uuid.uuid4())
    w = SimpleNamespace(rt=rt, app=app, client=app.test_client(), service=service,
                        school=school, signer=TokenSigner(key),
                        id=ids("zoe", "sam", "byron", "turing", "maths", "art",
                               "zoe_parent", "zoe_guardian", "zoe_guardian_2",
                               "sam_parent", "sam_guardian", "pending_parent",
                               "pending_guardian", "zoe_login", "sam_login"))
    i = w.id
    with rt.context.sessions() as session, session.begin():
        for staff_id, given, family in ((i.byron, "Ada", "Byron"),
                                        (i.turing, "Alan", "Turing")):
            service.record_staff(session, [(school, ev.StaffRecorded(**{
                "staff_id": staff_id, "record_version": 1, "title": "Dr",
                "given_name": given, "family_name": family}))])
        # Non-ASCII on purpose: the answer is ASCII with \u escapes, as Flask writes it.
        for sid, given, family, form in ((i.zoe, "Zoë", "Ångström", "7Q"),
                                         (i.sam, "Sam", "Rook", "8R")):
            service.record_students(session, [(school, ev.StudentRecorded(**{
                "student_id": sid, "record_version": 1, "given_name": given,
                "family_name": family}))])
            service.record_placements(session, [(school, ev.StudentPlacementRecorded(**{
                "student_id": sid, "record_version": 1, "form_group": form,
                "year_group": 7}))])
        for class_id, name, subject, teacher in ((i.maths, "7 Maths", "Maths", i.byron),
                                                 (i.art, "7 Art", "Art", i.turing)):
            service.record_classes(session, [(school, ev.ClassRecorded(**{
                "class_id": class_id, "record_version": 1, "name": name, "subject": subject,
                "teacher_ids": [teacher], "student_ids": [i.zoe, i.sam]}))])
        for sid in (i.zoe, i.sam):
            for class_id, kind, value, more in (
                    (i.maths, "mark", "67", {"out_of": 80, "topic": "Fractions"}),
                    (i.maths, "grade", "B", {}), (i.art, "target", "A*", {})):
                service.record_attainments(session, [(school, ev.AttainmentRecorded(**{
                    "attainment_id": str(uuid.uuid4()), "record_version": 1,
                    "student_id": sid, "class_id": class_id, "period": PERIOD,
                    "kind": kind, "value": value, **more}))])
            for class_id, kind in ((i.maths, "effort"), (None, "attendance")):
                service.record_characteristics(session, [(school, ev.CharacteristicRecorded(
                    characteristic_id=str(uuid.uuid4()), record_version=1,
                    student_id=sid, class_id=class_id, period=PERIOD,
                    kind=kind, value="Good"))])
        # Zoë's parent is on the school's records twice (two guardian records, one
        # account); Sam's once; one more parent of Zoë has not verified.
        for account, guardian, sid, verified in (
                (i.zoe_parent, i.zoe_guardian, i.zoe, True),
                (i.zoe_parent, i.zoe_guardian_2, i.zoe, True),
                (i.sam_parent, i.sam_guardian, i.sam, True),
                (i.pending_parent, i.pending_guardian, i.zoe, False)):
            service.link_changed(session, school, ev.ParentVerified(**{
                "link_id": guardian, "account_id": account, "guardian_id": guardian,
                "student_id": sid, "record_version": 1}), verified)
        for account, sid in ((i.zoe_login, i.zoe), (i.sam_login, i.sam)):
            service.student_account(session, ev.AccountActivated(
                role="student", account_id=account, student_ids=[sid]), school)
    w.tokens = {
        "zoe_parent": w.signer.issue(i.zoe_parent, "parent", [school]),
        "sam_parent": w.signer.issue(i.sam_parent, "parent", [school]),
        "pending_parent": w.signer.issue(i.pending_parent, "parent", [school]),
        "zoe_login": w.signer.issue(i.zoe_login, "student", [school]),
        "sam_login": w.signer.issue(i.sam_login, "student", [school]),
        "admin": w.signer.issue(str(uuid.uuid4()), "school_admin", [school],
                                **second_factor.passed_claims()),
        "other_admin": w.signer.issue(str(uuid.uuid4()), "school_admin", [elsewhere],
                                      **second_factor.passed_claims()),
    }
    yield w
    rt.engine.dispose()
    rt.context.use_cases.reader.dispose()


def publish(w, visible_from=None) -> str:
    """Publishes the period; Zoë's report id."""
    with w.rt.context.sessions() as session, session.begin():
        assert w.service.publish(session, w.school, PERIOD, "Autumn report",
                                 visible_from) == 2
        return session.execute(sa.select(reports.c.id).where(
            reports.c.student_id == w.id.zoe).order_by(reports.c.version.desc())).scalar()


def read(w, report_id: str, caller: str):
    return w.client.get(f"/api/v1/reports/{report_id}",
                        headers={"Authorization": f"Bearer {w.tokens[caller]}"})


def answer_before(w, report_id: str) -> bytes:
    """What the read answered before the body was kept: the stored snapshot dumped by the
    response schema and written by Flask's jsonify."""
    with w.rt.engine.connect() as conn:
        row = conn.execute(sa.select(reports).where(reports.c.id == report_id)).one()
    with w.app.app_context():
        return jsonify(schemas.ReportOut().dump({
            "id": row.id, "period": row.period, "title": row.title,
            "published_at": row.published_at, **domain.render(row.content)})).get_data()


def missing(w) -> tuple[int, dict]:
    response = read(w, str(uuid.uuid4()), "zoe_parent")
    return response.status_code, response.json


def set_restricted(w, subject_type: str, subject_id: str, restricted: bool) -> None:
    with w.rt.context.sessions() as session, session.begin():
        w.rt.context.participant.restrict(session, Subject(w.school, subject_type,
                                                           subject_id), restricted)


def test_every_reader_gets_the_bytes_the_schema_gave(world):
    w = world
    report_id = publish(w)
    expected = answer_before(w, report_id)
    assert b"\\u00eb" in expected and "Zoë".encode() not in expected  # ASCII, escaped
    for caller in ("zoe_parent", "zoe_login", "admin"):
        response = read(w, report_id, caller)
        assert (response.status_code, response.mimetype) == (200, "application/json")
        assert response.get_data() == expected, caller
    # A report published before bodies were kept is rendered when read, the same.
    with w.rt.engine.begin() as conn:
        conn.execute(reports.update().values(body=None))
    assert read(w, report_id, "zoe_parent").get_data() == expected


def test_everyone_else_gets_the_404_of_a_missing_report(world):
    w = world
    report_id = publish(w)
    nothing = missing(w)
    assert nothing[0] == 404 and nothing[1]["error"]["code"] == "not_found"
    for caller in ("sam_parent", "pending_parent", "sam_login", "other_admin"):
        response = read(w, report_id, caller)
        assert (response.status_code, response.json) == nothing, caller
    # A link revoked (or locked) stops the read at once.
    with w.rt.context.sessions() as session, session.begin():
        for guardian in (w.id.zoe_guardian, w.id.zoe_guardian_2):
            w.service.link_changed(session, w.school, ev.LinkRevoked(**{
                "link_id": guardian, "account_id": w.id.zoe_parent, "guardian_id": guardian,
                "student_id": w.id.zoe, "record_version": 2}), False)
    response = read(w, report_id, "zoe_parent")
    assert (response.status_code, response.json) == nothing
    assert read(w, report_id, "zoe_login").status_code == 200


def test_an_embargoed_report_is_missing_for_families_until_its_time(world):
    w = world
    now = dt.datetime.now(dt.timezone.utc)
    report_id = publish(w, visible_from=now + dt.timedelta(days=1))
    nothing = missing(w)
    for caller in ("zoe_parent", "zoe_login"):
        response = read(w, report_id, caller)
        assert (response.status_code, response.json) == nothing, caller
    assert read(w, report_id, "admin").status_code == 200  # the school sees it
    w.service.clock = lambda: now + dt.timedelta(days=1, seconds=1)
    assert read(w, report_id, "zoe_parent").get_data() == answer_before(w, report_id)


def test_a_restricted_student_or_every_link_of_a_parent_answers_423(world):
    w = world
    report_id = publish(w)
    set_restricted(w, "student", w.id.zoe, True)
    for caller in ("zoe_parent", "zoe_login", "admin"):
        response = read(w, report_id, caller)
        assert response.status_code == 423, caller
        assert response.json["error"]["code"] == "processing_restricted"
    assert read(w, report_id, "sam_parent").status_code == 404  # not theirs: still 404
    set_restricted(w, "student", w.id.zoe, False)
    assert read(w, report_id, "zoe_parent").status_code == 200

    # One of the parent's two links restricted: the other still lets them read.
    set_restricted(w, "guardian", w.id.zoe_guardian, True)
    assert read(w, report_id, "zoe_parent").status_code == 200
    set_restricted(w, "guardian", w.id.zoe_guardian_2, True)
    assert read(w, report_id, "zoe_parent").status_code == 423
    assert read(w, report_id, "zoe_login").status_code == 200  # the student's own login
    assert read(w, report_id, "admin").status_code == 200
    assert read(w, report_id, "pending_parent").status_code == 404


def test_erasures_reach_the_kept_answer(world):
    w = world
    report_id = publish(w)
    with w.rt.context.sessions() as session, session.begin():
        w.rt.context.participant.erase(session, Subject(w.school, "staff", w.id.byron))
    body = read(w, report_id, "zoe_parent").get_data()
    assert b"Byron" not in body and b"Turing" in body
    assert body == answer_before(w, report_id)
    with w.rt.engine.connect() as conn:
        kept = conn.execute(sa.select(reports.c.body)).scalars().all()
    assert kept and not any("Byron" in text for text in kept)

    with w.rt.context.sessions() as session, session.begin():
        w.rt.context.participant.erase(session, Subject(w.school, "student", w.id.zoe))
    for caller in ("zoe_parent", "zoe_login", "admin"):
        response = read(w, report_id, caller)
        assert (response.status_code, response.json) == missing(w), caller


@pytest.mark.parametrize("world", ["postgresql"], indirect=True)  # SQLite has no server
def test_a_read_on_a_connection_the_server_dropped_is_made_again(world):
    w = world
    report_id = publish(w)
    expected = read(w, report_id, "zoe_parent").get_data()
    with w.rt.engine.connect() as conn:  # as a database restart would
        killed = conn.execute(sa.text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()")).scalar()
    assert killed >= 1
    assert read(w, report_id, "zoe_parent").get_data() == expected


@pytest.mark.parametrize("world", ["postgresql"], indirect=True)
def test_reads_keep_one_connection_a_thread(world):
    """A read checks no connection out of the pool and back in: the thread keeps one."""
    w = world
    report_id = publish(w)
    checkouts = []
    sa.event.listen(w.rt.context.use_cases.reader.engine, "checkout",
                    lambda *_: checkouts.append(1))
    for _ in range(5):
        assert read(w, report_id, "zoe_parent").status_code == 200
    assert len(checkouts) <= 1


def test_the_read_names_the_report_once():
    """Every subquery of a report read is about the one report (correlated), never a join
    with the whole reports table."""
    for role, statement in READ_REPORT.items():
        sql = str(statement.compile(dialect=postgresql.dialect()))
        assert len(re.findall(r"(?:FROM|,) reports\b(?!\.)", sql)) == 1, (role, sql)

"""A school's publication reaches notifications as one ReportPublished per student, in
batches (issue 27, the publication evening): a batch queues all its mails at once, with
a few statements whatever its size, and still holds back the restricted, the objecting
and the opted-out (SQLite, the in-memory broker, the service's own consumer routes)."""
import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from services.notifications.app import SPEC
from shared.config import Settings
from shared.contracts import typed as ev
from shared.messaging.consumer import APPLIED, DeliveryProcessor
from shared.messaging.envelope import new_envelope
from shared.service import ServiceRuntime

SCHOOL = str(uuid.uuid4())
PARENTS = 40


@pytest.fixture
def rt(tmp_path):
    rt = ServiceRuntime(SPEC, Settings.from_env({"PP_DATA_DIR": str(tmp_path)}))
    rt.start()
    yield rt
    rt.engine.dispose()


def parents_of_students(rt, count: int) -> list[tuple[str, str, str]]:
    """`count` students, each with one parent verified for them: (student, guardian,
    account) each."""
    service = rt.context.use_cases.notifications
    made = [(str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(count)]
    with rt.context.sessions() as session, session.begin():
        service.record_school(session, ev.SchoolActivated(school_id=SCHOOL,
                                                          name="Evening School"))
        service.record_guardians(session, [(SCHOOL, ev.GuardianRecorded(
            guardian_id=g, given_name="Pat", family_name=f"Parent{n}",
            email=f"parent{n}@example.org", record_version=1))
            for n, (_, g, _) in enumerate(made)])
        for student, guardian, account in made:
            service.attach_account(session, ev.AccountActivated(
                account_id=account, role="parent", guardian_ids=[guardian]), SCHOOL)
            service.link_changed(session, SCHOOL, ev.ParentVerified(
                link_id=str(uuid.uuid4()), account_id=account, guardian_id=guardian,
                student_id=student, record_version=1), True)
    return made


def published(student: str) -> str:
    return new_envelope("ReportPublished", {
        "report_id": str(uuid.uuid4()), "student_id": student, "period": "Autumn",
        "title": "Autumn report", "published_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "student_name": "Sam Sample"}, producer="reports", school_id=SCHOOL).to_json()


def notifications_consumer(rt) -> DeliveryProcessor:
    """The service's consumer of every channel's events, run by the test itself."""
    routes = {t: r for by_type in rt.handlers_by_channel().values() for t, r in by_type.items()}
    return DeliveryProcessor("notifications", "notifications.test", rt.context.sessions,
                             rt.spec.tables, routes)


def restrictions(student, parent, now) -> list[dict]:
    """Rows restricting a made (student, guardian, account)'s student and another's
    guardian at SCHOOL."""
    return [{"subject_type": "student", "subject_id": student[0], "school_id": SCHOOL,
             "restricted_at": now},
            {"subject_type": "guardian", "subject_id": parent[1], "school_id": SCHOOL,
             "restricted_at": now}]


def object_and_opt_out(rt, session, objecting, opted_out, now) -> None:
    """One made parent objects to report emails at SCHOOL; another turns them off."""
    session.execute(rt.spec.tables.objections.insert().values(
        subject_type="guardian", subject_id=objecting[1], processing="report_emails",
        school_id=SCHOOL, recorded_at=now))
    rt.context.use_cases.notifications.set_report_emails(session, opted_out[2], False)


def test_a_publications_batch_queues_every_mail_with_a_few_statements(rt):
    made = parents_of_students(rt, PARENTS)
    tables = rt.spec.tables
    now = dt.datetime.now(dt.timezone.utc)
    restricted_student, restricted_parent, objecting, opted_out = made[:4]
    with rt.context.sessions() as session, session.begin():
        session.execute(tables.restrictions.insert(),
                        restrictions(restricted_student, restricted_parent, now))
        object_and_opt_out(rt, session, objecting, opted_out, now)
    consumer = notifications_consumer(rt)
    statements: list[str] = []

    def count(_conn, _cursor, statement, _params, _context, _executemany):
        statements.append(statement)
    sa.event.listen(rt.engine, "before_cursor_execute", count)
    try:
        outcomes = consumer.process_batch([published(s) for s, _, _ in made])
    finally:
        sa.event.remove(rt.engine, "before_cursor_execute", count)
    assert outcomes == [APPLIED] * PARENTS
    with rt.engine.connect() as conn:
        queued = dict(conn.execute(sa.select(
            sa.literal_column("recipient"), sa.literal_column("coalesce(last_error, status)"))
            .select_from(sa.table("deliveries")).where(sa.literal_column("kind") == "report")
        ).all())
    assert len(queued) == PARENTS  # one mail each, queued by the batch at once
    assert {queued[f"account:{a}"] for _, _, a in made[4:]} == {"pending"}
    assert [queued[f"account:{a}"] for _, _, a in made[:4]] == [
        "restricted", "restricted", "opted out of report emails",
        "opted out of report emails"]
    # The inbox, the erased, the links, the school, four checks, the done, the insert,
    # the attempts: not a round per event (40 events one by one took over 300).
    assert len(statements) <= 16, statements


def test_mail_queued_before_a_hold_does_not_go_when_the_sender_comes(rt):
    """The sender asks again what queueing asked (services/notifications/sending.py,
    holds_among): mail queued before an erasure, a restriction, an objection or an
    opt-out of its student or parent is skipped, saying why; the rest goes; the holds of
    another school stop nothing here."""
    made = parents_of_students(rt, 7)
    service, tables = rt.context.use_cases.notifications, rt.spec.tables
    consumer = notifications_consumer(rt)
    assert consumer.process_batch([published(s) for s, _, _ in made]) == [APPLIED] * 7
    erased, restricted_student, restricted_parent, objecting, opted_out, elsewhere, free = made
    now = dt.datetime.now(dt.timezone.utc)
    other_school = str(uuid.uuid4())
    with rt.context.sessions() as session, session.begin():
        session.execute(tables.erasure_tombstones.insert().values(
            subject_type="student", subject_id=erased[0], school_id=SCHOOL, erased_at=now))
        session.execute(tables.restrictions.insert(), [
            *restrictions(restricted_student, restricted_parent, now),
            {"subject_type": "student", "subject_id": elsewhere[0],
             "school_id": other_school, "restricted_at": now}])
        object_and_opt_out(rt, session, objecting, opted_out, now)
    while service.send_due(rt.context.sessions):
        pass
    with rt.engine.connect() as conn:
        outcome = {row.student_id: (row.status, row.last_error) for row in conn.execute(
            sa.text("SELECT student_id, status, last_error FROM deliveries "
                    "WHERE kind = 'report'"))}
    assert outcome == {
        erased[0]: ("skipped", "restricted or erased"),
        restricted_student[0]: ("skipped", "restricted or erased"),
        restricted_parent[0]: ("skipped", "restricted or erased"),
        objecting[0]: ("skipped", "opted out of report emails"),
        opted_out[0]: ("skipped", "opted out of report emails"),
        elsewhere[0]: ("sent", None), free[0]: ("sent", None)}

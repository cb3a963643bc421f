"""A school's data written while its offboarding or an erasure runs, on PostgreSQL: the
writer's check of the tombstones came before the erasure's deletions, so without the
school's data lock its rows were written after them and left (CI, 2026-12-07: a report
mail row of an offboarded school). The erasure now waits for the writer's commit, then
deletes what it wrote; or the writer waits, and finds the subject gone.

The writers: a data event (a worker consumes the data and rights queues at once, in two
transactions), and the web writes and rights-channel mail that check and then write a
school's personal data (a review of the school lock, 2026-12-07): a report's correction,
a requester's mail, a privacy notice to every admin, a staff invitation."""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Callable
from dataclasses import replace

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.identity.app import SPEC as IDENTITY
from services.notifications.app import SPEC as NOTIFICATIONS
from services.reports import corrections
from services.reports.app import SPEC as REPORTS
from shared.auth import Principal
from shared.contracts import typed as ev
from shared.messaging.consumer import Event
from shared.messaging.envelope import new_envelope, parse_envelope
from shared.service import ServiceRuntime
from tests.support import wait_for, waiting_on_a_lock

pytestmark = pytest.mark.integration


@pytest.fixture
def runtime(broker_settings, new_database, tmp_path):
    """Factory: a service's runtime on a database of its own (its handlers called here)."""
    started: list[ServiceRuntime] = []

    def make(spec) -> ServiceRuntime:
        settings = replace(broker_settings, data_dir=tmp_path / spec.name,
                           database_urls={spec.name: new_database(spec.name)})
        rt = ServiceRuntime(spec, settings)
        rt.start()
        started.append(rt)
        return rt
    yield make
    for rt in started:
        rt.engine.dispose()


def event(event_type: str, data: dict, producer: str, school: str) -> Event:
    """The event as a consumer gets it: its wire form parsed by the contract."""
    envelope, loaded = parse_envelope(new_envelope(
        event_type, data, producer=producer, school_id=school).to_json())
    return Event(envelope, ev.BY_TYPE[event_type].load(loaded))


def apply(rt: ServiceRuntime, session: Session, *events: Event) -> None:
    """Each event through the service's own route for it (whichever queue it comes by)."""
    routes = {t: r for chan in rt.handlers_by_channel().values() for t, r in chan.items()}
    for e in events:
        routes[e.envelope.type].handler(session, [e])


def applied(rt: ServiceRuntime, *events: Event) -> None:
    with rt.context.sessions() as session, session.begin():
        apply(rt, session, *events)


def guardian_recorded(school: str, guardian: str | None = None, version: int = 1,
                      email: str = "morgan.vale@example.org") -> Event:
    return event("GuardianRecorded", {
        "record_version": version, "guardian_id": guardian or str(uuid.uuid4()),
        "given_name": "Morgan", "family_name": "Vale", "email": email}, "ingest", school)


def invitation(school: str, account: str, role: str, **ids) -> Event:
    return event("InvitationIssued", {
        "invitation_id": str(uuid.uuid4()), "account_id": account, "role": role,
        "name": "Morgan Vale", "email": "morgan.vale@example.org", "token": "t" * 43,
        "expires_at": "2030-01-01T00:00:00+00:00", **ids}, "identity", school)


def offboarding(school: str, _subject: str = "") -> Event:
    return event("SchoolOffboarded", {"school_id": school}, "identity", school)


def erasure(school: str, subject: str, subject_type: str = "guardian") -> Event:
    return event("ErasureRequested", {
        "subject": {"school_id": school, "type": subject_type, "id": subject},
        "subject_request_id": str(uuid.uuid4())}, "dsar", school)


def race(rt: ServiceRuntime, write: Callable[[Session], object],
         erase: Callable[[Session], object]) -> bool:
    """`write` runs and holds its transaction open (its checks made, its rows written);
    `erase` starts in a transaction of its own meanwhile; then `write` commits. Without
    the school's lock the erasure finishes first, deleting nothing of the write's. Whether
    the erasure was seen waiting for the write."""
    written, go, failed = threading.Event(), threading.Event(), []

    def in_transaction(work: Callable[[Session], object], then: Callable[[], None]):
        def run() -> None:
            try:
                with rt.context.sessions() as session, session.begin():
                    work(session)
                    then()
            except BaseException as exc:  # reported below, on the test's thread
                failed.append(exc)
                written.set()
        return threading.Thread(target=run)

    writing = in_transaction(write, lambda: (written.set(), go.wait(30)))
    writing.start()
    assert written.wait(30) and not failed, failed
    erasing = in_transaction(erase, lambda: None)
    erasing.start()
    # The erasure waits for the write's transaction (it would have finished first).
    wait_for(lambda: waiting_on_a_lock(rt.engine) or not erasing.is_alive(),
             message="the erasure waiting or done")
    waited = erasing.is_alive()
    go.set()
    writing.join(timeout=30)
    erasing.join(timeout=30)
    assert not writing.is_alive() and not erasing.is_alive()
    assert not failed, failed
    return waited


def count(rt: ServiceRuntime, sql: str, **params) -> int:
    with rt.engine.connect() as conn:
        return int(conn.execute(sa.text(sql), params).scalar() or 0)


@pytest.mark.parametrize("rights", [offboarding, erasure], ids=["offboarding", "erasure"])
def test_a_data_event_under_way_is_waited_for_and_its_rows_erased(runtime, rights):
    rt = runtime(NOTIFICATIONS)
    school = str(uuid.uuid4())
    recorded = guardian_recorded(school)
    guardian = recorded.data.guardian_id
    race(rt, lambda s: apply(rt, s, recorded), lambda s: apply(rt, s, rights(school, guardian)))
    # The erasure came after the row, and took it.
    assert count(rt, "SELECT count(*) FROM guardians WHERE guardian_id = :g", g=guardian) == 0


def test_a_reports_correction_under_way_is_erased_with_its_student(runtime):
    from bench.reports import seed  # a published school, written straight in
    rt = runtime(REPORTS)
    school = str(uuid.uuid4())
    [(_, report_id)] = seed(rt, school, 1)
    with rt.engine.connect() as conn:
        student = conn.execute(sa.text("SELECT student_id FROM reports WHERE id = :r"),
                               {"r": report_id}).scalar()
    admin = Principal(str(uuid.uuid4()), "school_admin", (school,))
    race(rt, lambda s: corrections.correct(rt.context.use_cases.reports, s, admin,
                                           report_id, notify=False),
         lambda s: apply(rt, s, erasure(school, student, "student")))
    # The new snapshot (the student's name and results) went with the student.
    assert count(rt, "SELECT count(*) FROM reports WHERE student_id = :s", s=student) == 0


def a_requester(rt: ServiceRuntime, school: str, account: str | None = None
                ) -> tuple[str, Event]:
    """A parent with a login at the school (their guardian id), and the release of a copy
    of their own data they asked for."""
    account, recorded = account or str(uuid.uuid4()), guardian_recorded(school)
    guardian = recorded.data.guardian_id
    applied(rt, recorded, event("AccountActivated", {
        "account_id": account, "role": "parent", "guardian_ids": [guardian]}, "identity",
        school))
    return guardian, event("ExportReleased", {
        "request_id": str(uuid.uuid4()), "kind": "access", "filed_by": account,
        "filed_as": "parent", "subject": {"school_id": school, "type": "guardian",
                                          "id": guardian},
        "expires_at": "2030-01-01T00:00:00+00:00"}, "dsar", school)


@pytest.mark.parametrize("rights", [offboarding, erasure], ids=["offboarding", "erasure"])
def test_a_requesters_mail_under_way_is_erased_with_them(runtime, rights):
    rt = runtime(NOTIFICATIONS)
    school = str(uuid.uuid4())
    guardian, released = a_requester(rt, school)
    mails = sa.text("SELECT count(*) FROM deliveries WHERE kind = 'export_released'")

    def release(session: Session) -> None:
        apply(rt, session, released)
        assert session.execute(mails).scalar() == 1  # the requester's mail, written

    race(rt, release, lambda s: apply(rt, s, rights(school, guardian)))
    assert count(rt, str(mails)) == 0


def test_a_parents_own_erasure_mails_the_address_a_change_under_way_leaves(runtime):
    """A parent's own erasure holds word for them that it is done, written to their address
    as the erasure finds it. A data event changing that address is under way: the erasure
    reads the address only once it holds the school's lock (after the change commits), not
    before waiting for it (the old address, no longer theirs)."""
    rt = runtime(NOTIFICATIONS)
    school = str(uuid.uuid4())
    guardian, _ = a_requester(rt, school)
    moved = guardian_recorded(school, guardian, version=2, email="morgan.new@example.org")
    own_erasure = event("ErasureRequested", {
        "subject": {"school_id": school, "type": "guardian", "id": guardian},
        "subject_request_id": str(uuid.uuid4()), "by_subject": True}, "dsar", school)
    assert race(rt, lambda s: apply(rt, s, moved), lambda s: apply(rt, s, own_erasure))
    with rt.engine.connect() as conn:
        held = conn.execute(sa.text("SELECT to_address FROM deliveries WHERE status = 'held'"
                                    )).scalars().all()
    assert held == ["morgan.new@example.org"]


def test_no_requesters_mail_is_written_for_a_school_offboarded_since(runtime):
    rt = runtime(NOTIFICATIONS)
    school, elsewhere, account = str(uuid.uuid4()), str(uuid.uuid4()), str(uuid.uuid4())
    _, released = a_requester(rt, school, account)
    a_requester(rt, elsewhere, account)  # their address there was used before
    applied(rt, offboarding(school))
    applied(rt, released)
    assert count(rt, "SELECT count(*) FROM deliveries WHERE kind = 'export_released'") == 0


def test_a_privacy_notice_under_way_is_erased_with_the_admin(runtime):
    rt = runtime(NOTIFICATIONS)
    school, admin = str(uuid.uuid4()), str(uuid.uuid4())
    applied(rt, invitation(school, admin, "school_admin"))
    notices = rt.context.use_cases.notifications

    def announce(session: Session) -> None:
        assert notices.privacy_notice(session, "2026-12", dt.date(2027, 1, 1)) == 1

    race(rt, announce, lambda s: apply(rt, s, erasure(school, admin, "staff")))
    assert count(rt, "SELECT count(*) FROM deliveries WHERE kind = 'privacy_notice'"
                     " AND to_address IS NOT NULL") == 0


def test_a_staff_invitation_under_way_is_erased_with_the_school(runtime):
    rt = runtime(IDENTITY)
    identity = rt.context.use_cases.identity
    with rt.context.sessions() as session, session.begin():
        school = identity.create_school(session, "Lock School", None)
    race(rt, lambda s: identity.invite_staff(s, school, "Ada Byron", "ada@example.org",
                                             "school_admin"),
         lambda s: apply(rt, s, offboarding(school)))
    assert count(rt, "SELECT count(*) FROM memberships WHERE school_id = :s", s=school) == 0
    assert count(rt, "SELECT count(*) FROM accounts WHERE email = 'ada@example.org'") == 0


def test_an_upload_under_way_is_erased_with_the_school(runtime):
    from services.ingest.app import SPEC as INGEST
    from tests.oneroster_sample import SampleSchool
    rt = runtime(INGEST)
    school = str(uuid.uuid4())
    admin = Principal(str(uuid.uuid4()), "school_admin", (school,))
    upload = SampleSchool(students=20, classes=3).bundle()
    race(rt, lambda s: rt.context.use_cases.jobs.submit(s, admin, [school], False, upload),
         lambda s: apply(rt, s, offboarding(school)))
    # The zip (everyone in it) went with the school.
    assert count(rt, "SELECT count(*) FROM roster_jobs WHERE bundle IS NOT NULL") == 0


def test_a_subject_request_is_filed_before_the_schools_offboarding_or_refused(runtime):
    """An offboarding blanks the school's requests' free text when it completes: a request
    filed meanwhile kept its note (an attack on the running stack, 2026-12-07). Now one
    filed while the offboarding is recorded is waited for (and so blanked at completion),
    and one filed after it is refused."""
    from services.dsar.app import SPEC as DSAR
    from shared.errors import SchoolLeft
    rt = runtime(DSAR)
    dsar = rt.context.use_cases.dsar
    school, admin = str(uuid.uuid4()), str(uuid.uuid4())

    def file(session: Session) -> None:
        dsar.file(session, school, "access", "student", None, {"note": "Private words"},
                  admin, "school_admin", source_id="S1")

    assert race(rt, file, lambda s: apply(rt, s, offboarding(school)))
    with pytest.raises(SchoolLeft), rt.context.sessions() as session, session.begin():
        file(session)
    assert count(rt, "SELECT count(*) FROM requests WHERE kind = 'access'") == 1

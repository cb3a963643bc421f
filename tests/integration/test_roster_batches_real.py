"""A school's roster applied a batch at a time (issue 27), on real PostgreSQL: each
service's roster handlers are set-based (the statements a batch takes do not grow with its
events), a batch applies once (redelivered, every event is a duplicate and nothing
changes), and an event a batch cannot take is dead-lettered alone while the others apply.

The events go through each service's own DeliveryProcessors (ServiceRuntime's handlers),
as its consumers apply a batch, without a broker in between."""
from __future__ import annotations

import json
import uuid

import pytest
import sqlalchemy as sa

from shared.messaging.consumer import APPLIED, DEAD_LETTERED, DUPLICATE
from shared.messaging.envelope import Envelope, new_envelope
from tests.integration.test_event_ordering_property_real import Consumer, build_consumer

pytestmark = pytest.mark.integration


def roster(school: str, students: int) -> list[Envelope]:
    """A school's roster as ingest sends it: each student's record, placement and date of
    birth; a contact for each (every third one sharing an address with the one before:
    one login, two records), with their list of children; staff and classes."""
    out: list[tuple[str, dict]] = []
    staff = [str(uuid.uuid4()) for _ in range(3)]
    ids = [str(uuid.uuid4()) for _ in range(students)]
    for n, sid in enumerate(ids):
        base = {"student_id": sid, "record_version": 1}
        out += [("StudentRecorded", {**base, "given_name": f"Given{n}", "family_name": "Pupil"}),
                ("StudentPlacementRecorded", {**base, "form_group": "7A", "year_group": 7}),
                ("StudentBirthDateRecorded", {**base, "date_of_birth": "2012-03-04"})]
        gid = {"guardian_id": str(uuid.uuid4()), "record_version": 1}
        address = f"parent{n - 1 if n % 3 == 2 else n}-{school[:8]}@example.org"
        out += [("GuardianRecorded", {**gid, "given_name": f"Parent{n}",
                                      "family_name": "Pupil", "email": address}),
                ("GuardianStudentsRecorded", {**gid, "students": [{
                    "student_id": sid, "relationship": "mother", "receives_reports": True}]})]
    out += [("StaffRecorded", {"staff_id": t, "record_version": 1, "title": "Ms",
                               "given_name": "Teacher", "family_name": str(n)})
            for n, t in enumerate(staff)]
    out += [("ClassRecorded", {"class_id": str(uuid.uuid4()), "record_version": 1,
                               "name": f"Maths {n}", "subject": "Maths",
                               "teacher_ids": [staff[n % 3]], "student_ids": ids[n::2]})
            for n in range(2)]
    return [new_envelope(t, data, producer="ingest", school_id=school) for t, data in out]


@pytest.fixture(params=["identity", "linking", "notifications", "reports"])
def service(request, new_database):
    built = build_consumer(request.param, new_database)
    yield built
    built.engine.dispose()


def active_school(consumer: Consumer) -> str:
    """A school the service takes records of (identity takes an active one's only)."""
    school = str(uuid.uuid4())
    if consumer.name == "identity":
        identity = consumer.runtime.context.use_cases.identity
        from services.identity.models import schools
        with consumer.runtime.context.sessions() as session, session.begin():
            session.execute(schools.insert().values(
                id=school, name="Batch School", status="active", student_accounts=False,
                created_at=identity.clock()))
    return school


def apply(consumer: Consumer, envelopes: list[Envelope]) -> tuple[list[str], int]:
    """Each processor's events as one batch: the outcomes, and the statements sent."""
    statements = []

    def count(*_):
        statements.append(1)
    sa.event.listen(consumer.engine, "before_cursor_execute", count)
    try:
        mine = [e for e in envelopes if e.type in consumer.routes]
        by_processor: dict[int, tuple] = {}
        for envelope in mine:
            processor = consumer.routes[envelope.type]
            by_processor.setdefault(id(processor), (processor, []))[1].append(envelope)
        outcomes = [outcome for processor, batch in by_processor.values()
                    for outcome in processor.process_batch([e.to_json() for e in batch])]
    finally:
        sa.event.remove(consumer.engine, "before_cursor_execute", count)
    return outcomes, len(statements)


def state(consumer: Consumer) -> dict[str, int]:
    """Rows of each of the service's own tables (plumbing but the outbox left out)."""
    with consumer.engine.connect() as conn:
        return {table: conn.execute(sa.text(f'SELECT count(*) FROM "{table}"')).scalar_one()
                for table in sa.inspect(conn).get_table_names()
                if table not in ("inbox", "delivery_attempts", "alembic_version")}


def test_a_rosters_statements_do_not_grow_with_its_events(service):
    """Ten students or a hundred: the same statements (about ten per event before)."""
    _, small = apply(service, roster(active_school(service), 10))
    _, large = apply(service, roster(active_school(service), 100))
    assert large == small, f"{service.name}: {small} statements for 10, {large} for 100"
    assert not service.dead_letters()


@pytest.mark.parametrize("service", ["identity"], indirect=True)
def test_identitys_roster_sends_no_statement_a_row(service):
    """Nor an executemany, which sends a statement a row (PostgreSQL parses, plans and runs
    each): ten students or a hundred, at a school with student accounts or without, the
    same statements sent; StudentRecorded's names were an UPDATE a student."""
    sent: list[int] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        sent.append(len(parameters) if executemany else 1)
    sa.event.listen(service.engine, "before_cursor_execute", count)
    try:
        for accounts in (False, True):
            for students in (10, 100):
                school = active_school(service)
                if accounts:
                    with service.engine.begin() as conn:
                        conn.execute(sa.text("UPDATE schools SET student_accounts = true "
                                             "WHERE id = :s"), {"s": school})
                batch = roster(school, students)
                assert set(apply(service, batch)[0]) == {APPLIED}
                again = [new_envelope(e.type, {**e.data, "record_version": 2,
                                               "given_name": "Renamed"}, producer="ingest",
                                      school_id=school)
                         for e in batch if e.type == "StudentRecorded"]
                sent.clear()
                assert set(apply(service, again)[0]) == {APPLIED}
                renamed = sum(sent)
                if students == 10:
                    small = renamed
                else:
                    assert renamed == small, f"{small} statements for 10, {renamed} for 100"
    finally:
        sa.event.remove(service.engine, "before_cursor_execute", count)
    with service.engine.connect() as conn:
        assert conn.execute(sa.text("SELECT count(*) FROM students WHERE name LIKE "
                                    "'Renamed %'")).scalar_one() == 110


def test_a_rosters_sets_of_ids_are_one_parameter_each(service):
    """A batch's ids in a condition are one array parameter (shared.db.among), not one
    each: an IN list of 500 cast parameters took PostgreSQL ten times as long to plan and
    run, every statement of every batch. Its inbox rows go in as two arrays, not three
    parameters a row. (Rows inserted many at a time, a statement each, aside.)"""
    sent: list[tuple[int, str]] = []  # parameters (all rows'), statement; each alone

    def count(conn, cursor, statement, parameters, context, executemany):
        rows = parameters if isinstance(parameters, (list, tuple)) else [parameters or {}]
        if statement.startswith("INSERT INTO inbox") or not executemany:
            sent.append((sum(len(row) for row in rows), statement[:120]))
    sa.event.listen(service.engine, "before_cursor_execute", count)
    try:
        outcomes, _ = apply(service, roster(active_school(service), 100))
    finally:
        sa.event.remove(service.engine, "before_cursor_execute", count)
    assert set(outcomes) == {APPLIED}
    inbox = [n for n, statement in sent if statement.startswith("INSERT INTO inbox")]
    assert inbox and max(inbox) == 3, f"{service.name}: {inbox}"
    conditions = [(n, statement) for n, statement in sent if not statement.startswith(
        "INSERT")]
    assert max(conditions)[0] <= 12, f"{service.name}: {max(conditions)}"


@pytest.mark.parametrize("service", ["linking", "reports"], indirect=True)
def test_a_rosters_rows_go_in_one_statement_a_table_not_one_each(service):
    """Linking's contacts' children and pending links, reports' classes' teachers and
    pupils: each table's rows of a batch in one INSERT (shared.db.insert_many), not an
    executemany of a statement each to send, run and answer (issue 27)."""
    many: list[str] = []

    def note(conn, cursor, statement, parameters, context, executemany):
        if executemany:
            many.append(statement[:60])
    sa.event.listen(service.engine, "before_cursor_execute", note)
    try:
        outcomes, _ = apply(service, roster(active_school(service), 30))
    finally:
        sa.event.remove(service.engine, "before_cursor_execute", note)
    assert set(outcomes) == {APPLIED}
    assert many == [], f"{service.name}: {many}"


@pytest.mark.parametrize("service", ["identity", "linking", "notifications"], indirect=True)
def test_an_offboardings_set_of_the_schools_people_is_one_parameter(service):
    """Offboarding a school forgets its people (identity locks their logins, linking and
    notifications forget their guardians' logins): the whole school's ids in one
    condition, one array parameter (shared.db.among), not one each (200 for 300
    students)."""
    school = active_school(service)
    assert set(apply(service, roster(school, 300))[0]) == {APPLIED}
    sent: list[tuple[int, str]] = []

    def count(conn, cursor, statement, parameters, context, executemany):
        if not executemany:
            sent.append((len(parameters or ()), statement[:120]))
    sa.event.listen(service.engine, "before_cursor_execute", count)
    try:
        outcomes, _ = apply(service, [new_envelope("SchoolOffboarded", {"school_id": school},
                                                   producer="identity", school_id=school)])
    finally:
        sa.event.remove(service.engine, "before_cursor_execute", count)
    assert outcomes == [APPLIED]
    assert max(sent)[0] <= 12, f"{service.name}: {max(sent)}"


def test_a_roster_batch_applies_once_and_a_redelivery_changes_nothing(service):
    events = roster(active_school(service), 30)
    outcomes, _ = apply(service, events)
    assert outcomes and set(outcomes) == {APPLIED}
    after = state(service)
    again, _ = apply(service, events)
    assert set(again) == {DUPLICATE} and state(service) == after


def test_identity_invites_each_login_of_a_roster_once_with_all_its_records(new_database):
    """Two records with one address are one login, one membership each, and one
    invitation whose mail names both records (applied one by one, the first invitation
    would be issued, then replaced by a second)."""
    identity = build_consumer("identity", new_database)
    try:
        school = active_school(identity)
        events = [e for e in roster(school, 30) if e.type == "GuardianRecorded"]
        outcomes, _ = apply(identity, events)
        assert set(outcomes) == {APPLIED}
        with identity.engine.connect() as conn:
            logins = conn.execute(sa.text(
                "SELECT count(DISTINCT account_id) FROM memberships WHERE school_id = :s"),
                {"s": school}).scalar_one()
            members = conn.execute(sa.text(
                "SELECT count(*) FROM memberships WHERE school_id = :s AND status = 'pending'"),
                {"s": school}).scalar_one()
            invited = conn.execute(sa.text(
                "SELECT count(*), count(DISTINCT account_id) FROM invitations "
                "WHERE school_id = :s AND used_at IS NULL"), {"s": school}).one()
            issued = conn.execute(sa.text(
                "SELECT payload FROM outbox WHERE event_type = 'InvitationIssued' "
                "AND school_id = :s"), {"s": school}).scalars().all()
        assert members == 30 and logins == 20  # every third address is shared
        assert tuple(invited) == (20, 20) and len(issued) == 20
        assert sorted(len(json.loads(p)["data"]["guardian_ids"]) for p in issued) \
            == [1] * 10 + [2] * 10
    finally:
        identity.engine.dispose()


def test_an_event_a_roster_batch_cannot_take_is_dead_lettered_alone(new_database):
    """A contact of a school identity does not have, in a batch of a school's contacts:
    the batch rolls back, each event is applied alone, that one is dead-lettered, the
    others applied once."""
    identity = build_consumer("identity", new_database)
    try:
        school = active_school(identity)
        events = [e for e in roster(school, 12) if e.type == "GuardianRecorded"]
        stranger = new_envelope("GuardianRecorded", {
            "guardian_id": str(uuid.uuid4()), "record_version": 1, "given_name": "No",
            "family_name": "School", "email": "nobody@example.org"}, producer="ingest",
            school_id=str(uuid.uuid4()))
        events.insert(5, stranger)
        outcomes, _ = apply(identity, events)
        assert outcomes.count(DEAD_LETTERED) == 1
        assert outcomes.count(APPLIED) == 12
        with identity.engine.connect() as conn:
            assert conn.execute(sa.text("SELECT count(*) FROM memberships WHERE school_id "
                                        "= :s"), {"s": school}).scalar_one() == 12
        assert [t for t, _ in identity.dead_letters()] == ["GuardianRecorded"]
    finally:
        identity.engine.dispose()

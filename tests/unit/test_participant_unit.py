"""The shared rights participant against a test service's declared tables (SQLite)."""
import datetime as dt
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from shared.db import make_engine, make_session_factory
from shared.messaging.consumer import Event
from shared.messaging.envelope import new_envelope
from shared.messaging.outbox import Outbox
from shared.rights import STUDENT, RightsParticipant
from shared.rights.participant import Hold
from tests import fakeservice

SCHOOL = str(uuid.uuid4())
OTHER_SCHOOL = str(uuid.uuid4())
ANN, BEN = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def svc(tmp_path):
    spec = fakeservice.make_spec("linking")
    engine = make_engine(f"sqlite:///{tmp_path / 'p.db'}")
    spec.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    pupils = spec.metadata.tables["pupils"]
    with sessions() as s, s.begin():
        s.execute(pupils.insert(), [
            {"id": ANN, "school_id": SCHOOL, "given_name": "Ann",
             "date_of_birth": dt.date(2015, 3, 2)},
            {"id": BEN, "school_id": SCHOOL, "given_name": "Ben",
             "date_of_birth": dt.date(2014, 1, 9)}])
    from shared.rights.participant import with_plumbing
    participant = RightsParticipant("linking", with_plumbing(spec.declaration), spec.metadata,
                                    spec.tables, Outbox("linking", spec.tables))
    return spec, sessions, participant


def answers(spec, sessions):
    with sessions() as s:
        return [__import__("json").loads(p) for p in s.execute(
            sa.select(spec.tables.outbox.c.payload).order_by(spec.tables.outbox.c.seq)
        ).scalars()]


def rights_event(kind, subject_id, **extra):
    return new_envelope(kind, {"subject": {"school_id": SCHOOL, "type": "student",
                                           "id": subject_id},
                               "subject_request_id": str(uuid.uuid4()), **extra},
                        producer="dsar", school_id=SCHOOL)


def handle(participant, sessions, env):
    from shared.messaging.envelope import parse_envelope
    parsed, loaded = parse_envelope(env.to_json())
    with sessions() as s, s.begin():
        routed = {r.event_type: r for r in participant.routes()}[env.type]
        routed.handler(s, [Event(parsed, routed.data_class.load(loaded))])


def test_access_exports_only_the_subjects_declared_rows(svc):
    spec, sessions, participant = svc
    env = rights_event("AccessRequested", ANN)
    handle(participant, sessions, env)
    (answer,) = answers(spec, sessions)
    assert answer["type"] == "SubjectDataExported"
    data = answer["data"]
    assert data["request_id"] == env.id and data["outcome"] == "done"
    assert data["tables"]["pupils"] == [{"id": ANN, "school_id": SCHOOL,
                                         "given_name": "Ann", "date_of_birth": "2015-03-02"}]
    assert data["counts"]["pupils"] == 1


def test_erasure_removes_the_subject_leaves_others_and_keeps_a_tombstone(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, rights_event("ErasureRequested", ANN))
    with sessions() as s:
        names = s.execute(sa.text("SELECT given_name FROM pupils")).scalars().all()
        assert names == ["Ben"]
        assert participant.is_erased(s, "student", ANN, SCHOOL)
    (answer,) = answers(spec, sessions)
    assert answer["type"] == "ErasureCompleted" and answer["data"]["counts"]["pupils"] == 1
    assert "Ann" not in str(answer)  # counts, never content


def test_restriction_on_and_off(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, rights_event("ProcessingRestricted", ANN))
    with sessions() as s:
        assert participant.is_restricted(s, "student", ANN, SCHOOL)
    handle(participant, sessions, rights_event("RestrictionLifted", ANN))
    with sessions() as s:
        assert not participant.is_restricted(s, "student", ANN, SCHOOL)
    kinds = [(a["type"], a["data"]["restricted"]) for a in answers(spec, sessions)]
    assert kinds == [("RestrictionApplied", True), ("RestrictionApplied", False)]


def test_objection_is_recorded(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, rights_event("ObjectionRecorded", ANN,
                                               processing="report_emails"))
    with sessions() as s:
        assert participant.holds_among(s, SCHOOL, [(Hold.OBJECTED, "student", [ANN])],
                                       "report_emails") == {(Hold.OBJECTED, "student", ANN)}


def test_offboarding_erases_the_whole_school_only(svc):
    spec, sessions, participant = svc
    pupils = spec.metadata.tables["pupils"]
    with sessions() as s, s.begin():
        s.execute(pupils.insert().values(id=str(uuid.uuid4()), school_id=OTHER_SCHOOL,
                                         given_name="Cat", date_of_birth=dt.date(2015, 1, 1)))
    env = new_envelope("SchoolOffboarded", {"school_id": SCHOOL}, producer="identity",
                       school_id=SCHOOL)
    handle(participant, sessions, env)
    with sessions() as s:
        assert s.execute(sa.text("SELECT given_name FROM pupils")).scalars().all() == ["Cat"]
    (answer,) = answers(spec, sessions)
    assert answer["type"] == "OffboardingCompleted" and answer["data"]["counts"]["pupils"] == 2


def test_a_failing_erasure_answers_failed_with_a_reason_and_changes_nothing(svc):
    spec, sessions, participant = svc

    def broken(session, subject):
        session.execute(sa.text("DELETE FROM pupils"))
        raise RuntimeError("disk on fire")
    participant.erase = broken
    handle(participant, sessions, rights_event("ErasureRequested", ANN))
    (answer,) = answers(spec, sessions)
    assert answer["data"]["outcome"] == "failed" and "RuntimeError" in answer["data"]["reason"]
    with sessions() as s:
        assert s.execute(sa.text("SELECT count(*) FROM pupils")).scalar_one() == 2


def other_schools_event(kind, subject_id, **extra):
    """A request of OTHER_SCHOOL naming SCHOOL's subject (dsar refuses to send one: this is
    the participant's own guard, should one ever arrive)."""
    return new_envelope(kind, {"subject": {"school_id": OTHER_SCHOOL, "type": "student",
                                           "id": subject_id},
                               "subject_request_id": str(uuid.uuid4()), **extra},
                        producer="dsar", school_id=OTHER_SCHOOL)


def test_another_schools_erasure_tombstones_nothing_of_this_school(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, other_schools_event("ErasureRequested", ANN))
    with sessions() as s:
        assert s.execute(sa.text("SELECT count(*) FROM pupils")).scalar_one() == 2
        assert participant.is_erased(s, "student", ANN, OTHER_SCHOOL)
        assert not participant.is_erased(s, "student", ANN, SCHOOL)
        assert participant.erased_among(s, "student", {ANN, BEN}, SCHOOL) == set()
    # This school's later event about Ann is applied; the other school's is not.
    events = [Event(SimpleNamespace(school_id=school), SimpleNamespace(student_id=ANN))
              for school in (SCHOOL, OTHER_SCHOOL)]
    with sessions() as s:
        kept = participant.not_erased(s, STUDENT, events)
        assert [e.school_id for e in kept] == [SCHOOL]
        assert participant.not_erased(s, STUDENT, events[1:]) == []


def test_a_schools_own_erasure_tombstones_its_subject_there(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, rights_event("ErasureRequested", ANN))
    handle(participant, sessions, other_schools_event("ErasureRequested", ANN))
    with sessions() as s:  # one tombstone per school, side by side
        assert participant.is_erased(s, "student", ANN, SCHOOL)
        assert participant.is_erased(s, "student", ANN, OTHER_SCHOOL)
    assert [a["data"]["outcome"] for a in answers(spec, sessions)] == ["done", "done"]


def test_another_schools_restriction_and_objection_are_not_this_schools(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, other_schools_event("ProcessingRestricted", ANN))
    handle(participant, sessions, other_schools_event("ObjectionRecorded", ANN,
                                                      processing="report_emails"))
    with sessions() as s:
        assert participant.is_restricted(s, "student", ANN, OTHER_SCHOOL)
        assert not participant.is_restricted(s, "student", ANN, SCHOOL)
        assert participant.holds_among(s, SCHOOL, [(Hold.OBJECTED, "student", [ANN])],
                                       "report_emails") == set()
    # This school's own restriction is its own row, not a clash with the other's.
    handle(participant, sessions, rights_event("ProcessingRestricted", ANN))
    with sessions() as s:
        assert participant.is_restricted(s, "student", ANN, SCHOOL)
    assert all(a["data"]["outcome"] == "done" for a in answers(spec, sessions))


def test_an_offboarded_schools_tombstone_is_only_its_own(svc):
    spec, sessions, participant = svc
    handle(participant, sessions, new_envelope("SchoolOffboarded", {"school_id": SCHOOL},
                                               producer="identity", school_id=SCHOOL))
    with sessions() as s:
        assert participant.is_offboarded(s, SCHOOL)
        assert not participant.is_offboarded(s, OTHER_SCHOOL)
        assert participant.offboarded_among(s, {SCHOOL, OTHER_SCHOOL, None}) == {SCHOOL}


def test_holds_among_answers_every_question_in_one_query_for_the_school_alone(svc):
    """Erased (Ben), restricted and objected to report emails (Ann), the other school's
    rows not counted, an objection to report emails no answer about another processing;
    one statement."""
    spec, sessions, participant = svc
    handle(participant, sessions, rights_event("ErasureRequested", BEN))
    handle(participant, sessions, rights_event("ProcessingRestricted", ANN))
    handle(participant, sessions, rights_event("ObjectionRecorded", ANN,
                                               processing="report_emails"))
    handle(participant, sessions, other_schools_event("ProcessingRestricted", BEN))
    everyone = [ANN, BEN, str(uuid.uuid4())]
    statements = []
    with sessions() as s:
        sa.event.listen(s.get_bind(), "before_cursor_execute",
                        lambda *a: statements.append(a[2]))
        holds = participant.holds_among(s, SCHOOL, [
            (Hold.ERASED, "student", everyone), (Hold.RESTRICTED, "student", everyone),
            (Hold.OBJECTED, "student", everyone)], "report_emails")
        assert participant.holds_among(s, SCHOOL, [(Hold.OBJECTED, "student", everyone)],
                                       "another_processing") == set()
        assert participant.holds_among(s, SCHOOL, [(Hold.ERASED, "student", [])]) == set()
        assert participant.holds_among(s, None, [(Hold.ERASED, "student", everyone)]) == set()
    assert holds == {(Hold.ERASED, "student", BEN), (Hold.RESTRICTED, "student", ANN),
                     (Hold.OBJECTED, "student", ANN)}
    queries = [q for q in statements if q.lstrip().upper().startswith("SELECT")]
    assert len(queries) == 2  # the first question's one, and the other processing's

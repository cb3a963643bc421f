"""The school admin console's reads on SQLite, as embedded mode runs them (issue 15): newest
first with ties broken by id, pages that neither skip nor repeat, one school's rows only,
name search with wildcards taken literally, and a request's deadline facts by the clock.
The same reads on PostgreSQL, through the API with its authorization, are in
tests/integration/test_admin_console_real.py."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.errors import NotFound

UTC = dt.timezone.utc
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
SCHOOL, OTHER = str(uuid.uuid4()), str(uuid.uuid4())


def _session(metadata) -> Session:
    engine = sa.create_engine("sqlite://")
    metadata.create_all(engine)
    return Session(engine)


def _pages(read, limit):
    """Every item, a page of `limit` at a time: read(after, limit) -> (items, next)."""
    items, after = [], None
    for _ in range(50):
        page, after = read(after, limit)
        assert len(page) <= limit
        items += page
        if after is None:
            return items
    raise AssertionError("the pages never ended")


# --- ingest ---------------------------------------------------------------------------------
def test_the_batch_ledger_newest_first_paged_and_one_schools_only():
    from services.ingest import ledger
    from services.ingest.models import batches, metadata
    session = _session(metadata)
    same_moment = NOW - dt.timedelta(hours=1)
    rows = [("b-old", NOW - dt.timedelta(days=1), []),
            ("b-tie-1", same_moment, [{"index": 3, "error": "data.email: Not a valid email."}]),
            ("b-tie-2", same_moment, []),
            ("oneroster:abc", NOW, [])]
    for batch_id, received_at, rejected in rows:
        session.execute(batches.insert().values(
            school_id=SCHOOL, batch_id=batch_id, body_hash="x", received_at=received_at,
            events=5, accepted=5 - len(rejected), rejected=rejected))
    session.execute(batches.insert().values(
        school_id=OTHER, batch_id="b-other", body_hash="x", received_at=NOW, events=1,
        accepted=1, rejected=[]))

    everything, next_cursor = ledger.list_batches(session, SCHOOL, None, 100)
    assert next_cursor is None
    assert [b["batch_id"] for b in everything] == ["oneroster:abc", "b-tie-2", "b-tie-1",
                                                   "b-old"]
    assert [b["source"] for b in everything] == ["oneroster", "push", "push", "push"]
    assert everything[2]["rejected_count"] == 1 and everything[2]["accepted"] == 4
    for limit in (1, 2, 3):
        assert _pages(lambda after, n: ledger.list_batches(session, SCHOOL, after, n),
                      limit) == everything
    assert ledger.list_batches(session, SCHOOL, "b-other", 10) == ([], None)

    detail = ledger.get_batch(session, SCHOOL, "b-tie-1")
    assert detail["rejected"] == [{"index": 3, "error": "data.email: Not a valid email."}]
    with pytest.raises(NotFound):
        ledger.get_batch(session, OTHER, "b-tie-1")  # another school's id


# --- reports --------------------------------------------------------------------------------
def test_the_published_reports_with_their_embargo_and_the_periods():
    from services.reports import school_view
    from services.reports.models import attainment, metadata, reports, students
    session = _session(metadata)
    kids = [str(uuid.uuid4()) for _ in range(3)]
    for i, kid in enumerate(kids):
        session.execute(students.insert().values(student_id=kid, school_id=SCHOOL,
                                                 name=f"Kid {i}", form_group="7A",
                                                 name_version=1, placement_version=1))
        session.execute(attainment.insert().values(
            attainment_id=str(uuid.uuid4()), school_id=SCHOOL, student_id=kid,
            class_id="c", period="2026 Autumn", kind="grade", value="5", record_version=1))
    session.execute(attainment.insert().values(
        attainment_id=str(uuid.uuid4()), school_id=SCHOOL, student_id=kids[0], class_id="c",
        period="2026 Spring", kind="grade", value="4", record_version=1))

    def publish(kid, title, published_at, visible_from, period="2026 Autumn", school=SCHOOL):
        session.execute(reports.insert().values(
            id=str(uuid.uuid4()), school_id=school, student_id=kid, period=period,
            title=title, version=1, published_at=published_at, visible_from=visible_from,
            announced=False, content={}))
    earlier = NOW - dt.timedelta(days=1)
    for kid in kids:
        publish(kid, "Autumn", earlier, earlier)
    publish(kids[0], "Embargoed", NOW, NOW + dt.timedelta(days=2))
    publish(kids[0], "Elsewhere", NOW, NOW, school=OTHER)

    listing, next_cursor = school_view.published(session, SCHOOL, None, None, 50, NOW)
    assert next_cursor is None and len(listing) == 4
    assert listing[0]["title"] == "Embargoed" and listing[0]["visible"] is False
    assert all(r["visible"] for r in listing[1:])
    assert listing[0]["student"] == {"id": kids[0], "name": "Kid 0", "form_group": "7A"}
    for limit in (1, 3):
        assert _pages(lambda after, n: school_view.published(
            session, SCHOOL, None, after, n, NOW), limit) == listing
    assert school_view.published(session, SCHOOL, "2026 Spring", None, 50, NOW) == ([], None)
    with pytest.raises(NotFound):  # a cursor from another school
        school_view.published(session, OTHER, None, listing[0]["id"], 50, NOW)

    # Publishing tells the parents with a confirmed link, each once (issue 24).
    from services.reports.models import parent_access
    a, b, c = (str(uuid.uuid4()) for _ in range(3))
    for account, kid, verified, school in ((a, kids[0], True, SCHOOL),
                                           (c, kids[0], False, SCHOOL),
                                           (a, kids[1], True, SCHOOL),
                                           (b, kids[1], True, SCHOOL),
                                           (c, kids[2], True, OTHER)):
        session.execute(parent_access.insert().values(
            link_id=str(uuid.uuid4()), school_id=school, account_id=account,
            guardian_id=str(uuid.uuid4()), student_id=kid, verified=verified,
            record_version=1))
    assert school_view.periods(session, SCHOOL) == [
        {"period": "2026 Spring", "students": 1, "parents": 1, "reports": 0,
         "last_published_at": None},
        {"period": "2026 Autumn", "students": 3, "parents": 2, "reports": 4,
         "last_published_at": NOW}]
    assert school_view.periods(session, str(uuid.uuid4())) == []

    # A corrected report shows as its replacement; a withdrawn one is not visible (issue 24).
    session.execute(reports.update().where(reports.c.id == listing[1]["id"])
                    .values(replaced_by=listing[0]["id"]))
    session.execute(reports.update().where(reports.c.id == listing[2]["id"])
                    .values(withdrawn_at=NOW))
    after, _ = school_view.published(session, SCHOOL, None, None, 50, NOW)
    assert [r["id"] for r in after] == [listing[0]["id"], listing[2]["id"], listing[3]["id"]]
    assert after[1]["visible"] is False and after[1]["withdrawn_at"] == NOW
    assert after[2]["visible"] is True and after[2]["withdrawn_at"] is None


# --- linking --------------------------------------------------------------------------------
def test_the_schools_students_by_name_with_their_links_counts():
    from services.linking import school_view
    from services.linking.models import links, metadata, students
    session = _session(metadata)
    named = {"Ada Lovelace": str(uuid.uuid4()), "Alan Turing": str(uuid.uuid4()),
             "Grace 100% Hopper": str(uuid.uuid4()), None: str(uuid.uuid4())}
    for name, sid in named.items():
        session.execute(students.insert().values(school_id=SCHOOL, student_id=sid, name=name,
                                                 name_version=1, birth_date_version=0))
    session.execute(students.insert().values(school_id=OTHER, student_id=str(uuid.uuid4()),
                                             name="Ada Other", name_version=1,
                                             birth_date_version=0))
    for sid, status in ((named["Ada Lovelace"], "verified"), (named["Ada Lovelace"], "locked"),
                        (named["Alan Turing"], "pending")):
        session.execute(links.insert().values(
            id=str(uuid.uuid4()), school_id=SCHOOL, guardian_id=str(uuid.uuid4()),
            student_id=sid, status=status, failed_attempts=0, version=1, created_at=NOW,
            changed_at=NOW))

    every, next_cursor = school_view.school_students(session, SCHOOL, None, None, None, 50)
    assert next_cursor is None
    assert [s["name"] for s in every] == [None, "Ada Lovelace", "Alan Turing",
                                          "Grace 100% Hopper"]  # no name sorts first
    ada = every[1]
    assert ada["links"] == {"pending": 0, "verified": 1, "locked": 1, "revoked": 0}
    assert _pages(lambda after, n: school_view.school_students(
        session, SCHOOL, None, None, after, n), 1) == every
    assert [s["name"] for s in school_view.school_students(
        session, SCHOOL, "ADA", None, None, 50)[0]] == ["Ada Lovelace"]
    assert [s["name"] for s in school_view.school_students(
        session, SCHOOL, "0%", None, None, 50)[0]] == ["Grace 100% Hopper"]
    assert school_view.school_students(session, SCHOOL, "_", None, None, 50)[0] == []
    assert [s["name"] for s in school_view.school_students(
        session, SCHOOL, None, "locked", None, 50)[0]] == ["Ada Lovelace"]
    assert [s["name"] for s in school_view.school_students(
        session, SCHOOL, None, None, None, 50, [named["Alan Turing"]])[0]] == ["Alan Turing"]
    # A page of requests names its students in one call (issue 24); another school's
    # student is left out, as one nobody has.
    assert [s["name"] for s in school_view.school_students(
        session, SCHOOL, None, None, None, 50,
        [named["Alan Turing"], named["Ada Lovelace"], str(uuid.uuid4())])[0]] == [
        "Ada Lovelace", "Alan Turing"]
    assert school_view.school_students(session, OTHER, None, None, None, 50,
                                       [named["Alan Turing"]]) == ([], None)


# --- dsar -----------------------------------------------------------------------------------
def test_the_schools_requests_open_or_all_with_their_deadline_facts():
    from services.dsar.models import metadata, requests
    from services.dsar.service import Dsar
    session = _session(metadata)
    dsar = Dsar(outbox=None, clock=lambda: NOW)

    def request(status, received_days_ago, kind="access", school=SCHOOL, **extra):
        received = NOW - dt.timedelta(days=received_days_ago)
        request_id = str(uuid.uuid4())
        session.execute(requests.insert().values(
            id=request_id, school_id=school, kind=kind, subject_type="student",
            subject_id=str(uuid.uuid4()), details={}, status=status, filed_as="parent",
            received_at=received, due_at=received + dt.timedelta(days=30),
            extension_months=0, **extra))
        return request_id
    late = request("in_progress", 40)
    waiting = request("awaiting_school", 2)
    done = request("completed", 10, completed_at=NOW, export_expires_at=NOW + dt.timedelta(
        days=7))
    request("in_progress", 1, kind="offboarding")  # the operator's, never listed
    request("awaiting_school", 1, school=OTHER)

    open_, next_cursor = dsar.for_school(session, [SCHOOL], "open", None, 50)
    assert [r["id"] for r in open_] == [waiting, late] and next_cursor is None
    every, _ = dsar.for_school(session, [SCHOOL], "all", None, 50)
    assert [r["id"] for r in every] == [waiting, done, late]
    assert _pages(lambda after, n: dsar.for_school(session, [SCHOOL], "all", after, n),
                  1) == every
    facts = {r["id"]: r for r in every}
    assert facts[late]["overdue"] is True and facts[late]["days_left"] < 0
    assert facts[waiting]["overdue"] is False and facts[waiting]["days_left"] == 28
    assert facts[done]["overdue"] is False and facts[done]["export_available"] is True
    assert facts[waiting]["filed_as"] == "parent" and facts[waiting]["extension_months"] == 0
    with pytest.raises(NotFound):  # another school's cursor
        dsar.for_school(session, [OTHER], "all", waiting, 50)

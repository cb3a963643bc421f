"""Properties of every consumer that holds a student's data, on real PostgreSQL:

1. Any shuffle and duplication of a student's events converges to the state the ordered
   stream leaves (the service's tables for that student, ids mapped).
2. An erased subject never comes back: with ErasureRequested for the student (or their
   contact) anywhere among the student's events (data events before and after it, in any
   order, duplicated), afterwards no row of the service names the subject, in any text or
   JSON column, plumbing included, except the tombstones that hold ids by design.

Each service gets one database for the whole test; each hypothesis example uses fresh
school, student and record ids, so examples do not interfere. The service's own handlers
(ServiceRuntime.handlers_by_channel()) are applied through its DeliveryProcessors, as its
consumers do, without a broker in between. PP_PROPERTY_EXAMPLES bounds the examples.
"""
from __future__ import annotations

import datetime as dt
import importlib
import itertools
import json
import os
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, replace
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings, strategies as st

from shared.config import Settings
from shared.messaging.consumer import APPLIED, DUPLICATE, DeliveryProcessor
from shared.messaging.envelope import Envelope, new_envelope
from shared.messaging.relay import OutboxRelay
from shared.service import ServiceRuntime
from tests.support import NullPublisher

pytestmark = pytest.mark.integration

EXAMPLES = int(os.environ.get("PP_PROPERTY_EXAMPLES", "25"))
PROPERTY = settings(max_examples=EXAMPLES, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow,
                                           HealthCheck.data_too_large])
SERVICES = ("reports", "linking", "notifications")
# Messaging plumbing: event ids, not the projected state (the erasure scan reads it too).
PLUMBING = {"outbox", "inbox", "delivery_attempts", "dead_letters", "alembic_version"}
# Tombstones hold ids by design: the erasure's own, and the removals' (shared/removals.py:
# the id and version of a record the school removed, declared not personal), which keep
# late events from bringing a record back.
TOMBSTONES = {"erasure_tombstones", "removed_records"}
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
REF = "ref:"  # a symbolic id in a generated stream: "ref:student", "ref:class1", ...
# Rows that mean the same as no row at all, whichever the order left: a link the school's
# records stopped asking for (a removed child) grants nothing, and asked for again it is
# a new pending link either way. An admin's revocation (revoked_by "school") is compared.
# Likewise a link projection saying "not verified" (reports, notifications) grants
# nothing: a removal deletes it, a later LinkRevoked may leave one behind.
MEANS_NO_ROW = {
    ("linking", "links"): lambda row: row["status"] == "revoked"
    and row["revoked_by"] == "data",
    ("reports", "parent_access"): lambda row: not row["verified"],
    ("notifications", "verified_links"): lambda row: not row["verified"],
}
# Not state but a count of what the service told others: a link's version is the number
# of events linking published about it, and a link revoked while it had a login is told
# downstream (LinkRevoked) where one revoked before the login came is not.
NOT_COMPARED = {("linking", "links"): {"version"}}


# --- the services under test --------------------------------------------------------------
@dataclass
class Consumer:
    name: str
    runtime: ServiceRuntime
    routes: dict[str, DeliveryProcessor]
    relay: OutboxRelay

    @property
    def engine(self) -> sa.Engine:
        return self.runtime.engine

    def deliver(self, envelope: Envelope) -> str:
        """Deliver as the broker would; every delivery must apply or be a duplicate."""
        outcome = self.routes[envelope.type].process(envelope.to_json())
        assert outcome in (APPLIED, DUPLICATE), (
            f"{self.name}: {envelope.type} was {outcome}: {self.dead_letters()}")
        return outcome

    def dead_letters(self) -> list:
        dl = self.runtime.spec.tables.dead_letters
        with self.engine.connect() as conn:
            return [tuple(r) for r in conn.execute(sa.select(dl.c.event_type, dl.c.reason))]

    def drain_outbox(self) -> None:
        """The relay sends everything waiting (to a publisher that takes all)."""
        while self.relay.publish_batch():
            pass


def build_consumer(name: str, new_database) -> Consumer:
    spec = importlib.import_module(f"services.{name}.app").SPEC
    config = replace(Settings.from_env({}), database_urls={name: new_database(name)})
    runtime = ServiceRuntime(spec, config)
    runtime.start()  # migrations to head
    routes: dict[str, DeliveryProcessor] = {}
    for channel, handlers in runtime.handlers_by_channel().items():
        # One attempt: a handler failing at all is a failure of the property.
        processor = DeliveryProcessor(name, f"property.{name}.{channel}",
                                      runtime.context.sessions, spec.tables, handlers,
                                      max_attempts=1)
        routes.update({event_type: processor for event_type in handlers})
    retention = (config.outbox_retention_seconds if spec.outbox_retention_seconds is None
                 else spec.outbox_retention_seconds)
    relay = OutboxRelay(runtime.engine, spec.tables, NullPublisher(),
                        retention=dt.timedelta(seconds=retention), name=name)
    return Consumer(name, runtime, routes, relay)


@pytest.fixture(params=SERVICES)
def consumer(request, new_database):
    built = build_consumer(request.param, new_database)
    yield built
    built.engine.dispose()


# --- a student's history, as ingest (and linking, identity) would send it ------------------
@dataclass(frozen=True)
class Event:
    type: str
    producer: str
    data: dict[str, Any]


NAMES = [("Ann", "Smith"), ("Ann", "Smith-Jones"), ("Anne", "Smith"), ("Bo", "Okafor")]
FORMS = ["7A", "7B", "8A", "8C"]
PERIODS = ["2024 Autumn", "2025 Spring"]


def _student_version(draw, version: int) -> list[Event]:
    given, family = draw(st.sampled_from(NAMES))
    year = draw(st.integers(7, 9))
    born = draw(st.dates(dt.date(2010, 9, 1), dt.date(2013, 8, 31)))
    sid = {"student_id": REF + "student", "record_version": version}
    return [Event("StudentRecorded", "ingest",
                  {**sid, "given_name": given, "family_name": family}),
            Event("StudentPlacementRecorded", "ingest",
                  {**sid, "form_group": draw(st.sampled_from(FORMS)), "year_group": year}),
            Event("StudentBirthDateRecorded", "ingest",
                  {**sid, "date_of_birth": born.isoformat()})]


@st.composite
def histories(draw, report_mails: bool = False, gather: bool = True) -> list[Event]:
    """One student's events in the order they were produced.

    "full": the student's record changing (name, placement, date of birth), a contact's
    records naming them, classes they join and leave, attainment and characteristics,
    accounts, what linking says of the contact's link, and maybe the school removing the
    student at the end (dependent records pushed after a removal are allowed: they name a
    removed student). "churn": the student's record alone, removed and added back.

    Not generated: dependent records together with a removal and a re-add. Ingest's
    events carry no order across records (an attainment's record_version is the
    attainment's own), so whether an attainment, class list or contact's list came before
    a removal that a re-add undid cannot be known from the events."""
    if draw(st.sampled_from(["full", "full", "churn"])) == "churn":
        return _churn(draw)
    events: list[Event] = []
    versions = draw(st.integers(1, 3))
    for version in range(1, versions + 1):
        events += _student_version(draw, version)

    guardian_versions = draw(st.integers(0, 3))
    for version in range(1, guardian_versions + 1):
        children = []
        if draw(st.booleans()):
            children.append({"student_id": REF + "student",
                             "relationship": draw(st.sampled_from(["mother", "carer"])),
                             "receives_reports": draw(st.booleans())})
        if draw(st.booleans()):
            children.append({"student_id": REF + "sibling", "relationship": "mother",
                             "receives_reports": True})
        gid = {"guardian_id": REF + "guardian", "record_version": version}
        events += [Event("GuardianRecorded", "ingest", {
                       **gid, "given_name": "Pat", "family_name": "Smith",
                       "email": f"pat{draw(st.integers(1, 2))}@example.org"}),
                   Event("GuardianStudentsRecorded", "ingest", {**gid, "students": children})]
    parent_account = guardian_versions > 0 and draw(st.booleans())
    if parent_account:
        events.append(Event("AccountActivated", "identity", {
            "account_id": REF + "parent_account", "role": "parent",
            "guardian_ids": [REF + "guardian"], "student_ids": []}))
    if draw(st.booleans()):
        events.append(Event("AccountActivated", "identity", {
            "account_id": REF + "student_account", "role": "student",
            "guardian_ids": [], "student_ids": [REF + "student"]}))

    classes = [f"class{n}" for n in range(draw(st.integers(0, 2)))]
    for klass in classes:
        for version in range(1, draw(st.integers(1, 3)) + 1):
            pupils = [REF + "sibling"] if draw(st.booleans()) else []
            if draw(st.booleans()):
                pupils.append(REF + "student")
            events.append(Event("ClassRecorded", "ingest", {
                "class_id": REF + klass, "record_version": version,
                "name": f"{klass} {draw(st.sampled_from(['x', 'y']))}", "subject": "Maths",
                "teacher_ids": [REF + "teacher"] if draw(st.booleans()) else [],
                "student_ids": draw(st.permutations(pupils))}))
    for n in range(draw(st.integers(0, 3))):
        klass = draw(st.sampled_from(classes or ["class_unknown"]))
        for version in range(1, draw(st.integers(1, 2)) + 1):
            events.append(Event("AttainmentRecorded", "ingest", {
                "attainment_id": REF + f"attainment{n}", "record_version": version,
                "student_id": REF + "student", "class_id": REF + klass,
                "period": draw(st.sampled_from(PERIODS)),
                "kind": draw(st.sampled_from(["mark", "grade", "target"])),
                "value": draw(st.sampled_from(["A", "B", "7", "42"])),
                "out_of": draw(st.sampled_from([None, 50.0])),
                "topic": draw(st.sampled_from([None, "Algebra"]))}))
    for n in range(draw(st.integers(0, 2))):
        for version in range(1, draw(st.integers(1, 2)) + 1):
            klass = draw(st.sampled_from([None, *classes]))
            events.append(Event("CharacteristicRecorded", "ingest", {
                "characteristic_id": REF + f"characteristic{n}", "record_version": version,
                "student_id": REF + "student",
                "class_id": REF + klass if klass else None,
                "period": draw(st.sampled_from(PERIODS)),
                "kind": draw(st.sampled_from(["attitude", "effort", "behaviour",
                                              "attendance"])),
                "value": draw(st.sampled_from(["Good", "Excellent"]))}))
    if gather and draw(st.booleans()):  # as ingest sends them: in ResultsRecorded
        events = _gathered(events, draw(st.integers(1, 3)))

    # What linking said of the contact's link: verified, or locked (then maybe unlocked by
    # the school and verified), or revoked; and, as linking does, revoked when the school
    # removes the student.
    link_story: list[str] = []
    if parent_account:
        link_story = draw(st.sampled_from([
            [], ["ParentVerified"], ["LinkLocked"], ["LinkLocked", "ParentVerified"],
            ["ParentVerified", "LinkRevoked"], ["LinkLocked", "LinkRevoked"]]))
    for version, kind in enumerate(link_story, start=1):
        events.append(_link_event(kind, version))
        if report_mails and kind == "ParentVerified":
            events.append(Event("ReportPublished", "reports", {
                "report_id": REF + f"report{version}", "student_id": REF + "student",
                "period": PERIODS[0], "title": "Autumn report",
                "published_at": "2025-01-10T09:00:00+00:00"}))
    if draw(st.booleans()):
        events.append(Event("StudentRemoved", "ingest", {
            "student_id": REF + "student", "record_version": versions + 1}))
        if parent_account and link_story[-1:] != ["LinkRevoked"]:
            events.append(_link_event("LinkRevoked", len(link_story) + 1))
    return events


_RESULT_ITEMS = {"AttainmentRecorded": "attainment", "CharacteristicRecorded": "characteristics"}


def _gathered(events: list[Event], parts: int) -> list[Event]:
    """The results spread over `parts` ResultsRecorded events (each where its first
    item was), as ingest gathers a batch's results about a student; the rest as they were."""
    count = sum(e.type in _RESULT_ITEMS for e in events)
    size = -(-count // parts)
    out: list[Event] = []
    position = 0
    for event in events:
        if event.type not in _RESULT_ITEMS:
            out.append(event)
            continue
        position += 1
        if position % size == 1 or size == 1:
            out.append(Event("ResultsRecorded", "ingest", {
                "student_id": REF + "student", "attainment": [], "characteristics": []}))
            group = out[-1].data
        item = {k: v for k, v in event.data.items() if k != "student_id"}
        group[_RESULT_ITEMS[event.type]].append(item)
    return out


def _link_event(kind: str, version: int) -> Event:
    return Event(kind, "linking", {
        "link_id": REF + "link", "account_id": REF + "parent_account",
        "guardian_id": REF + "guardian", "student_id": REF + "student",
        "record_version": version})


def _churn(draw) -> list[Event]:
    """The student's record alone: recorded, changed, removed, added back, removed..."""
    events = _student_version(draw, 1)
    for version in range(2, draw(st.integers(2, 6)) + 1):
        if events[-1].type != "StudentRemoved" and draw(st.booleans()):
            events.append(Event("StudentRemoved", "ingest", {
                "student_id": REF + "student", "record_version": version}))
        else:
            events += _student_version(draw, version)
    return events


# --- one copy of a history: its own school and ids -----------------------------------------
class Copy:
    """A history made concrete for one school: every symbolic id gets a fresh UUID, and
    each event becomes one envelope (redelivered as that very envelope)."""

    def __init__(self, history: list[Event]):
        self.ids: dict[str, str] = defaultdict(lambda: str(uuid.uuid4()))
        self.school = self.ids["school"]
        self.student = self.ids["student"]
        self.envelopes = [new_envelope(e.type, self._concrete(e.data), producer=e.producer,
                                       school_id=self.school) for e in history]

    def _concrete(self, value):
        if isinstance(value, str) and value.startswith(REF):
            return self.ids[value[len(REF):]]
        if isinstance(value, dict):
            return {k: self._concrete(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self._concrete(v) for v in value]
        return value

    def erasure(self, subject_type: str) -> Envelope:
        return new_envelope("ErasureRequested", {
            "subject": {"school_id": self.school, "type": subject_type,
                        "id": self.ids[subject_type]},
            "subject_request_id": str(uuid.uuid4())}, producer="dsar", school_id=self.school)


def projection(consumer: Consumer, copy: Copy,
               skip_columns: set[str] = frozenset()) -> dict[str, list]:
    """Every row of the service's own tables that names any id of this copy, with the ids
    written symbolically, ids the service made itself as "<own id>" and times left out."""
    symbolic = {v: k for k, v in copy.ids.items()}

    def plain(value):
        if isinstance(value, (dt.datetime, dt.time)):
            return "<time>"
        if isinstance(value, str):
            return UUID.sub(lambda m: symbolic.get(m.group(), "<own id>"), value)
        if isinstance(value, dict):
            return {k: plain(v) for k, v in value.items()}
        if isinstance(value, list):
            return [plain(v) for v in value]
        return value.isoformat() if isinstance(value, dt.date) else value

    pattern = "|".join(copy.ids.values())
    out: dict[str, list] = {}
    with consumer.engine.connect() as conn:
        for table in sorted(sa.inspect(conn).get_table_names()):
            if table in PLUMBING or (consumer.name, table) in NOT_STATE:
                continue
            rows = conn.execute(sa.text(f'SELECT * FROM "{table}" AS r WHERE r::text ~ :p'),
                                {"p": pattern}).mappings().all()
            void = MEANS_NO_ROW.get((consumer.name, table), lambda row: False)
            skip = NOT_COMPARED.get((consumer.name, table), set()) | skip_columns
            rows = [{k: v for k, v in r.items() if k not in skip} for r in rows
                    if not void(r)]
            if rows:
                out[table] = sorted((plain(r) for r in rows),
                                    key=lambda r: json.dumps(r, sort_keys=True, default=str))
    return out


def rows_naming(consumer: Consumer, subject_id: str) -> dict[str, list]:
    """Every row anywhere in the service's database (plumbing too) naming the subject in
    any column, text or JSON, except the tombstones."""
    found = {}
    with consumer.engine.connect() as conn:
        for table in sa.inspect(conn).get_table_names():
            if table in TOMBSTONES:
                continue
            rows = conn.execute(sa.text(f'SELECT r::text FROM "{table}" AS r '
                                        "WHERE r::text LIKE :p"),
                                {"p": f"%{subject_id}%"}).scalars().all()
            if rows:
                found[table] = rows
    return found


def consumed(consumer: Consumer, history: list[Event]) -> list[Event]:
    """What the broker routes to this service (its subscriptions)."""
    return [e for e in history if e.type in consumer.routes]


def shuffled_with_duplicates(data, size: int) -> list[int]:
    """Indices 0..size-1, each at least once, some several times, in any order."""
    if not size:
        return []
    repeats = data.draw(st.lists(st.integers(0, size - 1), max_size=size), label="repeats")
    return data.draw(st.permutations([*range(size), *repeats]), label="delivery order")


# --- the properties -------------------------------------------------------------------------
def test_any_shuffle_and_duplication_converges_to_the_ordered_state(consumer):
    @PROPERTY
    @given(data=st.data())
    def check(data):
        history = consumed(consumer, data.draw(histories(), label="history"))
        ordered, shuffled = Copy(history), Copy(history)
        for envelope in ordered.envelopes:
            consumer.deliver(envelope)
        order = shuffled_with_duplicates(data, len(history))
        outcomes = [consumer.deliver(shuffled.envelopes[i]) for i in order]
        assert outcomes.count(APPLIED) == len(history)  # each once, the rest duplicates
        _assert_same_state(consumer, ordered, shuffled)
    check()


@pytest.fixture
def results_consumer(new_database):
    """The one service that takes results (ResultsRecorded's contract names only it)."""
    built = build_consumer("reports", new_database)
    assert "ResultsRecorded" in built.routes
    yield built
    built.engine.dispose()


def test_gathered_results_leave_the_state_their_events_one_by_one_leave(results_consumer):
    """Ingest gathers a batch's results about a student into ResultsRecorded events; in
    any order and duplicated, they leave what the AttainmentRecorded and
    CharacteristicRecorded events they carry leave, applied in order."""
    consumer = results_consumer

    @PROPERTY
    @given(data=st.data())
    def check(data):
        history = data.draw(histories(gather=False), label="history")
        gathered = consumed(consumer, _gathered(history, data.draw(st.integers(1, 3),
                                                                   label="parts")))
        one_by_one, together = Copy(consumed(consumer, history)), Copy(gathered)
        for envelope in one_by_one.envelopes:
            consumer.deliver(envelope)
        for i in shuffled_with_duplicates(data, len(gathered)):
            consumer.deliver(together.envelopes[i])
        _assert_same_state(consumer, one_by_one, together)
    check()


def _student_events(version: int, name: str = "Ann") -> list[Event]:
    sid = {"student_id": REF + "student", "record_version": version}
    return [Event("StudentRecorded", "ingest",
                  {**sid, "given_name": name, "family_name": "Smith"}),
            Event("StudentPlacementRecorded", "ingest",
                  {**sid, "form_group": f"{6 + version}A", "year_group": 6 + version}),
            Event("StudentBirthDateRecorded", "ingest",
                  {**sid, "date_of_birth": f"2011-03-0{version}"})]


def _contact_events(version: int, email: str, *, child: bool = True) -> list[Event]:
    gid = {"guardian_id": REF + "guardian", "record_version": version}
    children = [{"student_id": REF + "student", "relationship": "mother",
                 "receives_reports": True}] if child else []
    return [Event("GuardianRecorded", "ingest", {**gid, "given_name": "Pat",
                                                 "family_name": "Smith", "email": email}),
            Event("GuardianStudentsRecorded", "ingest", {**gid, "students": children})]


LOGIN = Event("AccountActivated", "identity", {
    "account_id": REF + "parent_account", "role": "parent",
    "guardian_ids": [REF + "guardian"], "student_ids": []})
# Small histories in the order they happened: (events that come first, events whose every
# order is tried after them). At most 5 moving events per service: 120 orders.
STORIES = {
    # A contact's link locked, then verified, the student removed and linking's
    # LinkRevoked for it, with the contact's list and login.
    "link story around a removal": (
        [*_student_events(1), _contact_events(1, "pat@example.org")[0]],
        [_contact_events(1, "pat@example.org")[1], LOGIN, _link_event("LinkLocked", 1),
         _link_event("ParentVerified", 2),
         Event("StudentRemoved", "ingest", {"student_id": REF + "student",
                                            "record_version": 2}),
         _link_event("LinkRevoked", 3)]),
    # The contact's record changing (a new address, the child dropped) and their login.
    "contact and login": (
        _student_events(1),
        [*_contact_events(1, "pat@example.org"),
         *_contact_events(2, "pat@example.net", child=False), LOGIN]),
    # The student removed and added back.
    "removal and re-add": (
        [], [*_student_events(1), Event("StudentRemoved", "ingest", {
            "student_id": REF + "student", "record_version": 2}),
            *_student_events(3, "Anne")]),
}


@pytest.mark.parametrize("story", STORIES)
def test_every_order_of_a_small_story_converges(consumer, story):
    """Rare orders, all of them, where random shuffles seldom go."""
    fixed, moving = (consumed(consumer, events) for events in STORIES[story])
    ordered = Copy([*fixed, *moving])
    for envelope in ordered.envelopes:
        consumer.deliver(envelope)
    for order in itertools.permutations(moving):
        copy = Copy([*fixed, *order])
        for envelope in copy.envelopes:
            consumer.deliver(envelope)
        _assert_same_state(consumer, ordered, copy)


def _assert_same_state(consumer: Consumer, ordered: Copy, other: Copy,
                       skip: set[str] = frozenset()) -> None:
    expected, got = projection(consumer, ordered, skip), projection(consumer, other, skip)
    differing = {t: {"ordered": expected.get(t), "other order": got.get(t)}
                 for t in {*expected, *got} if expected.get(t) != got.get(t)}
    assert differing == {}, json.dumps(differing, indent=1, default=str)
    assert not consumer.dead_letters()


def test_an_erased_subject_never_comes_back(consumer):
    @PROPERTY
    @given(data=st.data())
    def check(data):
        history = consumed(consumer, data.draw(histories(report_mails=True), label="history"))
        copy = Copy(history)
        # Mostly the student; sometimes their contact, whose records name the student.
        subject = data.draw(st.sampled_from(["student", "student", "guardian"]),
                            label="erased")
        erasure = copy.erasure(subject)
        order = shuffled_with_duplicates(data, len(history))
        # ErasureRequested at any point (and maybe redelivered later), data on both sides.
        at = data.draw(st.integers(0, len(order)), label="erasure at")
        deliveries = [copy.envelopes[i] for i in order]
        deliveries.insert(at, erasure)
        if data.draw(st.booleans(), label="erasure redelivered"):
            deliveries.insert(data.draw(st.integers(at + 1, len(deliveries))), erasure)
        # The relay sends what waits in the outbox at hypothesis-chosen moments.
        relay_after = data.draw(st.lists(st.booleans(), min_size=len(deliveries),
                                         max_size=len(deliveries)), label="relay runs")
        for envelope, relay in zip(deliveries, relay_after):
            consumer.deliver(envelope)
            if relay:
                consumer.drain_outbox()
        consumer.drain_outbox()

        assert rows_naming(consumer, copy.ids[subject]) == {}
        answers = _answers(consumer, erasure.id)
        assert [a["data"]["outcome"] for a in answers] == ["done"], answers
        assert _tombstoned(consumer, copy, subject)
        assert not consumer.dead_letters()
    check()


def _answers(consumer: Consumer, request_id: str) -> list[dict]:
    ob = consumer.runtime.spec.tables.outbox
    with consumer.engine.connect() as conn:
        payloads = conn.execute(sa.select(ob.c.payload).where(
            ob.c.event_type == "ErasureCompleted", ob.c.payload.like(f"%{request_id}%"))
        ).scalars().all()
    return [json.loads(p) for p in payloads]


def _tombstoned(consumer: Consumer, copy: Copy, subject: str) -> bool:
    t = consumer.runtime.spec.tables.erasure_tombstones
    with consumer.engine.connect() as conn:
        return conn.execute(sa.select(t.c.subject_id).where(
            t.c.subject_type == subject, t.c.subject_id == copy.ids[subject],
            t.c.school_id == copy.school)).first() is not None


# --- set-based handlers (issue 27): a school's roster applied a batch at a time -----------
# Identity too: it keeps a school's guardian and student records as memberships of logins
# (invited, the invitation's token hashed). What differs by order by design is not state:
# the token (random), the mails the hourly cap counts, a login's id.
BATCHED = (*SERVICES, "identity")
NOT_COMPARED_BATCHED = {("identity", "invitations"): {"token_hash"}}
# The mails sent, counted for the hourly cap: an older record arriving after a newer one
# changes nothing and sends nothing, so how many were sent depends on the order.
NOT_STATE = {("identity", "mail_sends")}


@pytest.fixture(params=BATCHED)
def batch_consumer(request, new_database):
    built = build_consumer(request.param, new_database)
    yield built
    built.engine.dispose()


def _school_for(consumer: Consumer, copy: Copy, student_accounts: bool) -> None:
    """Identity takes a school's records only for a school it has, active."""
    if consumer.name != "identity":
        return
    identity = consumer.runtime.context.use_cases.identity
    schools = importlib.import_module("services.identity.models").schools
    with consumer.runtime.context.sessions() as session, session.begin():
        session.execute(schools.insert().values(
            id=copy.school, name="Property School", status="active",
            student_accounts=student_accounts, created_at=identity.clock()))


def deliver_in_batches(consumer: Consumer, envelopes: list[Envelope],
                       cuts: list[int]) -> list[str]:
    """Deliver as a consumer that gathers deliveries: consecutive runs (ending at `cuts`)
    each one batch of every processor they reach; every event applied or a duplicate."""
    outcomes: list[str] = []
    start = 0
    for end in [*sorted(set(cuts)), len(envelopes)]:
        by_processor: dict[int, tuple[DeliveryProcessor, list[Envelope]]] = {}
        for envelope in envelopes[start:end]:
            processor = consumer.routes[envelope.type]
            by_processor.setdefault(id(processor), (processor, []))[1].append(envelope)
        for processor, batch in by_processor.values():
            got = processor.process_batch([e.to_json() for e in batch])
            assert set(got) <= {APPLIED, DUPLICATE}, (
                f"{consumer.name}: {got} {consumer.dead_letters()}")
            outcomes += got
        start = max(start, end)
    return outcomes


ACCOUNT_EVENTS = [Event("StudentAccountRequested", "ingest", {
    "student_id": REF + "student", "record_version": 1,
    "email": "student@example.org"})]


def test_a_batch_of_several_schools_rosters_leaves_what_their_events_one_by_one_leave(
        batch_consumer):
    """Several students' histories (each its own school and ids), shuffled, duplicated and
    interleaved, applied in batches as the consumer gathers them: each copy ends as the
    same stream applied one event at a time leaves its twin (the rule of a gathered
    handler; that any order converges is the properties above, for the services that
    promise it)."""
    consumer = batch_consumer
    skip = NOT_COMPARED_BATCHED.get((consumer.name, "invitations"), set())

    @PROPERTY
    @given(data=st.data())
    def check(data):
        count = data.draw(st.integers(1, 3), label="students")
        histories_ = [consumed(consumer, data.draw(histories(), label="history")
                               + (ACCOUNT_EVENTS if data.draw(st.booleans()) else []))
                      for _ in range(count)]
        accounts = data.draw(st.booleans(), label="student accounts")
        pairs = [(Copy(h), Copy(h)) for h in histories_]
        for twins in pairs:
            for copy in twins:
                _school_for(consumer, copy, accounts)
        stream = [(n, i) for n, (_, copy) in enumerate(pairs)
                  for i in shuffled_with_duplicates(data, len(copy.envelopes))]
        stream = data.draw(st.permutations(stream), label="interleaved")
        for n, i in stream:
            consumer.deliver(pairs[n][0].envelopes[i])
        cuts = data.draw(st.lists(st.integers(0, len(stream)), max_size=4), label="cuts")
        outcomes = deliver_in_batches(consumer, [pairs[n][1].envelopes[i] for n, i in stream],
                                      cuts)
        assert outcomes.count(APPLIED) == sum(len(h) for h in histories_)
        for one_by_one, batched in pairs:
            _assert_same_state(consumer, one_by_one, batched, skip)
    check()

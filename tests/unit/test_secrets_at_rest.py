"""A secret an event carries (an invitation or reset token, declared `metadata=SECRET` in
its contract) never rests in plain text: the relay blanks it from the outbox row as the
broker confirms the event, whatever the retention; a dead letter never keeps it (and is
then not replayable); an export never carries it. SQLite and fakes; the real flows are in
tests/integration/test_secrets_at_rest_real.py."""
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from shared import contracts, deadletters
from shared.db import make_engine, make_session_factory, utcnow
from shared.contracts import typed
from shared.messaging.consumer import DEAD_LETTERED, RETRY, DeliveryProcessor, route
from shared.messaging.envelope import new_envelope
from shared.messaging.outbox import Outbox
from shared.messaging.relay import OutboxRelay
from shared.rights import RightsParticipant
from shared.rights.participant import Subject, with_plumbing
from tests import fakeservice
from tests.support import OneByOnePublisher

SCHOOL = "00000000-0000-4000-8000-00000000000a"
TOKEN = "a-secret-token-0123456789abcdefghij"


def invitation(token: str = TOKEN, **over) -> dict:
    return {"invitation_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "role": "parent", "name": "Pat Smith", "email": "pat@example.org",
            "token": token, "expires_at": utcnow() + dt.timedelta(days=7), **over}


def reset(token: str) -> dict:
    return {"reset_id": str(uuid.uuid4()), "account_id": str(uuid.uuid4()),
            "name": "Pat Smith", "email": "pat@example.org", "token": token,
            "expires_at": utcnow() + dt.timedelta(hours=1)}


@pytest.fixture
def db(tmp_path):
    spec = fakeservice.make_spec("notifications")
    engine = make_engine(f"sqlite:///{tmp_path / 'svc.db'}")
    spec.metadata.create_all(engine)
    return spec, engine, make_session_factory(engine)


class Publisher(OneByOnePublisher):
    def __init__(self, refuse: set[str] = frozenset()):
        self.sent, self.refuse = [], refuse

    def publish(self, routing_key, body, message_id):
        if message_id in self.refuse:
            raise ConnectionError("not confirmed")
        self.sent.append(body)

    def close(self):
        pass


def cells(engine) -> str:
    """Every cell of every table, as one text to search."""
    out = []
    with engine.connect() as conn:
        for table in sa.inspect(engine).get_table_names():
            for row in conn.execute(sa.text(f'SELECT * FROM "{table}"')):
                out.extend(str(value) for value in row)
    return "\n".join(out)


def test_the_contracts_declare_the_tokens_secret():
    assert contracts.secret_fields("InvitationIssued") == ("token",)
    assert contracts.secret_fields("PasswordResetRequested") == ("token",)
    assert contracts.secret_fields("ParentVerified") == ()
    assert contracts.SECRET_TYPES == {"InvitationIssued", "PasswordResetRequested"}


@pytest.mark.parametrize("retention", [dt.timedelta(hours=1), dt.timedelta(days=30)])
def test_the_relay_blanks_a_secret_as_the_broker_confirms_whatever_the_retention(
        db, retention):
    spec, engine, sessions = db
    outbox = Outbox("identity", spec.tables)
    with sessions() as s, s.begin():
        confirmed = outbox.add(s, "InvitationIssued", invitation(), school_id=SCHOOL)
        refused = outbox.add(s, "PasswordResetRequested", reset(TOKEN + "-r"),
                             school_id=None)
        plain = outbox.add(s, "SchoolActivated", {"school_id": SCHOOL, "name": "Hill"},
                           school_id=SCHOOL)
    publisher = Publisher(refuse={refused.id})
    relay = OutboxRelay(engine, spec.tables, publisher, retention=retention,
                        clock=lambda: utcnow() + dt.timedelta(seconds=1))
    try:
        relay.publish_batch()
    except Exception:
        pass  # the refused one stalls the round; the others are sent
    assert any(TOKEN in body for body in publisher.sent)  # the broker got the token
    with engine.connect() as conn:
        rows = {r.event_id: r for r in conn.execute(sa.text(
            "SELECT event_id, payload, sent_at FROM outbox"))}
    kept = json.loads(rows[confirmed.id].payload)  # the rest stays for the retention
    assert rows[confirmed.id].sent_at is not None and kept["data"]["token"] is None
    assert kept["data"]["email"] == "pat@example.org" and kept["id"] == confirmed.id
    # Not confirmed: the row keeps its secret, since it must be sent again.
    assert rows[refused.id].sent_at is None and TOKEN + "-r" in rows[refused.id].payload
    assert json.loads(rows[plain.id].payload) == json.loads(plain.to_json())
    assert TOKEN not in cells(engine).replace(TOKEN + "-r", "")


def test_a_packed_message_of_secrets_is_blanked_row_by_row(db):
    spec, engine, sessions = db
    outbox = Outbox("identity", spec.tables)
    tokens = [f"{TOKEN}-{n}" for n in range(3)]
    with sessions() as s, s.begin():
        for token in tokens:
            outbox.add(s, "InvitationIssued", invitation(token), school_id=SCHOOL)
    publisher = Publisher()
    OutboxRelay(engine, spec.tables, publisher, pack=10,
                clock=lambda: utcnow() + dt.timedelta(seconds=1)).publish_batch()
    assert len(publisher.sent) == 1 and all(t in publisher.sent[0] for t in tokens)
    assert not any(t in cells(engine) for t in tokens)


def processor(spec, sessions, handler):
    return DeliveryProcessor("notifications", "notifications.data", sessions, spec.tables,
                             {"InvitationIssued": route(typed.InvitationIssued, handler)},
                             max_attempts=2)


def failing(session, events):
    raise RuntimeError("mail template broken")


def test_a_dead_letter_never_keeps_a_secret_and_is_not_replayed(db):
    spec, engine, sessions = db
    consumer = processor(spec, sessions, failing)
    body = new_envelope("InvitationIssued", invitation(), producer="identity",
                        school_id=SCHOOL).to_json()
    assert consumer.process(body) == RETRY
    assert consumer.process(body) == DEAD_LETTERED
    # Failing its contract (a bad expiry) is dead-lettered at once, without the token too.
    invalid = json.loads(new_envelope("InvitationIssued", invitation(TOKEN + "-bad"),
                                      producer="identity", school_id=SCHOOL).to_json())
    invalid["data"]["expires_at"] = "not a date"
    assert consumer.process(json.dumps(invalid)) == DEAD_LETTERED
    # An event of a packed message, dead-lettered by itself.
    packed = [json.loads(new_envelope("InvitationIssued", invitation(TOKEN + "-packed"),
                                      producer="identity", school_id=SCHOOL).to_json())]
    assert consumer.process_batch(packed) == [RETRY]
    assert consumer.process_batch(packed) == [DEAD_LETTERED]
    everything = cells(engine)
    assert TOKEN not in everything
    letters = deadletters.list_letters(engine, spec.tables)
    assert len(letters) == 3
    for letter in letters:
        shown = deadletters.show_letter(engine, spec.tables, letter["id"])
        assert shown["replayable"] is False and "token" in shown["data_fields"]
    # Replaying could only fail again: the producer issues a new token instead.
    assert deadletters.replay(engine, spec.tables, _unused_broker(), None) == 0
    assert len(deadletters.list_letters(engine, spec.tables)) == 3


def _unused_broker():
    from shared.config import Settings
    return Settings(broker_url="memory://")


def test_a_dead_letter_without_a_secret_is_kept_as_it_came(db):
    spec, engine, sessions = db
    consumer = DeliveryProcessor("notifications", "notifications.data", sessions,
                                 spec.tables, {}, max_attempts=1)
    body = new_envelope("SchoolActivated", {"school_id": SCHOOL, "name": "Hill"},
                        producer="identity", school_id=SCHOOL).to_json()
    assert consumer.process(body) == DEAD_LETTERED  # no handler
    with engine.connect() as conn:
        assert conn.execute(sa.text("SELECT payload FROM dead_letters")).scalar_one() == body
    (letter,) = deadletters.list_letters(engine, spec.tables)
    assert deadletters.show_letter(engine, spec.tables, letter["id"])["replayable"] is True


def test_an_export_never_carries_a_stored_events_secret(db):
    """Whatever table a participant exports, a cell holding an event (an outbox or
    dead-letter payload) comes without its secrets."""
    spec, engine, sessions = db
    student = str(uuid.uuid4())
    body = new_envelope("InvitationIssued", invitation(), producer="identity",
                        school_id=SCHOOL).to_json()
    with sessions() as s, s.begin():  # a declared table that happens to hold an event
        s.execute(sa.text("INSERT INTO pupils (id, school_id, given_name, date_of_birth) "
                          "VALUES (:i, :s, :n, '2015-01-01')"),
                  {"i": student, "s": SCHOOL, "n": body})
    participant = RightsParticipant(spec.name, with_plumbing(spec.declaration),
                                    spec.metadata, spec.tables, None)
    with sessions() as s:
        exported = participant.export(s, Subject(SCHOOL, "student", student))
    (row,) = exported["pupils"]
    assert TOKEN not in json.dumps(exported)
    assert json.loads(row["given_name"])["data"]["token"] is None


def test_notifications_exports_no_account_mail_body(tmp_path):
    """A mail waiting to be sent is exported, but an invitation's or reset's body (the
    link with the token) never is."""
    from services.notifications import app as notifications_app
    from services.notifications.models import deliveries
    spec = notifications_app.SPEC
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    spec.metadata.create_all(engine)
    sessions = make_session_factory(engine)
    guardian = str(uuid.uuid4())
    now = utcnow()
    with sessions() as s, s.begin():
        for kind, body in (("invitation", f"/activate?token={TOKEN}"),
                           ("reset", f"/reset-password?token={TOKEN}"),
                           ("report", "A new report is ready.")):
            s.execute(deliveries.insert().values(
                id=str(uuid.uuid4()), event_id=str(uuid.uuid4()),
                recipient=f"guardian:{guardian}", school_id=SCHOOL, kind=kind,
                guardian_id=guardian, to_address="pat@example.org", subject="Hello",
                body_text=body, body_html=f"<p>{body}</p>", status="pending", attempts=0,
                next_attempt_at=now, created_at=now))
    participant = spec.participant_class(
        "notifications", spec.declaration, spec.metadata, spec.tables, None)
    with sessions() as s:
        exported = participant.export(s, Subject(SCHOOL, "guardian", guardian))
    assert len(exported["deliveries"]) == 3
    assert TOKEN not in json.dumps(exported)
    report = next(r for r in exported["deliveries"] if r["kind"] == "report")
    assert report["body_text"] == "A new report is ready."

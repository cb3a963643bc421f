"""Token revocation (TokensRevoked): the shared handler keeps a revocation until the tokens it
names have expired; the view every service checks refuses exactly those tokens (of the
subject, of the one sign-in when named, issued before the instant), re-reads the table at
most once a period and never makes a request wait on the database for a fresh view; and
`require` refuses a revoked token even when the verifier remembers it. SQLite; the real
chain, every service, is in tests/integration/test_token_attacks_real.py."""
import datetime as dt
import time
import uuid

import jwt
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, jsonify

from shared.auth import TokenSigner, TokenVerifier, key_id, require
from shared.db import make_engine, make_session_factory, utcnow
from shared.web import install_error_handlers
from shared.messaging.consumer import Event
from shared.messaging.envelope import new_envelope
from shared.contracts import typed
from shared.revocations import (RevocationsUnavailable, RevocationView, apply_revocations,
                                revocation_data)
from shared.tables import define_plumbing_tables

KEY = Ed25519PrivateKey.generate()
SCHOOL = "00000000-0000-4000-8000-00000000000a"
ACCOUNT, OTHER = str(uuid.uuid4()), str(uuid.uuid4())
SIGN_IN, OTHER_SIGN_IN = str(uuid.uuid4()), str(uuid.uuid4())


@pytest.fixture
def db(tmp_path):
    metadata = sa.MetaData()
    tables = define_plumbing_tables(metadata)
    engine = make_engine(f"sqlite:///{tmp_path / 'svc.db'}")
    metadata.create_all(engine)
    return tables.token_revocations, engine, make_session_factory(engine)


def revoke(db, subject, *, before=None, session_id=None, lifetime=900):
    table, _, sessions = db
    data = revocation_data(subject, reason="logout", revoked_before=before or utcnow(),
                           token_lifetime=lifetime, session_id=session_id)
    envelope = new_envelope("TokensRevoked", data, producer="identity", school_id=None)
    loaded = typed.TokensRevoked.load(data)  # as the contract loads it
    with sessions() as session, session.begin():
        apply_revocations(table)(session, [Event(envelope, loaded)])


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def claims(sub=ACCOUNT, sid=SIGN_IN, iat=None):
    return {"sub": sub, "sid": sid, "iat": time.time() - 1 if iat is None else iat}


def test_a_sign_out_refuses_that_sign_ins_tokens_only(db):
    table, engine, _ = db
    view = RevocationView(engine, table)
    before = time.time() - 1
    assert not view.is_revoked(claims(iat=before))
    revoke(db, ACCOUNT, session_id=SIGN_IN)
    view.refresh()
    assert view.is_revoked(claims(iat=before))
    assert not view.is_revoked(claims(sid=OTHER_SIGN_IN, iat=before))  # another device
    assert not view.is_revoked(claims(sub=OTHER, iat=before))
    assert view.is_revoked(claims(sid=None, iat=before))  # names no sign-in: refused


def test_an_account_revocation_refuses_tokens_issued_before_its_instant_only(db):
    table, engine, _ = db
    view = RevocationView(engine, table)
    instant = utcnow()
    revoke(db, ACCOUNT, before=instant)
    t = instant.timestamp()
    assert view.is_revoked(claims(iat=t - 0.000_5))
    assert view.is_revoked(claims(sid=None, iat=int(t) - 1))  # an older token, whole seconds
    # A sign-in a moment after the reset, in the same second: not refused.
    assert not view.is_revoked(claims(sid=str(uuid.uuid4()), iat=t + 0.000_5))
    assert view.is_revoked({"sub": ACCOUNT})  # no instant to compare: refused


def test_tokens_carry_their_sign_in_and_an_instant_finer_than_a_second():
    issued = [1_700_000_000.25]
    signer = TokenSigner(KEY, clock=lambda: issued[0])
    token = signer.issue(ACCOUNT, "parent", [SCHOOL], sid=SIGN_IN)
    decoded = jwt.decode(token, options={"verify_signature": False})
    assert decoded["sid"] == SIGN_IN and decoded["iat"] == 1_700_000_000.25
    assert decoded["nbf"] == 1_700_000_000 and decoded["exp"] == 1_700_000_900


def test_the_view_reads_the_table_at_most_once_a_period(db):
    table, engine, _ = db
    clock = Clock()
    view = RevocationView(engine, table, refresh_seconds=1.0, clock=clock)
    reads = []
    original = view._read
    view._read = lambda: reads.append(1) or original()
    for _ in range(50):
        view.is_revoked(claims())
    assert len(reads) == 1
    revoke(db, ACCOUNT)
    assert not view.is_revoked(claims())  # not re-read yet
    clock.now += 1.0
    assert view.is_revoked(claims()) and len(reads) == 2


def test_expired_revocations_are_pruned_and_ignored(db):
    table, engine, _ = db
    long_ago = utcnow() - dt.timedelta(hours=2)
    revoke(db, OTHER, before=long_ago)  # every token it named has expired: not even kept
    with engine.begin() as conn:
        conn.execute(table.insert().values(id=str(uuid.uuid4()), subject_id=ACCOUNT,
                                           session_id=None, revoked_before=long_ago,
                                           expires_at=long_ago + dt.timedelta(minutes=16)))
    view = RevocationView(engine, table)
    assert not view.is_revoked(claims(iat=long_ago.timestamp() - 1))  # expired: not read
    revoke(db, str(uuid.uuid4()))  # a new one arrives: the expired row goes
    with engine.connect() as conn:
        subjects = conn.execute(sa.select(table.c.subject_id)).scalars().all()
    assert ACCOUNT not in subjects and OTHER not in subjects and len(subjects) == 1


def test_a_database_away_at_start_refuses_to_guess_and_later_keeps_the_last_view(db):
    table, engine, _ = db
    revoke(db, ACCOUNT)
    clock = Clock()
    view = RevocationView(engine, table, clock=clock)
    original = view._read
    view._read = lambda: (_ for _ in ()).throw(sa.exc.OperationalError("x", {}, None))
    with pytest.raises(RevocationsUnavailable):
        view.is_revoked(claims())
    view._read = original
    assert view.is_revoked(claims())
    view._read = lambda: (_ for _ in ()).throw(sa.exc.OperationalError("x", {}, None))
    clock.now += 5
    assert view.is_revoked(claims())  # the view of a moment ago still holds


def test_require_refuses_a_revoked_token_the_verifier_remembers(db):
    table, engine, _ = db
    signer = TokenSigner(KEY, lifetime_seconds=600)
    verifier = TokenVerifier(lambda: {key_id(KEY.public_key()): KEY.public_key()})
    view = RevocationView(engine, table, refresh_seconds=0)
    app = Flask("t")
    app.extensions.update(pp_verifier=verifier, pp_revocations=view)
    install_error_handlers(app)

    @app.get("/mine")
    @require("parent")
    def mine():
        return jsonify({"ok": True})

    @app.get("/admins")
    @require("school_admin")
    def admins():
        return jsonify({"ok": True})

    token = signer.issue(ACCOUNT, "parent", [SCHOOL], sid=SIGN_IN)
    kept = signer.issue(ACCOUNT, "parent", [SCHOOL], sid=OTHER_SIGN_IN)
    client = app.test_client()
    for _ in range(3):  # verified, then remembered by the verifier
        assert client.get("/mine", headers={"Authorization": f"Bearer {token}"}
                          ).status_code == 200
    revoke(db, ACCOUNT, session_id=SIGN_IN)
    refused = client.get("/mine", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401 and refused.json["error"]["code"] == "unauthorized"
    assert client.get("/mine", headers={"Authorization": f"Bearer {kept}"}
                      ).status_code == 200
    # A revoked token is refused before the role is looked at (no 404 to tell it apart).
    assert client.get("/admins", headers={"Authorization": f"Bearer {token}"}
                      ).status_code == 401
    assert client.get("/admins", headers={"Authorization": f"Bearer {kept}"}
                      ).status_code == 404


def test_every_service_applies_revocations_on_its_rights_queue():
    from shared.config import SERVICES
    from shared.messaging import topology
    for service in SERVICES:
        rights = {c.type for c in topology.subscriptions(service)["rights"]}
        assert "TokensRevoked" in rights, service


def test_every_service_has_the_handler(tmp_path):
    import importlib

    from shared.config import SERVICES, Settings
    from shared.service import ServiceRuntime
    settings = Settings.from_env({"PP_DATA_DIR": str(tmp_path)})
    for name in SERVICES:
        spec = importlib.import_module(f"services.{name}.app").SPEC
        handlers = ServiceRuntime(spec, settings).handlers_by_channel()
        assert "TokensRevoked" in handlers["rights"], name


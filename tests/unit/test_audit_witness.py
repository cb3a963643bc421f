"""Notifications as the witness of dsar's audit chain (issue 30 review): it keeps the
newest head that extends the one it holds; one arriving ahead of its turn waits for the
one before it; one that forks from the held head never counts."""
from __future__ import annotations

import datetime as dt
import hashlib

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.notifications import witness
from services.notifications.models import metadata
from shared.contracts import typed as ev
from shared.db import make_engine, make_session_factory
from shared.receipts import CHECKPOINT_TYPE, jws

KEY = Ed25519PrivateKey.generate()

NOW = dt.datetime(2026, 12, 6, 5, 0, tzinfo=dt.timezone.utc)


def digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def chain(start: int, count: int, prev: str, label: str = "") -> list[dict]:
    """Checkpoints of `count` entries from `start`, each after the one before."""
    out = []
    for seq in range(start, start + count):
        own = digest(f"{label}{seq}{prev}")
        token = jws.sign(KEY, "dsar:test", {"chain": witness.CHAIN, "seq": seq,
                                            "prev": prev, "hash": own}, CHECKPOINT_TYPE)
        out.append({"seq": seq, "prev": prev, "hash": own, "checkpoint": token})
        prev = own
    return out


@pytest.fixture
def sessions(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'n.db'}")
    metadata.create_all(engine)
    yield make_session_factory(engine)
    engine.dispose()


def deliver(sessions, checkpoints) -> dict:
    for checkpoint in checkpoints:
        with sessions() as s, s.begin():
            witness.witness_checkpoint(s, ev.AuditCheckpointed(**checkpoint), NOW)
    with sessions() as s:
        return witness.witnessed(s)


def test_in_order_the_witness_holds_the_newest_head(sessions):
    cps = chain(1, 5, "0" * 64)
    held = deliver(sessions, cps)
    assert (held["seq"], held["hash"], held["waiting"]) == (5, cps[-1]["hash"], 0)
    assert held["checkpoint"] == cps[-1]["checkpoint"]
    assert deliver(sessions, cps[:3])["seq"] == 5  # late repeats change nothing


def test_one_ahead_of_its_turn_waits_for_the_one_before(sessions):
    cps = chain(1, 5, "0" * 64)
    deliver(sessions, cps[:2])
    held = deliver(sessions, [cps[3], cps[4]])
    assert (held["seq"], held["waiting"]) == (2, 2)
    held = deliver(sessions, [cps[2]])
    assert (held["seq"], held["hash"], held["waiting"]) == (5, cps[-1]["hash"], 0)


def test_a_fork_from_the_held_head_never_counts(sessions):
    cps = chain(1, 5, "0" * 64)
    deliver(sessions, cps)
    # the chain cut back to entry 2 and appended again: new heads after 2's hash
    forked = chain(6, 3, cps[1]["hash"], label="forged")
    held = deliver(sessions, forked)
    assert (held["seq"], held["hash"], held["waiting"]) == (5, cps[-1]["hash"], 3)

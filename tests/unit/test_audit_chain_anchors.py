"""The audit chain's check against a writer of dsar's database (issue 30, review): the
hashes are unkeyed, so one who cuts the chain's tail and moves its head, or edits an
entry and rewrites every hash after it, leaves a chain that checks by itself. The heads
dsar signed into receipts anchor it: the check names each receipt whose head is gone."""
from __future__ import annotations

import datetime as dt
import uuid

import pytest
import sqlalchemy as sa

from services.dsar import audit_chain
from services.dsar.models import audit, audit_head, metadata, plumbing, requests
from shared.db import make_engine
from shared.receipts import RECEIPT_TYPE, ReceiptKeys, jws, keys_from_jwks
from shared.receipts.keys import receipt_sealer
from shared.receipts.receipt import GENESIS, entry_hash

SEALER = receipt_sealer(b"a test deployment's receipt secret, 32 bytes or more", "test")
T0 = dt.datetime(2026, 12, 6, 3, 0, tzinfo=dt.timezone.utc)


@pytest.fixture
def dsar(tmp_path):
    """Dsar's tables: a completed request with its signed receipt, then another request's
    entries after it. (engine, keys, completed request id, its receipt's head seq)"""
    engine = make_engine(f"sqlite:///{tmp_path / 'dsar.db'}")
    metadata.create_all(engine)
    ring = ReceiptKeys("dsar", plumbing.receipt_keys, SEALER)
    done, later = str(uuid.uuid4()), str(uuid.uuid4())
    with engine.begin() as conn:
        for n, step in enumerate(("received", "fanned_out", "completed")):
            audit_chain.append(conn, done, T0 + dt.timedelta(seconds=n), step)
        entries = audit_chain.entries_of(conn, done)
        head = {"seq": entries[-1]["seq"], "hash": entries[-1]["hash"]}
        conn.execute(requests.insert().values(
            id=done, school_id=str(uuid.uuid4()), kind="erasure", subject_type="student",
            subject_id=str(uuid.uuid4()), details={}, status="completed", received_at=T0,
            due_at=T0, extension_months=0, completed_at=T0,
            receipt=ring.sign(conn, {"audit": {"head": head, "entries": entries}},
                              RECEIPT_TYPE)))
        for n, step in enumerate(("received", "fanned_out")):
            audit_chain.append(conn, later, T0 + dt.timedelta(seconds=10 + n), step)
        keys = keys_from_jwks(ring.jwks(conn))
    yield engine, keys, done, head["seq"]
    engine.dispose()


def breaks(engine, keys) -> list[str]:
    with engine.connect() as conn:
        return [str(b) for b in audit_chain.check(conn, keys)]


def rewrite(conn) -> None:
    """What a writer who knows the scheme does after their change: every hash and link
    made again from the first entry, and the head moved to the last."""
    prev, last = GENESIS, None
    for row in conn.execute(sa.select(audit).order_by(audit.c.id)).all():
        digest = entry_hash(prev, audit_chain.fields_of(row))
        conn.execute(audit.update().where(audit.c.id == row.id)
                     .values(prev_hash=prev, hash=digest))
        prev, last = digest, row.id
    conn.execute(audit_head.delete())
    if last is not None:
        conn.execute(audit_head.insert().values(id=audit_chain.HEAD_ID, seq=last,
                                                hash=prev))


def test_an_untouched_chain_checks(dsar):
    engine, keys, _, _ = dsar
    assert breaks(engine, keys) == []


def test_cutting_the_tail_and_moving_the_head_is_found_by_the_receipt(dsar):
    engine, keys, done, seq = dsar
    with engine.begin() as conn:  # the completed request's last entry and all after it
        conn.execute(audit.delete().where(audit.c.id >= seq))
        rewrite(conn)
    assert breaks(engine, keys) == [
        f"entry {seq} (request {done}): missing, though the request's receipt names it "
        "as the chain's head (entries were removed)"]


def test_an_edit_with_every_hash_after_it_rewritten_is_found_by_the_receipt(dsar):
    engine, keys, done, seq = dsar
    with engine.begin() as conn:
        conn.execute(audit.update().where(audit.c.id == seq - 1).values(step="refused"))
        rewrite(conn)
    found = breaks(engine, keys)
    assert found == [f"entry {seq} (request {done}): not the entry the request's receipt "
                     "names as the chain's head (the chain was rewritten from there)"]


def test_the_receipt_made_to_match_does_not_verify(dsar):
    """The writer also edits the stored receipt's head to the rewritten one: dsar's
    signature no longer holds, and the check says so."""
    engine, keys, done, seq = dsar
    with engine.begin() as conn:
        conn.execute(audit.update().where(audit.c.id == seq - 1).values(step="refused"))
        rewrite(conn)
        new = conn.execute(sa.select(audit.c.hash).where(audit.c.id == seq)).scalar()
        token = conn.execute(sa.select(requests.c.receipt)).scalar()
        header, payload = jws.unverified(token)
        payload["audit"]["head"]["hash"] = new
        forged = ".".join([token.split(".")[0], jws.b64encode(jws.canonical_json(payload)),
                           token.split(".")[2]])
        conn.execute(requests.update().values(receipt=forged))
    assert breaks(engine, keys) == [f"request {done}: its receipt does not verify against "
                                    "dsar's keys (the receipt was altered)"]


def test_removing_the_head_row_with_the_tail_is_found(dsar):
    engine, keys, _, seq = dsar
    with engine.begin() as conn:
        last = conn.execute(sa.select(sa.func.max(audit.c.id))).scalar()
        conn.execute(audit.delete().where(audit.c.id == last))
        conn.execute(audit_head.delete())
    assert breaks(engine, keys) == [f"the head: no head is kept, but the chain holds "
                                    f"entries up to {last - 1} (the head was removed)"]


# --- the witness (issue 30 review): the head held outside dsar's database -------------
def signed_head(conn) -> dict:
    """The chain's head as dsar signs it after an append (the AuditCheckpointed event),
    and as the witness answers it."""
    from shared.receipts import CHECKPOINT_TYPE
    head = conn.execute(sa.select(audit_head)).one()
    prev = conn.execute(sa.select(audit.c.prev_hash).where(audit.c.id == head.seq)).scalar()
    ring = ReceiptKeys("dsar", plumbing.receipt_keys, SEALER)
    token = ring.sign(conn, audit_chain.checkpoint(head.seq, prev, head.hash, T0),
                      CHECKPOINT_TYPE)
    return {"seq": head.seq, "hash": head.hash, "checkpoint": token}


def witnessed_breaks(engine, keys, witnessed) -> list[str]:
    with engine.connect() as conn:
        return [str(b) for b in audit_chain.check(conn, keys, witnessed)]


def test_a_tail_cut_after_the_newest_receipt_is_named_by_the_witness(dsar):
    engine, keys, _, seq = dsar
    with engine.begin() as conn:
        witnessed = signed_head(conn)
        end = witnessed["seq"]
        conn.execute(audit.delete().where(audit.c.id > seq))  # the later request's
        rewrite(conn)
    assert end == seq + 2
    assert breaks(engine, keys) == []  # the receipts alone do not see it
    assert witnessed_breaks(engine, keys, witnessed) == [
        f"the witnessed head: entries {seq + 1} to {end} missing: the witness saw the "
        f"chain reach entry {end}, but dsar's chain has nothing after entry {seq} up to "
        "it (its last entries were removed)"]


def test_a_tail_cut_and_appended_again_is_named_by_the_witness(dsar):
    """The same numbers written again (SQLite reuses them, as a reset sequence would):
    the witnessed entry is there, but not the one witnessed."""
    engine, keys, _, seq = dsar
    with engine.begin() as conn:
        witnessed = signed_head(conn)
        conn.execute(audit.delete().where(audit.c.id > seq))
        rewrite(conn)
        for n in range(2):
            audit_chain.append(conn, "forged", T0 + dt.timedelta(seconds=20 + n), "received")
    assert breaks(engine, keys) == []
    [found] = witnessed_breaks(engine, keys, witnessed)
    assert found == (f"entry {witnessed['seq']} (request forged): not the entry the witness "
                     "holds as the chain's head (the chain was rewritten from there)")


def test_a_witnessed_head_not_signed_by_dsar_is_a_break(dsar):
    engine, keys, _, _ = dsar
    with engine.begin() as conn:
        witnessed = signed_head(conn)
    header, payload = jws.unverified(witnessed["checkpoint"])
    payload["seq"] = 1
    forged = ".".join([witnessed["checkpoint"].split(".")[0],
                       jws.b64encode(jws.canonical_json(payload)),
                       witnessed["checkpoint"].split(".")[2]])
    assert witnessed_breaks(engine, keys, {**witnessed, "checkpoint": forged}) == [
        "the witnessed head: its checkpoint does not verify against dsar's keys"]
    assert witnessed_breaks(engine, keys, witnessed) == []

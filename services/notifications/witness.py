"""The witness of dsar's audit chain (issue 30): a copy of the chain's head outside dsar's
database, so entries cut from that database (its last entries deleted and the head moved
back) no longer match what was witnessed.

After every entry it appends, dsar signs the chain's new head (the entry's number, the
hash before it and its own) and sends it (AuditCheckpointed). The witness keeps the newest
head that *extends* the one it holds: a checkpoint counts only if the hash before it is the
held head's hash. One that arrives ahead of its turn (several workers, a redelivery) waits
until the one before it comes; one that does not extend the held head never counts (a
chain cut and appended again from an older entry forks from what was witnessed, and
stays a fork). The first checkpoint ever seen is adopted as it is.

The head is taken from the signed checkpoint, never from the event's fields beside it
(security review, atk): the event is published by whoever writes dsar's outbox or holds
the broker's credentials, and a head of its own carrying a genuine checkpoint of an older
entry moved the witness on while the check read only the checkpoint. A checkpoint whose
payload is not the event's head (or not a checkpoint of this chain) is refused. The
signature itself is checked by the check, which holds dsar's keys: a forged one here
makes the check fail, loudly.

Dsar's check reads the held head (GET /api/v1/audit-witness) and requires the entry it
names to be in the chain with that hash (services/dsar/audit_chain.py). Hashes and numbers
only: no personal data, nothing of any school.
"""
from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.contracts import typed as ev
from shared.receipts import CHECKPOINT_TYPE, jws

from .models import audit_checkpoints_ahead as ahead
from .models import audit_witness as witness

CHAIN = "dsar-audit"
log = logging.getLogger(__name__)


def signed_head(data: ev.AuditCheckpointed) -> bool:
    """The event's head is the one its checkpoint signs (the signature is the check's)."""
    try:
        header, payload = jws.unverified(str(data.checkpoint))
    except jws.InvalidJws:
        return False
    return (header.get("typ") == CHECKPOINT_TYPE and payload.get("chain") == CHAIN
            and (payload.get("seq"), payload.get("prev"), payload.get("hash"))
            == (data.seq, data.prev, data.hash))


def witness_checkpoint(session: Session, data: ev.AuditCheckpointed,
                       now: dt.datetime) -> None:
    """One AuditCheckpointed: the held head moves on if it extends it (then so do the
    checkpoints waiting ahead that follow), else it waits ahead (or is already behind).
    One whose checkpoint does not sign its head is refused (logged, ids only)."""
    if not signed_head(data):
        log.warning("audit checkpoint refused: its checkpoint does not sign its head",
                    extra={"seq": data.seq})
        return
    held = session.execute(sa.select(witness).where(witness.c.chain == CHAIN)
                           .with_for_update()).first()
    if held is None:
        session.execute(witness.insert().values(
            chain=CHAIN, seq=data.seq, hash=data.hash, checkpoint=data.checkpoint,
            witnessed_at=now))
        return
    if data.seq <= held.seq:
        return  # witnessed already, or an older head arriving late
    if data.prev != held.hash:
        if session.execute(sa.select(ahead.c.seq).where(
                ahead.c.chain == CHAIN, ahead.c.seq == data.seq,
                ahead.c.prev == data.prev)).first() is None:
            session.execute(ahead.insert().values(
                chain=CHAIN, seq=data.seq, prev=data.prev, hash=data.hash,
                checkpoint=data.checkpoint, received_at=now))
        return
    head = (data.seq, data.hash, data.checkpoint)
    while True:  # the checkpoints waiting for this one
        follows = session.execute(sa.select(ahead).where(
            ahead.c.chain == CHAIN, ahead.c.prev == head[1], ahead.c.seq > head[0])
            .order_by(ahead.c.seq).limit(1)).first()
        if follows is None:
            break
        head = (follows.seq, follows.hash, follows.checkpoint)
    session.execute(witness.update().where(witness.c.chain == CHAIN).values(
        seq=head[0], hash=head[1], checkpoint=head[2], witnessed_at=now))
    session.execute(ahead.delete().where(ahead.c.chain == CHAIN, ahead.c.seq <= head[0]))


def witnessed(session: Session) -> dict[str, Any] | None:
    """The held head: dsar's signed checkpoint, and how many wait ahead of it."""
    held = session.execute(sa.select(witness).where(witness.c.chain == CHAIN)).first()
    if held is None:
        return None
    waiting = session.execute(sa.select(sa.func.count()).select_from(ahead).where(
        ahead.c.chain == CHAIN)).scalar_one()
    return {"chain": CHAIN, "seq": held.seq, "hash": held.hash,
            "checkpoint": held.checkpoint, "witnessed_at": held.witnessed_at,
            "waiting": waiting}

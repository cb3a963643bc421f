"""The audit trail of requests as a hash chain (issue 30): each entry holds the hash of the
one before and its own (shared/receipts/receipt.py `entry_hash`), and the chain's head is
kept in `audit_head` and published in every receipt. An entry edited in the database no
longer matches its hash; one deleted breaks the link of the next; the last one deleted no
longer matches the head. Appends are serialised by a lock on the head row.

The hashes are unkeyed: a writer of the database could cut the tail and move the head, or
rewrite every hash after an edit. The heads dsar signed into receipts (verified against
its keys) anchor the chain: each must still be the entry it names. So does the head a
witness outside dsar's database holds (notifications, services/notifications/witness.py:
dsar signs the chain's head after every append and sends it): entries appended after the
newest receipt, cut with the head moved back, no longer reach the witnessed entry.

    python -m services.dsar.audit_chain check [--witness FILE|URL]
        exit 1, naming each broken entry; --witness: the witnessed head, as
        GET /api/v1/audit-witness answers it (a file of that JSON, or the URL)
"""
from __future__ import annotations

import datetime as dt
import json
import sys
from dataclasses import dataclass
from typing import Any, Generator, Iterator, Mapping

import sqlalchemy as sa
from sqlalchemy.orm import Session

from shared.db import insert_unless_present
from shared.receipts import CHECKPOINT_TYPE, RECEIPT_TYPE, jws, keys_from_jwks
from shared.receipts.receipt import GENESIS, entry_hash

from .models import audit, audit_head, requests

HEAD_ID = 1
CHAIN = "dsar-audit"  # the chain a checkpoint is of
Writer = Session | sa.Connection  # the service's session, or a connection of the check


def at_text(at: dt.datetime) -> str:
    """The instant as it is hashed: UTC to the microsecond (what the database keeps)."""
    return at.astimezone(dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def fields_of(row: Any) -> dict[str, Any]:
    return {"seq": row.id, "request_id": row.request_id, "at": at_text(row.at),
            "step": row.step, "service": row.service, "actor": row.actor}


def append(session: Writer, request_id: str, at: dt.datetime, step: str,
           service: str | None = None, actor: str | None = None) -> tuple[int, str, str]:
    """The entry appended: (its seq, the hash before it, its hash)."""
    head = _locked_head(session)
    if head is None:
        # The chain's first entry. A row FOR UPDATE cannot lock is not there yet: two
        # first appends would both find none and the second fail on the head's key. The
        # genesis head is written unless present (the second waits on the first's), then
        # locked like any other; this transaction moves it on below, so it never stays.
        insert_unless_present(session, audit_head, {"id": HEAD_ID, "seq": 0, "hash": GENESIS},
                              ("id",))
        head = _locked_head(session)
    prev = head.hash
    seq: int = session.execute(audit.insert().values(
        request_id=request_id, at=at, step=step, service=service, actor=actor,
        prev_hash=prev, hash="").returning(audit.c.id)).scalar_one()
    digest = entry_hash(prev, {"seq": seq, "request_id": request_id, "at": at_text(at),
                               "step": step, "service": service, "actor": actor})
    session.execute(audit.update().where(audit.c.id == seq).values(hash=digest))
    session.execute(audit_head.update().where(audit_head.c.id == HEAD_ID)
                    .values(seq=seq, hash=digest))
    return seq, prev, digest


def _locked_head(session: Writer) -> Any:
    return session.execute(sa.select(audit_head).where(audit_head.c.id == HEAD_ID)
                           .with_for_update()).first()


def checkpoint(seq: int, prev: str, digest: str, at: dt.datetime) -> dict[str, Any]:
    """What dsar signs after an append, for a witness outside its database (the
    AuditCheckpointed event): the chain's head and the hash before it."""
    return {"chain": CHAIN, "seq": seq, "prev": prev, "hash": digest, "at": at_text(at)}


def entries_of(session: Writer, request_id: str) -> list[dict[str, Any]]:
    """A request's entries with their links, as a receipt carries them."""
    rows = session.execute(sa.select(audit).where(audit.c.request_id == request_id)
                           .order_by(audit.c.id)).all()
    return [{**fields_of(r), "prev": r.prev_hash, "hash": r.hash} for r in rows]


@dataclass(frozen=True)
class Break:
    seq: int | None
    request_id: str | None
    problem: str
    where: str | None = None

    def __str__(self) -> str:
        where = self.where or (f"entry {self.seq} (request {self.request_id})" if self.seq
                               else f"request {self.request_id}" if self.request_id
                               else "the head")
        return f"{where}: {self.problem}"


def _rows(conn: sa.Connection) -> Iterator[Any]:
    """Every entry in chain order, a thousand at a time."""
    after = 0
    while True:
        rows = conn.execute(sa.select(audit).where(audit.c.id > after)
                            .order_by(audit.c.id).limit(1000)).all()
        if not rows:
            return
        yield from rows
        after = rows[-1].id


def _receipt_heads(conn: sa.Connection, keys: Mapping[str, Any] | None) -> Iterator[
        tuple[str, int | None, str | None]]:
    """(request id, head seq, head hash) of every receipt dsar signed: the chain's heads
    as they were, out of reach of a writer of the chain (who could otherwise cut its tail
    and move `audit_head`, or rewrite every hash after an edit). With `keys` (dsar's
    published keys) each is verified; (id, None, None) for one that does not."""
    for request_id, token in conn.execute(sa.select(requests.c.id, requests.c.receipt)
                                          .where(requests.c.receipt.is_not(None))):
        try:
            _, payload = (jws.verify(token, keys, RECEIPT_TYPE) if keys is not None
                          else jws.unverified(token))
            head = payload["audit"]["head"]
            yield request_id, int(head["seq"]), str(head["hash"])
        except (jws.InvalidJws, KeyError, TypeError, ValueError):
            yield request_id, None, None


def check(conn: sa.Connection, keys: Mapping[str, Any] | None = None,
          witnessed: Mapping[str, Any] | None = None) -> Iterator[Break]:
    """Every break in the chain, in order, then every receipt whose head the chain no
    longer holds, then the head row's, then the witness's (`witnessed`: the held head as
    GET /api/v1/audit-witness answers it; its checkpoint verified with `keys`)."""
    anchors: dict[int, list[tuple[str, str]]] = {}
    for request_id, seq, digest in _receipt_heads(conn, keys):
        if seq is None or digest is None:
            yield Break(None, request_id, "its receipt does not verify against dsar's "
                        "keys (the receipt was altered)")
        else:
            anchors.setdefault(seq, []).append((request_id, digest))
    last = yield from _links(conn, anchors)
    for seq, named in sorted(anchors.items()):  # what the walk did not meet
        for request_id, _ in named:
            yield Break(seq, request_id, "missing, though the request's receipt names it "
                        "as the chain's head (entries were removed)")
    yield from _head(conn, last)
    if witnessed is not None:
        yield from _witnessed(conn, keys, witnessed)


def _witnessed(conn: sa.Connection, keys: Mapping[str, Any] | None,
               witnessed: Mapping[str, Any]) -> Iterator[Break]:
    """The head the witness holds, as dsar signed it, must be in the chain with that
    hash: else the chain's last entries were cut (the gap named) or rewritten."""
    where = "the witnessed head"
    try:
        token = str(witnessed["checkpoint"])
        _, signed = (jws.verify(token, keys, CHECKPOINT_TYPE) if keys is not None
                     else jws.unverified(token))
        if signed.get("chain") != CHAIN:
            raise ValueError("another chain")
        seq, digest = int(signed["seq"]), str(signed["hash"])
    except (jws.InvalidJws, KeyError, TypeError, ValueError):
        yield Break(None, None, "its checkpoint does not verify against dsar's keys",
                    where)
        return
    held = (witnessed.get("seq", seq), witnessed.get("hash", digest))
    if held != (seq, digest):  # the witness moved on by a head its checkpoint does not sign
        yield Break(None, None, f"the witness holds entry {held[0]}, but its checkpoint "
                    f"signs entry {seq} (the witness was given a false checkpoint)", where)
        return
    row = conn.execute(sa.select(audit).where(audit.c.id == seq)).first()
    if row is None:
        before = conn.execute(sa.select(sa.func.max(audit.c.id)).where(
            audit.c.id < seq)).scalar()
        first = (before or 0) + 1
        gap = f"entry {seq}" if first == seq else f"entries {first} to {seq}"
        yield Break(None, None, f"{gap} missing: the witness saw the chain reach entry "
                    f"{seq}, but dsar's chain has nothing after entry {before or 0} up to "
                    "it (its last entries were removed)", where)
    elif row.hash != digest:
        yield Break(seq, row.request_id, "not the entry the witness holds as the chain's "
                    "head (the chain was rewritten from there)")


def _links(conn: sa.Connection,
           anchors: dict[int, list[tuple[str, str]]]) -> Generator[Break, None, Any]:
    """Each entry's link and hash, and each receipt's head met on the way (taken out of
    `anchors`); returns the last entry."""
    prev, last = GENESIS, None
    for row in _rows(conn):
        if row.prev_hash != prev:
            yield Break(row.id, row.request_id, "its link does not match the entry "
                        "before it (an entry before it was removed or altered)")
        if entry_hash(row.prev_hash or "", fields_of(row)) != row.hash:
            yield Break(row.id, row.request_id, "altered (it no longer matches its hash)")
        for request_id, digest in anchors.pop(row.id, []):
            if digest != row.hash:
                yield Break(row.id, request_id, "not the entry the request's receipt names "
                            "as the chain's head (the chain was rewritten from there)")
        prev, last = row.hash, row
    return last


def _head(conn: sa.Connection, last: Any) -> Iterator[Break]:
    head = conn.execute(sa.select(audit_head).where(audit_head.c.id == HEAD_ID)).first()
    if head is None and last is not None:
        yield Break(None, None, f"no head is kept, but the chain holds entries up to "
                    f"{last.id} (the head was removed)")
    if head is not None and (last is None or (head.seq, head.hash) != (last.id, last.hash)):
        yield Break(None, None, f"the head names entry {head.seq}, but the chain ends at "
                    f"{last.id if last is not None else 'nothing'} (its last entries were "
                    "removed)")


def read_witness(source: str) -> dict[str, Any]:
    """The witnessed head: a file of GET /api/v1/audit-witness's JSON, or that URL."""
    if source.startswith(("http://", "https://")):
        import urllib.request
        with urllib.request.urlopen(source, timeout=30) as answer:  # noqa: S310
            return dict(json.load(answer))
    with open(source, encoding="utf-8") as handle:
        return dict(json.load(handle))


def main(argv: list[str]) -> int:
    from shared.config import Settings
    from shared.db import make_engine
    args = argv[1:]
    witness = None
    if args[1:2] == ["--witness"] and len(args) == 3:
        witness, args = read_witness(args[2]), args[:1]
    if args != ["check"]:
        print(__doc__)
        return 2
    if witness is None:
        print("note: no --witness given: entries after the newest receipt are anchored "
              "only by the head row", file=sys.stderr)
    from shared.service import receipt_keys_for

    from .app import SPEC
    settings = Settings.from_env()
    engine = make_engine(settings.database_url("dsar"))
    ring = receipt_keys_for(SPEC, settings)
    with engine.connect() as conn:
        keys = keys_from_jwks(ring.jwks(conn)) if ring is not None else None
        breaks = list(check(conn, keys, witness))
    for found in breaks:
        print(f"BROKEN: {found}")
    if not breaks:
        print("the audit chain is intact")
    return 1 if breaks else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

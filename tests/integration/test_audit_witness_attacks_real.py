"""Attacks on the audit chain's witness (security review, atk), every service on real
RabbitMQ and PostgreSQL. AuditCheckpointed is published by whoever writes dsar's outbox
(a writer of dsar's database) or holds the broker's credentials (one user for every
service); its fields beside the signed checkpoint are not signed.

The witness moved on by the event's own seq, prev and hash, and kept whatever checkpoint
came with them, and the check read the entry to require from that checkpoint alone. So a
writer who cut the chain's tail fed the witness one more "head" extending the one it held
(its hash is public) carrying a genuine checkpoint of an entry left in place (saved from
the public endpoint earlier): the witness moved on, and the check said intact. The
witness now takes the head from the checkpoint itself, and the check names a witness
whose head is not the one its checkpoint signs."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from sqlalchemy.orm import Session

from services.dsar import audit_chain
from shared.config import SERVICES
from shared.messaging.outbox import Outbox
from shared.receipts import jws
from tests.support import wait_for
from tests.system import RealSystem, student

pytestmark = pytest.mark.integration


@pytest.fixture
def world(broker_settings, tmp_path, new_database):
    system = RealSystem(broker_settings, tmp_path, new_database, list(SERVICES))
    school, system_token = system.school()
    system.push(system_token, [student("S1")])
    system.tap.wait("StudentRecorded", lambda d: d["given_name"] == "Ann")
    admin = system.admin(school, "admin@example.org")
    filed = system.call("dsar", "post", "/api/v1/subject-requests", admin, {
        "kind": "erasure", "subject": {"type": "student", "source_id": "S1"}})
    assert filed.status_code == 201, filed.json
    request_id = filed.json["id"]
    wait_for(lambda: system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}",
                                 admin).json["status"] == "completed",
             timeout=90, message="the erasure completed")
    yield system, request_id, admin
    system.close()


def chain_end(system) -> int:
    with system.runtimes["dsar"].engine.connect() as conn:
        return int(conn.execute(sa.text("SELECT max(id) FROM audit")).scalar_one())


def witnessed(system) -> dict:
    answer = system.clients["notifications"].get("/api/v1/audit-witness")
    return answer.json if answer.status_code == 200 else {}


def settled(system) -> dict:
    """The witness's answer once it holds the chain's last entry."""
    def caught_up() -> dict:
        held = witnessed(system)
        return held if held.get("seq") == chain_end(system) else {}
    return wait_for(caught_up, timeout=60, message="the witness holds the chain's end")


def check(system, monkeypatch, capsys, witness: dict, tmp_path) -> tuple[int, str]:
    witness_file = tmp_path / "witness.json"
    witness_file.write_text(json.dumps(witness, default=str))
    monkeypatch.setenv("PP_DSAR_DATABASE_URL", system.settings.database_url("dsar"))
    monkeypatch.setenv("PP_DATA_DIR", str(system.settings.data_dir))
    code = audit_chain.main(["audit_chain", "check", "--witness", str(witness_file)])
    return code, capsys.readouterr().out


def publish_as_dsar(system, data: dict) -> str:
    """What a writer of dsar's database can send: a row in its outbox, relayed as dsar's."""
    runtime = system.runtimes["dsar"]
    with Session(runtime.engine) as session, session.begin():
        envelope = Outbox("dsar", runtime.spec.tables).add(
            session, "AuditCheckpointed", data, school_id=None)
    return envelope.id


def applied(system, event_id: str) -> bool:
    with system.runtimes["notifications"].engine.connect() as conn:
        return conn.execute(sa.text("SELECT 1 FROM inbox WHERE event_id=:e"),
                            {"e": event_id}).first() is not None


def download(system, request_id, admin) -> None:
    answer = system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}/receipt",
                         admin)
    assert answer.status_code == 200


def test_a_cut_is_not_hidden_by_a_false_head_carrying_an_old_checkpoint(
        world, tmp_path, monkeypatch, capsys):
    system, request_id, admin = world
    download(system, request_id, admin)
    first = settled(system)
    kept, genuine = first["seq"], first["checkpoint"]  # public: anyone could have saved it
    download(system, request_id, admin)
    download(system, request_id, admin)
    held = settled(system)
    end = held["seq"]

    engine = system.runtimes["dsar"].engine
    with engine.begin() as conn:  # the tail cut, the head moved back
        conn.execute(sa.text("DELETE FROM audit WHERE id > :a"), {"a": kept})
        conn.execute(sa.text("UPDATE audit_head SET seq=:a, hash=(SELECT hash FROM audit "
                             "WHERE id=:a)"), {"a": kept})
    # One more "head" after the one witnessed, with the genuine checkpoint of an entry
    # still in the chain.
    forged = publish_as_dsar(system, {"seq": end + 1, "prev": held["hash"],
                                      "hash": "ab" * 32, "checkpoint": genuine})
    wait_for(lambda: applied(system, forged), timeout=60,
             message="the witness took the false checkpoint")
    now = witnessed(system)
    assert (now["seq"], now["hash"]) == (end, held["hash"])
    code, out = check(system, monkeypatch, capsys, now, tmp_path)
    assert code == 1 and f"entries {kept + 1} to {end} missing" in out


def test_a_head_its_checkpoint_does_not_sign_is_named_by_the_check(
        world, tmp_path, monkeypatch, capsys):
    """A witness fed so before this fix (or its answer edited) holds a head that its
    checkpoint does not sign: the check says so rather than check the checkpoint's."""
    system, request_id, admin = world
    download(system, request_id, admin)
    held = settled(system)
    end = held["seq"]
    _, signed = jws.unverified(held["checkpoint"])
    assert (signed["seq"], signed["hash"]) == (held["seq"], held["hash"])
    code, out = check(system, monkeypatch, capsys, held, tmp_path)
    assert (code, out) == (0, "the audit chain is intact\n")
    code, out = check(system, monkeypatch, capsys,
                      {**held, "seq": end + 5, "hash": "cd" * 32}, tmp_path)
    assert code == 1
    assert out == (f"BROKEN: the witnessed head: the witness holds entry {end + 5}, but its "
                   f"checkpoint signs entry {end} (the witness was given a false "
                   "checkpoint)\n")

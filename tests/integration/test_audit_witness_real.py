"""The audit chain witnessed outside dsar's database (issue 30 review), every service on
real RabbitMQ and PostgreSQL: entries appended after the newest receipt, deleted from
dsar's database with the head moved back, were anchored by nothing (the check said
intact); notifications now holds the chain's head as dsar signed it after each append,
and the check given that head names the entries that are gone. Entries appended again
after the cut fork from what was witnessed and do not move the witness on."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from services.dsar import audit_chain
from shared.config import SERVICES
from tests.support import wait_for
from tests.system import RealSystem, student

pytestmark = pytest.mark.integration


@pytest.fixture
def world(broker_settings, tmp_path, new_database):
    """A completed erasure with its receipt, then entries after it (the receipt
    downloaded twice: each download is an audit entry)."""
    system = RealSystem(broker_settings, tmp_path, new_database, list(SERVICES))
    request_id, admin = system.completed_erasure([student("S1")])
    yield system, request_id, admin
    system.close()


def download(system, request_id, admin) -> None:
    answer = system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}/receipt",
                         admin)
    assert answer.status_code == 200


def chain_end(system) -> int:
    with system.runtimes["dsar"].engine.connect() as conn:
        return conn.execute(sa.text("SELECT max(id) FROM audit")).scalar_one()


def witnessed(system) -> dict:
    answer = system.clients["notifications"].get("/api/v1/audit-witness")
    return answer.json if answer.status_code == 200 else {}


def check(system, monkeypatch, capsys, witness_file=None) -> tuple[int, str]:
    monkeypatch.setenv("PP_DSAR_DATABASE_URL", system.settings.database_url("dsar"))
    monkeypatch.setenv("PP_DATA_DIR", str(system.settings.data_dir))  # dsar's receipt secret
    args = ["audit_chain", "check", *(["--witness", str(witness_file)] if witness_file
                                      else [])]
    code = audit_chain.main(args)
    return code, capsys.readouterr().out


def test_a_tail_cut_after_the_newest_receipt_is_named_by_the_witness(world, tmp_path,
                                                                    monkeypatch, capsys):
    system, request_id, admin = world
    with system.runtimes["dsar"].engine.connect() as conn:
        anchored = conn.execute(sa.text(
            "SELECT max(id) FROM audit WHERE request_id=:r AND step='completed'"),
            {"r": request_id}).scalar_one()  # the receipt's head
    download(system, request_id, admin)
    download(system, request_id, admin)
    end = chain_end(system)
    assert end >= anchored + 2
    held = wait_for(lambda: witnessed(system).get("seq") == end and witnessed(system),
                    timeout=60, message="the witness holds the chain's head")
    witness_file = tmp_path / "witness.json"
    witness_file.write_text(json.dumps(held))
    assert check(system, monkeypatch, capsys, witness_file) == (
        0, "the audit chain is intact\n")

    # A writer of dsar's database deletes the entries after the receipt's head and moves
    # the head back: every link and hash still checks, and so did the chain.
    engine = system.runtimes["dsar"].engine
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit WHERE id > :a"), {"a": anchored})
        conn.execute(sa.text("UPDATE audit_head SET seq=:a, hash=(SELECT hash FROM audit "
                             "WHERE id=:a)"), {"a": anchored})
    assert check(system, monkeypatch, capsys) == (0, "the audit chain is intact\n")
    code, out = check(system, monkeypatch, capsys, witness_file)
    assert code == 1
    assert out == (f"BROKEN: the witnessed head: entries {anchored + 1} to {end} missing: "
                   f"the witness saw the chain reach entry {end}, but dsar's chain has "
                   f"nothing after entry {anchored} up to it (its last entries were "
                   "removed)\n")

    # Dsar appends on from the moved head: a fork of what was witnessed. The witness
    # does not move on (the new head waits), and the check still names the gap.
    download(system, request_id, admin)
    wait_for(lambda: witnessed(system).get("waiting") == 1, timeout=60,
             message="the forked checkpoint reached the witness")
    assert witnessed(system)["seq"] == end
    witness_file.write_text(json.dumps(witnessed(system)))
    code, out = check(system, monkeypatch, capsys, witness_file)
    assert code == 1 and f"entries {anchored + 1} to {end} missing" in out

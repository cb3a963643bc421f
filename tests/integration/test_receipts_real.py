"""Receipts a school can verify without us (issue 30), every service running on real
RabbitMQ and PostgreSQL: a completed erasure's receipt verifies offline against the keys
each service publishes, with the project's command; one altered byte, or one service's
answer taken out, and it no longer does. The audit chain's check names an entry edited,
and one deleted, in dsar's database."""
from __future__ import annotations

import base64
import json

import pytest
import sqlalchemy as sa

from services.dsar import audit_chain
from shared.config import RIGHTS_PARTICIPANTS, SERVICES
from shared.receipts import RECEIPT_TYPE
from shared.receipts import jws
from shared.receipts.__main__ import main as receipts_cli
from tests.system import RealSystem, student

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def erased(module_settings, tmp_path_factory, module_database):
    """A student erased through dsar's API by the school's admin; the receipt as the
    console downloads it, and every service's published keys, as files."""
    tmp = tmp_path_factory.mktemp("receipts")
    system = RealSystem(module_settings, tmp, module_database, list(SERVICES))
    request_id, admin = system.completed_erasure([student("S1"), student("S2", given_name="Bo")])
    download = system.call("dsar", "get", f"/api/v1/subject-requests/{request_id}/receipt",
                           admin)
    assert download.status_code == 200 and download.mimetype == "application/jose"
    receipt = download.get_data(as_text=True)
    keys = []
    for name in SERVICES:
        published = system.clients[name].get(f"/receipt-keys/{name}")
        assert published.status_code == 200
        path = tmp / f"{name}-keys.json"
        path.write_text(json.dumps(published.json))
        keys.append(str(path))
    yield system, request_id, receipt, keys, tmp
    system.close()


def verify(tmp, keys, text, capsys) -> tuple[int, str]:
    path = tmp / "receipt.jws"
    path.write_text(text)
    code = receipts_cli(["verify", str(path), *[a for k in keys for a in ("--keys", k)]])
    return code, capsys.readouterr().out


def test_a_completed_erasures_receipt_verifies_offline(erased, capsys):
    _, request_id, receipt, keys, tmp = erased
    code, out = verify(tmp, keys, receipt, capsys)
    assert code == 0, out
    assert f"VERIFIED: erasure request {request_id}" in out
    for service in RIGHTS_PARTICIPANTS:  # each service's own signed answer
        assert f"  {service}: done" in out
    _, payload = jws.unverified(receipt.strip())
    assert set(payload["answers"]) == set(RIGHTS_PARTICIPANTS)


def test_one_altered_byte_fails(erased, capsys):
    _, _, receipt, keys, tmp = erased
    token = receipt.strip()
    header, body, signature = token.split(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    at = payload.index(b'"completed_at"') + len('"completed_at":"2')  # a digit of the year
    altered = payload[:at] + bytes([payload[at] ^ 1]) + payload[at + 1:]
    forged = ".".join([header, base64.urlsafe_b64encode(altered).rstrip(b"=").decode(),
                       signature])
    code, out = verify(tmp, keys, forged + "\n", capsys)
    assert code == 1 and "NOT VERIFIED" in out


def test_one_services_answer_removed_fails(erased, capsys):
    system, _, receipt, keys, tmp = erased
    header, payload = jws.unverified(receipt.strip())
    del payload["answers"]["reports"]
    signature = receipt.strip().rpartition(".")[2]
    unsigned = ".".join([receipt.split(".")[0], jws.b64encode(jws.canonical_json(payload)),
                         signature])
    code, out = verify(tmp, keys, unsigned + "\n", capsys)
    assert code == 1 and "NOT VERIFIED" in out
    # even signed again with dsar's own key, read from its database by its own process
    dsar = system.runtimes["dsar"]
    with dsar.engine.begin() as conn:
        resigned = dsar.receipt_keys.sign(conn, payload, RECEIPT_TYPE)
    code, out = verify(tmp, keys, resigned + "\n", capsys)
    assert code == 1 and "reports" in out, out


def _check(system, monkeypatch, capsys) -> tuple[int, str]:
    monkeypatch.setenv("PP_DSAR_DATABASE_URL", system.settings.database_url("dsar"))
    monkeypatch.setenv("PP_DATA_DIR", str(system.settings.data_dir))  # dsar's receipt secret
    code = audit_chain.main(["audit_chain", "check"])
    return code, capsys.readouterr().out


def test_the_chain_check_names_an_entry_edited_and_one_deleted(erased, monkeypatch,
                                                               capsys):
    system, request_id, _, _, _ = erased
    assert _check(system, monkeypatch, capsys) == (0, "the audit chain is intact\n")
    engine = system.runtimes["dsar"].engine
    with engine.connect() as conn:
        seqs = conn.execute(sa.text("SELECT id FROM audit WHERE request_id=:r ORDER BY id"),
                            {"r": request_id}).scalars().all()
    assert len(seqs) >= 4
    edited, deleted = seqs[1], seqs[-2]
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE audit SET at = at + interval '1 second' "
                             "WHERE id=:i"), {"i": edited})
    code, out = _check(system, monkeypatch, capsys)
    assert code == 1
    assert f"BROKEN: entry {edited} (request {request_id}): altered" in out
    with engine.begin() as conn:
        conn.execute(sa.text("DELETE FROM audit WHERE id=:i"), {"i": deleted})
    code, out = _check(system, monkeypatch, capsys)
    assert code == 1
    after = next(s for s in seqs if s > deleted)
    assert f"BROKEN: entry {after} (request {request_id}): its link does not match" in out
    assert f"BROKEN: entry {edited} (request {request_id}): altered" in out

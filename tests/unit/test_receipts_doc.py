"""docs/receipts.md shows how to verify a receipt with PyJWT: that very code runs here on
a real receipt (so the page cannot rot), and refuses one altered byte and a receipt with
one service's answer taken out."""
from __future__ import annotations

import json
from pathlib import Path

import jwt
import pytest

from shared.receipts import RECEIPT_TYPE, jws
from tests.unit.test_receipts import erased, ring, world  # noqa: F401  (fixtures)

DOC = Path(__file__).resolve().parents[2] / "docs" / "receipts.md"


def snippet() -> str:
    after = DOC.read_text(encoding="utf-8").split("<!-- verify-with-pyjwt -->", 1)[1]
    return after.split("```python\n", 1)[1].split("\n```", 1)[0]


def run_doc(world, receipt: str, folder: Path, monkeypatch) -> None:  # noqa: F811
    (folder / "keys").mkdir(exist_ok=True)
    for name, (spec, sessions, _) in world.items():
        with sessions() as s:
            (folder / "keys" / f"{name}.json").write_text(
                json.dumps(ring(name, spec).jwks(s)))
    (folder / "receipt.jws").write_text(receipt + "\n")  # as the console downloads it
    monkeypatch.chdir(folder)
    exec(compile(snippet(), str(DOC), "exec"), {"__name__": "receipts_doc"})


def test_the_docs_pyjwt_code_verifies_a_receipt(world, erased, tmp_path,  # noqa: F811
                                                monkeypatch, capsys):
    receipt = erased[0]
    run_doc(world, receipt, tmp_path, monkeypatch)
    out = capsys.readouterr().out
    assert f"VERIFIED erasure {jws.unverified(receipt)[1]['request']['id']}" in out
    assert "linking {" in out and "reports {" in out


def test_the_docs_pyjwt_code_refuses_an_altered_byte(world, erased, tmp_path,  # noqa: F811
                                                     monkeypatch):
    header, body, signature = erased[0].split(".")
    payload = jws.b64decode(body)
    at = payload.index(b'"kind":"') + len(b'"kind":"')
    altered = payload[:at] + b"F" + payload[at + 1:]  # "erasure" -> "Frasure"
    with pytest.raises(jwt.InvalidSignatureError):
        run_doc(world, ".".join([header, jws.b64encode(altered), signature]), tmp_path,
                monkeypatch)


def test_the_docs_pyjwt_code_refuses_a_receipt_missing_an_answer(
        world, erased, tmp_path, monkeypatch):  # noqa: F811
    _, payload = jws.unverified(erased[0])
    del payload["answers"]["reports"]
    spec, sessions, _ = world["dsar"]
    with sessions() as s, s.begin():  # even signed again by dsar's own key
        resigned = ring("dsar", spec).sign(s, payload, RECEIPT_TYPE)
    with pytest.raises(AssertionError, match="an answer is missing"):
        run_doc(world, resigned, tmp_path, monkeypatch)

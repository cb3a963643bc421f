"""Signed answers and receipts (issue 30): each service signs its answer with its own key
(the shared participant), dsar signs one receipt over them and the audit chain's head,
and the receipt verifies offline against the published keys, and only unchanged."""
import datetime as dt
import json
import uuid

import pytest
import sqlalchemy as sa

from shared.db import make_engine, make_session_factory
from shared.messaging.consumer import Event
from shared.messaging.envelope import new_envelope, parse_envelope
from shared.messaging.outbox import Outbox
from shared.receipts import (ANSWER_TYPE, RECEIPT_TYPE, InvalidReceipt, ReceiptKeys,
                             keys_from_jwks, service_keys, verify_receipt)
from shared.receipts import jws
from shared.receipts.__main__ import main as receipts_cli
from shared.receipts.keys import receipt_sealer
from shared.receipts.receipt import GENESIS, entry_hash
from shared.rights import RightsParticipant
from shared.rights.participant import with_plumbing
from tests import fakeservice

SCHOOL = str(uuid.uuid4())
SERVICES = ("linking", "reports")
REQUEST = str(uuid.uuid4())
SEALER = receipt_sealer(b"a test deployment's receipt secret, 32 bytes or more", "test")


def ring(name, spec):
    return ReceiptKeys(name, spec.tables.receipt_keys, SEALER)


@pytest.fixture
def world(tmp_path):
    """Two participants and dsar's keys, each in a database of its own."""
    out = {}
    for name in (*SERVICES, "dsar"):
        spec = fakeservice.make_spec(name if name != "dsar" else "linking")
        engine = make_engine(f"sqlite:///{tmp_path / name}.db")
        spec.metadata.create_all(engine)
        out[name] = (spec, make_session_factory(engine),
                     RightsParticipant(name, with_plumbing(spec.declaration), spec.metadata,
                                       spec.tables, Outbox(name, spec.tables),
                                       receipts=ring(name, spec)))
    return out


def _answer(world, service, event):
    spec, sessions, participant = world[service]
    parsed, loaded = parse_envelope(event.to_json())
    with sessions() as s, s.begin():
        routed = {r.event_type: r for r in participant.routes()}[event.type]
        routed.handler(s, [Event(parsed, routed.data_class.load(loaded))])
        payload = s.execute(sa.select(spec.tables.outbox.c.payload).order_by(
            spec.tables.outbox.c.seq.desc()).limit(1)).scalar_one()
    return json.loads(payload)["data"]


def _jwks(world):
    """Every service's keys in one JWKS (as a JOSE library reads them)."""
    return {"keys": [k for jwks in _published(world).values() for k in jwks["keys"]]}


def _published(world):
    """Each service's JWKS, as GET /receipt-keys/<service> serves it."""
    out = {}
    for name, (spec, sessions, _) in world.items():
        with sessions() as s:
            out[name] = ring(name, spec).jwks(s)
    return out


def _keys(world):
    """Each service's own key set, as a verifier holds them."""
    return dict(service_keys(jwks) for jwks in _published(world).values())


def _receipt(world, answers, services=SERVICES, request_id=None, events=()):
    request_id = request_id or REQUEST
    entries, prev = [], GENESIS
    for seq, step in enumerate(("received", "sent", "completed"), start=1):
        entry = {"seq": seq, "request_id": request_id, "at": "2026-12-05T10:00:00.000000Z",
                 "step": step, "service": None, "actor": None}
        entry.update(prev=prev, hash=entry_hash(prev, entry))
        prev = entry["hash"]
        entries.append(entry)
    subject = jws.unverified(answers[next(iter(answers))])[1]
    payload = {"request": {"id": request_id, "kind": "erasure", "school_id": SCHOOL,
                           "subject": subject["subject"], "events": sorted(events)},
               "services": list(services), "answers": answers,
               "audit": {"head": {"seq": 3, "hash": prev}, "entries": entries}}
    spec, sessions, _ = world["dsar"]
    with sessions() as s, s.begin():
        return ring("dsar", spec).sign(s, payload, RECEIPT_TYPE)


@pytest.fixture
def erased(world):
    """A student erased by both services: their signed answers (JWS), and the receipt."""
    event = new_envelope("ErasureRequested", {
        "subject": {"school_id": SCHOOL, "type": "student", "id": str(uuid.uuid4())},
        "subject_request_id": REQUEST}, producer="dsar", school_id=SCHOOL)
    answers = {s: _answer(world, s, event)["signature"] for s in SERVICES}
    return _receipt(world, answers, events=[event.id]), answers, None, event


def test_each_service_signs_its_answer_with_its_own_key(world, erased):
    _, answers, _, event = erased
    keys = keys_from_jwks(_jwks(world))
    for service, token in answers.items():
        header, claims = jws.verify(token, _keys(world)[service], ANSWER_TYPE)
        assert header["kid"].startswith(f"{service}:")
        assert claims["service"] == service and claims["request_event"] == event.id
        assert claims["subject"] == event.data["subject"] and claims["outcome"] == "done"
        assert isinstance(claims["counts"], dict) and claims["at"]
    # never another service's key
    only_linking = {k: v for k, v in keys.items() if k.startswith("linking:")}
    with pytest.raises(jws.InvalidJws):
        jws.verify(answers["reports"], only_linking, ANSWER_TYPE)


def test_a_signed_answer_carries_counts_never_the_data(world):
    spec, sessions, _ = world["linking"]
    pupil = str(uuid.uuid4())
    with sessions() as s, s.begin():
        s.execute(spec.metadata.tables["pupils"].insert().values(
            id=pupil, school_id=SCHOOL, given_name="Quillon", date_of_birth=dt.date(2014, 2, 3)))
    event = new_envelope("AccessRequested", {
        "subject": {"school_id": SCHOOL, "type": "student", "id": pupil},
        "subject_request_id": str(uuid.uuid4())}, producer="dsar", school_id=SCHOOL)
    data = _answer(world, "linking", event)
    assert "Quillon" in json.dumps(data["tables"])  # the export itself goes to dsar
    _, claims = jws.unverified(data["signature"])
    assert "Quillon" not in json.dumps(claims) and claims["counts"]["pupils"] == 1


def test_the_receipt_verifies_offline(world, erased):
    receipt, _, _, _ = erased
    verified = verify_receipt(receipt, _keys(world))
    assert set(verified.answers) == set(SERVICES)
    assert verified.audit_head["seq"] == 3


def test_altering_any_one_byte_fails_verification(world, erased):
    receipt, _, _, _ = erased
    keys = _keys(world)
    text = receipt + "\n"
    for position in range(len(text)):
        replacement = "B" if text[position] == "A" else "A"
        altered = text[:position] + replacement + text[position + 1:]
        with pytest.raises(InvalidReceipt):
            verify_receipt(altered, keys)


def test_removing_one_services_answer_fails_verification(world, erased):
    receipt, answers, _, event = erased
    keys = _keys(world)
    header, payload = jws.unverified(receipt)
    # Cut out of the signed receipt: dsar's signature no longer covers it.
    del payload["answers"]["reports"]
    cut = ".".join((receipt.split(".")[0], jws.b64encode(jws.canonical_json(payload)),
                    receipt.split(".")[2]))
    with pytest.raises(InvalidReceipt, match="signature"):
        verify_receipt(cut, keys)
    # Even a receipt dsar itself signed without it: the service it was sent to is missing.
    resigned = _receipt(world, {"linking": answers["linking"]}, events=[event.id])
    with pytest.raises(InvalidReceipt, match="reports has no signed answer"):
        verify_receipt(resigned, keys)
    # And the answer cannot be swapped for one signed with dsar's key.
    with pytest.raises(InvalidReceipt, match="signed by another service"):
        verify_receipt(_receipt(world, {"linking": answers["linking"],
                                        "reports": answers["linking"]},
                                events=[event.id]), keys)


def test_an_answer_to_another_request_does_not_count(world, erased):
    _, answers, _, _ = erased
    receipt = _receipt(world, answers, events=[str(uuid.uuid4())])
    with pytest.raises(InvalidReceipt, match="answers another request"):
        verify_receipt(receipt, _keys(world))


def test_an_altered_audit_entry_fails_verification(world, erased):
    receipt, answers, _, event = erased
    _, payload = jws.unverified(receipt)
    payload["audit"]["entries"][1]["step"] = "refused"
    spec, sessions, _ = world["dsar"]
    with sessions() as s, s.begin():  # even signed again by dsar's own key
        forged = ring("dsar", spec).sign(s, payload, RECEIPT_TYPE)
    with pytest.raises(InvalidReceipt, match="audit entry 2"):
        verify_receipt(forged, _keys(world))


def test_rotation_keeps_old_receipts_verifiable(world, erased):
    receipt, _, _, _ = erased
    spec, sessions, _ = world["dsar"]
    keys = ring("dsar", spec)
    with sessions() as s, s.begin():
        old = jws.unverified(receipt)[0]["kid"]
        new = keys.rotate(s)
        assert new != old and new.startswith("dsar:")
        assert jws.unverified(keys.sign(s, {"x": 1}))[0]["kid"] == new
    jwks = _published(world)["dsar"]
    assert {old, new} <= {k["kid"] for k in jwks["keys"]}
    verify_receipt(receipt, _keys(world))


def test_the_command_verifies_a_receipt_file(world, erased, tmp_path, capsys):
    receipt, _, _, _ = erased
    (tmp_path / "r.jws").write_text(receipt + "\n")
    args = ["verify", str(tmp_path / "r.jws"), *_key_files(world, tmp_path)]
    assert receipts_cli(args) == 0
    assert "VERIFIED" in capsys.readouterr().out
    (tmp_path / "r.jws").write_text(receipt.replace(".", ".A", 1) + "\n")
    assert receipts_cli(args) == 1
    assert "NOT VERIFIED" in capsys.readouterr().out


def test_any_jose_library_verifies_a_receipt(world, erased):
    """PyJWT (a dependency already): the receipt and every answer in it."""
    import jwt
    receipt, _, _, _ = erased
    jwks = jwt.PyJWKSet.from_dict(_jwks(world))
    by_kid = {k.key_id: k for k in jwks.keys}
    head = jwt.get_unverified_header(receipt)
    payload = jwt.api_jws.decode(receipt, by_kid[head["kid"]].key, algorithms=["EdDSA"])
    for service, token in json.loads(payload)["answers"].items():
        kid = jwt.get_unverified_header(token)["kid"]
        assert kid.startswith(service + ":")
        jwt.api_jws.decode(token, by_kid[kid].key, algorithms=["EdDSA"])


def _key_files(world, folder, published=None) -> list[str]:
    """--keys arguments: each service's JWKS as a file (the document names its service)."""
    args = []
    for name, jwks in (published or _published(world)).items():
        (folder / f"{name}.json").write_text(json.dumps(jwks))
        args += ["--keys", str(folder / f"{name}.json")]
    return args


def _forged_by_linking(world, erased):
    """Linking publishes, beside its own, a key it holds whose id claims reports, and
    signs with it an answer claiming to be reports' (what reports would have said)."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    receipt, answers, _, event = erased
    published = _published(world)
    key, kid = Ed25519PrivateKey.generate(), "reports:0000forged000000"
    published["linking"]["keys"].append(jws.public_jwk(key.public_key(), kid))
    _, claims = jws.unverified(answers["reports"])
    forged = _receipt(world, {**answers, "reports": jws.sign(key, kid, claims, ANSWER_TYPE)},
                      events=[event.id])
    return forged, published


def test_a_key_in_one_services_key_set_cannot_sign_for_another(world, erased, tmp_path,
                                                              capsys):
    """Issue 30 review: the command took every --keys file into one pool and trusted the
    service a kid names, so a key published in linking's set verified an answer claiming
    reports. Now each set is its service's own, and one holding another's kid is refused."""
    forged, published = _forged_by_linking(world, erased)
    (tmp_path / "r.jws").write_text(forged + "\n")
    args = ["verify", str(tmp_path / "r.jws"), *_key_files(world, tmp_path, published)]
    assert receipts_cli(args) == 1
    out = capsys.readouterr().out
    assert "NOT VERIFIED" in out and "linking's key set holds keys of another service: " \
        "['reports:0000forged000000']" in out, out
    # With the sets bound, the forged key is in no set of reports'.
    with pytest.raises(InvalidReceipt, match="reports's answer: signed by an unknown key"):
        verify_receipt(forged, {"dsar": _keys(world)["dsar"],
                                "linking": _keys(world)["linking"],
                                "reports": _keys(world)["reports"]})


def test_a_key_set_is_bound_to_the_service_given(world, erased, tmp_path, capsys):
    receipt, _, _, _ = erased
    published = _published(world)
    (tmp_path / "r.jws").write_text(receipt + "\n")
    files = _key_files(world, tmp_path, published)
    paths = {name: str(tmp_path / f"{name}.json") for name in published}
    # SERVICE=FILE binds it; linking's set given as reports' is refused
    bound = [a for name, path in paths.items() for a in ("--keys", f"{name}={path}")]
    assert receipts_cli(["verify", str(tmp_path / "r.jws"), *bound]) == 0
    capsys.readouterr()
    swapped = bound[:]
    swapped[swapped.index(f"reports={paths['reports']}")] = f"reports={paths['linking']}"
    assert receipts_cli(["verify", str(tmp_path / "r.jws"), *swapped]) == 1
    assert "the key set given as reports's names linking as its service" \
        in capsys.readouterr().out
    # a JWKS that does not say whose it is must be given as SERVICE=FILE
    anonymous = {"keys": published["reports"]["keys"]}
    (tmp_path / "reports.json").write_text(json.dumps(anonymous))
    assert receipts_cli(["verify", str(tmp_path / "r.jws"), *files]) == 1
    assert "does not say whose it is" in capsys.readouterr().out

"""The passkey rules (services/identity/passkey_rules.py, issue 25) on genuine answers of
a software authenticator: what registers, what signs in, and every check that refuses."""
import copy

import pytest

from services.identity import passkey_rules as rules
from tests.passkey_authenticator import SoftAuthenticator, b64url

RP = rules.RelyingParty("localhost", ("http://localhost:8080",))


def registered(device=None):
    device = device or SoftAuthenticator("http://localhost:8080")
    challenge = rules.new_challenge()
    options = rules.registration_options(RP, challenge, "account-1", "a@b.example", [])
    new = rules.verify_registration(RP, device.create(options), challenge)
    return device, new


def assertion(device, **kwargs):
    challenge = rules.new_challenge()
    return challenge, device.get(rules.authentication_options(RP, challenge), **kwargs)


def test_options_ask_for_a_discoverable_credential_with_user_verification():
    options = rules.registration_options(RP, rules.new_challenge(), "account-1",
                                         "a@b.example", ["AAAA"])
    assert options["rp"] == {"id": "localhost", "name": "Pupil Progress"}
    assert options["authenticatorSelection"]["residentKey"] == "required"
    assert options["authenticatorSelection"]["userVerification"] == "required"
    assert options["excludeCredentials"][0]["id"] == "AAAA"  # no second copy on a device
    get = rules.authentication_options(RP, rules.new_challenge())
    assert get["userVerification"] == "required" and get["allowCredentials"] == []
    assert get["rpId"] == "localhost"


def test_a_registered_passkey_signs_and_its_counter_must_grow():
    device, new = registered()
    challenge, answer = assertion(device)
    count = rules.verify_assertion(RP, answer, challenge, new.public_key, new.sign_count)
    assert count == 1
    challenge, again = assertion(device)
    assert rules.verify_assertion(RP, again, challenge, new.public_key, count) == 2
    # A clone (or a replay) whose counter did not move past the stored one is refused.
    challenge, cloned = assertion(device)
    with pytest.raises(rules.PasskeyRefused):
        rules.verify_assertion(RP, cloned, challenge, new.public_key, 5)


def test_an_authenticator_without_a_counter_is_accepted():
    device, new = registered(SoftAuthenticator("http://localhost:8080", counts=False))
    challenge, answer = assertion(device)
    assert rules.verify_assertion(RP, answer, challenge, new.public_key, 0) == 0


def test_another_challenge_origin_or_rp_is_refused():
    device, new = registered()
    challenge, answer = assertion(device)
    with pytest.raises(rules.PasskeyRefused):  # answers another challenge
        rules.verify_assertion(RP, answer, rules.new_challenge(), new.public_key, 0)
    challenge, phished = assertion(device, origin="http://localhost.evil.example")
    with pytest.raises(rules.PasskeyRefused):
        rules.verify_assertion(RP, phished, challenge, new.public_key, 0)
    other = rules.RelyingParty("pp.example.org", ("http://localhost:8080",))
    challenge, answer = assertion(device)
    with pytest.raises(rules.PasskeyRefused):
        rules.verify_assertion(other, answer, challenge, new.public_key, 0)


def test_a_wrong_signature_or_another_key_is_refused():
    device, new = registered()
    _, other = registered()
    challenge, answer = assertion(device)
    with pytest.raises(rules.PasskeyRefused):
        rules.verify_assertion(RP, answer, challenge, other.public_key, 0)
    tampered = copy.deepcopy(answer)
    tampered["response"]["signature"] = b64url(b"\x30\x06\x02\x01\x01\x02\x01\x01")
    with pytest.raises(rules.PasskeyRefused):
        rules.verify_assertion(RP, tampered, challenge, new.public_key, 0)


def test_without_user_verification_nothing_registers_or_signs_in():
    lazy = SoftAuthenticator("http://localhost:8080", verifies_user=False)
    challenge = rules.new_challenge()
    options = rules.registration_options(RP, challenge, "account-1", "a@b.example", [])
    with pytest.raises(rules.PasskeyNotRegistered):
        rules.verify_registration(RP, lazy.create(options), challenge)
    device, new = registered()
    device.verifies_user = False
    challenge, answer = assertion(device)
    with pytest.raises(rules.PasskeyRefused):
        rules.verify_assertion(RP, answer, challenge, new.public_key, 0)


def test_a_registration_for_another_origin_or_challenge_is_refused():
    device = SoftAuthenticator("http://localhost:8080")
    challenge = rules.new_challenge()
    options = rules.registration_options(RP, challenge, "account-1", "a@b.example", [])
    with pytest.raises(rules.PasskeyNotRegistered):
        rules.verify_registration(RP, device.create(options, origin="https://evil.example"),
                                  challenge)
    with pytest.raises(rules.PasskeyNotRegistered):
        rules.verify_registration(RP, device.create(options), rules.new_challenge())
    with pytest.raises(rules.PasskeyNotRegistered):
        rules.verify_registration(RP, {"id": "x", "response": {}}, challenge)


@pytest.mark.parametrize("raw,kept", [("  My   phone ", "My phone"), ("Laptop", "Laptop"),
                                      ("é" * 60, "é" * 60)])
def test_passkey_names_are_trimmed(raw, kept):
    assert rules.passkey_name(raw) == kept


@pytest.mark.parametrize("raw", ["", "   ", "x" * 61, "bad\u0000name", "a\u202eb"])
def test_passkey_names_that_are_refused(raw):
    with pytest.raises(rules.PasskeyName):
        rules.passkey_name(raw)


def test_the_credential_id_and_user_handle_of_an_answer():
    assert rules.credential_id_of({"rawId": "AAEC"}) == "AAEC"
    for bad in ({}, {"rawId": 5}, {"rawId": "x" * 2000}):
        with pytest.raises(rules.PasskeyRefused):
            rules.credential_id_of(bad)
    assert rules.user_handle_of({"response": {"userHandle": b64url(b"acc-1")}}) == "acc-1"
    assert rules.user_handle_of({"response": {}}) is None

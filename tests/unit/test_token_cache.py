"""The verifier remembers tokens it verified (issue 13), and must never let that answer for
a token it would refuse: not once it has expired, not for any other text (a tampered
token), not past a key withdrawn from the key set; and it stays small."""
import base64
import json
import time

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from shared.auth import InvalidToken, TokenSigner, TokenVerifier, key_id

KEY = Ed25519PrivateKey.generate()
SCHOOL = "00000000-0000-4000-8000-00000000000a"


def keys():
    return {key_id(KEY.public_key()): KEY.public_key()}


class Counting(TokenVerifier):
    """A verifier that counts full verifications (signature, claims), cache misses."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.full = 0

    def _verify(self, token):
        self.full += 1
        return super()._verify(token)


def warm(verifier, token):
    """Verified until remembered (the verification that first loads the keys is not)."""
    for _ in range(2):
        verifier.verify(token)
    before = verifier.full
    principal = verifier.verify(token)
    assert verifier.full == before, "the token is served from the cache"
    return principal


def test_a_verified_token_is_served_from_the_cache_as_the_same_principal():
    verifier = Counting(keys)
    token = TokenSigner(KEY).issue("acc-1", "parent", [SCHOOL])
    principal = warm(verifier, token)
    assert (principal.account_id, principal.role, principal.school_ids) == (
        "acc-1", "parent", (SCHOOL,))


def test_an_expired_token_is_refused_though_it_is_cached():
    verifier = Counting(keys, leeway=0)
    token = TokenSigner(KEY, lifetime_seconds=2).issue("acc-1", "parent", [SCHOOL])
    warm(verifier, token)
    exp = json.loads(_segment(token, 1))["exp"]
    time.sleep(max(0.0, exp - time.time()) + 0.05)
    with pytest.raises(InvalidToken):
        verifier.verify(token)
    with pytest.raises(InvalidToken):  # and stays refused
        verifier.verify(token)


def test_any_other_token_text_is_verified_in_full():
    verifier = Counting(keys)
    signer = TokenSigner(KEY)
    token = signer.issue("acc-1", "parent", [SCHOOL])
    warm(verifier, token)
    head, payload, signature = token.split(".")
    forged = json.loads(_segment(token, 1)) | {"role": "operator", "sub": "acc-2"}
    tampered = {
        "payload changed": f"{head}.{_b64(json.dumps(forged).encode())}.{signature}",
        "signature changed": f"{head}.{payload}.{_b64(_segment(token, 2)[::-1])}",
        "foreign key, same claims": TokenSigner(Ed25519PrivateKey.generate()).issue(
            "acc-1", "parent", [SCHOOL]),
        "the token cut short": token[:-1],
        "the token and more": token + "x",
    }
    for name, text in tampered.items():
        before = verifier.full
        with pytest.raises(InvalidToken):
            verifier.verify(text)
        assert verifier.full == before + 1, name
    other = signer.issue("acc-2", "parent", [SCHOOL])  # another valid token: its own claims
    assert verifier.verify(other).account_id == "acc-2"
    assert verifier.verify(token).account_id == "acc-1"


def test_a_key_withdrawn_at_the_refresh_stops_its_cached_tokens():
    published = keys()
    verifier = Counting(lambda: dict(published))
    token = TokenSigner(KEY).issue("acc-1", "parent", [SCHOOL])
    warm(verifier, token)
    successor = Ed25519PrivateKey.generate().public_key()
    published.clear()  # rotated, and past the overlap
    published[key_id(successor)] = successor
    verifier.refresh()  # what the periodic refresh does
    with pytest.raises(InvalidToken):
        verifier.verify(token)


def test_the_periodic_key_refresh_verifies_cached_tokens_afresh():
    verifier = Counting(keys, refresh_seconds=0.2)
    token = TokenSigner(KEY).issue("acc-1", "parent", [SCHOOL])
    warm(verifier, token)
    time.sleep(0.25)
    before = verifier.full
    verifier.verify(token)
    assert verifier.full == before + 1


def test_the_cache_is_bounded_and_forgets_the_least_recently_used():
    verifier = Counting(keys, cache_size=3)
    signer = TokenSigner(KEY)
    tokens = [signer.issue(f"acc-{i}", "parent", [SCHOOL]) for i in range(6)]
    verifier.verify(tokens[0])  # loads the keys
    for token in tokens:
        verifier.verify(token)
    assert len(verifier._verified) == 3
    before = verifier.full
    for token in tokens[3:]:  # the three most recent: remembered
        verifier.verify(token)
    assert verifier.full == before
    verifier.verify(tokens[0])  # forgotten: verified again
    assert verifier.full == before + 1
    assert len(verifier._verified) == 3


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _segment(token: str, index: int) -> bytes:
    part = token.split(".")[index]
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

"""Identity rules alone: no Flask, no database."""
import datetime as dt

import pytest

from services.identity import domain


def test_the_hasher_makes_argon2id_at_owasp_minimum():
    stored = domain.password_hasher().hash("a-long-password")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert domain.verify_password(domain.password_hasher(), stored, "a-long-password")
    assert not domain.verify_password(domain.password_hasher(), stored, "a-wrong-password")
    assert not domain.verify_password(domain.password_hasher(), "not-a-hash", "x")
    assert not domain.verify_password(domain.password_hasher(), None, "x")


@pytest.mark.parametrize("password", ["short", "a" * 12, "x" * 257, "          "])
def test_weak_passwords_are_refused(password):
    with pytest.raises(domain.WeakPassword):
        domain.check_password_rules(password)


def test_a_reasonable_password_passes():
    domain.check_password_rules("correct horse battery")


def test_the_pair_lock_grows_and_is_capped():
    policy = domain.ThrottlePolicy()
    locks = [policy.pair_lock(n) for n in range(0, 40)]
    assert all(lock == dt.timedelta(0) for lock in locks[:5])  # a few free typos
    assert locks[5] == dt.timedelta(seconds=1) and locks[6] == dt.timedelta(seconds=2)
    assert locks == sorted(locks)
    assert max(locks) == policy.pair_max_lock == dt.timedelta(minutes=15)


def test_wrong_codes_lock_the_account_after_its_free_ones_for_up_to_an_hour():
    policy = domain.ThrottlePolicy()
    locks = [policy.factor_account_lock(n) for n in range(0, 40)]
    free = policy.factor_account_free_failures
    assert free > policy.pair_free_failures  # one address's typos never lock the account
    assert all(lock == dt.timedelta(0) for lock in locks[:free])
    assert locks[free] == dt.timedelta(seconds=1) and locks == sorted(locks)
    assert max(locks) == policy.factor_account_max_lock == dt.timedelta(hours=1)


def test_a_code_s_pair_is_keyed_apart_from_the_password_s():
    key = b"k" * 32
    assert (domain.factor_address_digest(key, "203.0.113.9")
            != domain.address_digest(key, "203.0.113.9"))
    assert (domain.factor_address_digest(key, "2001:db8:1:2::1")
            == domain.factor_address_digest(key, "2001:db8:1:2::ffff"))  # the same /64
    assert domain.FACTOR_ACCOUNT_WIDE != domain.address_digest(key, "unknown")


def test_an_address_is_refused_only_past_its_budget_and_only_within_its_window():
    policy = domain.ThrottlePolicy()
    start = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    within = start + dt.timedelta(minutes=5)
    assert policy.address_refused(start, 49, within) is None
    assert policy.address_refused(start, 50, within) == start + policy.address_window
    assert policy.address_refused(start, 500, start + policy.address_window) is None


@pytest.mark.parametrize("address, key", [
    ("203.0.113.9", "203.0.113.9"),
    ("2001:db8:1:2:aaaa::1", "2001:db8:1:2::/64"),
    ("2001:db8:1:2:ffff:ffff:ffff:ffff", "2001:db8:1:2::/64"),
    ("unknown", "unknown"),
])
def test_limits_count_per_ipv4_address_and_per_ipv6_64(address, key):
    assert domain.throttle_key(address) == key


def test_an_address_is_stored_as_a_keyed_hash_of_its_throttle_key():
    """Without the deployment's key a stored hash names no address (an unkeyed SHA-256
    of an IPv4 address falls to hashing all 2^32); one /64 still counts as one."""
    import hashlib
    key, other = b"k" * 32, b"o" * 32
    stored = domain.address_digest(key, "203.0.113.9")
    assert stored != hashlib.sha256(b"203.0.113.9").hexdigest()
    assert stored != domain.address_digest(other, "203.0.113.9")
    assert stored == domain.address_digest(key, "203.0.113.9")
    assert (domain.address_digest(key, "2001:db8:1:2::1")
            == domain.address_digest(key, "2001:db8:1:2:ffff::7"))


def test_secrets_are_url_safe_random_and_stored_as_hashes():
    first, second = domain.new_secret(), domain.new_secret()
    assert first != second and len(first) >= 40
    assert set(first) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert domain.hash_secret(first) != first and len(domain.hash_secret(first)) == 64


def test_emails_are_one_login_whatever_their_case():
    assert domain.normalise_email("  Pat@Example.ORG ") == "pat@example.org"


def test_seconds_until_rounds_up_and_is_never_zero():
    now = dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)
    assert domain.seconds_until(now + dt.timedelta(seconds=1.2), now) == 2
    assert domain.seconds_until(now, now) == 1

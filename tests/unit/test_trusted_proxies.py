"""The client address behind a configured chain of trusted proxies (shared.proxies)."""
import pytest

from shared.config import ConfigError, Settings
from shared.proxies import TrustedProxies

GATEWAY = "10.1.2.3"
PROXIES = TrustedProxies.parse("10.0.0.0/8, 127.0.0.1")


def test_nobody_is_trusted_unless_configured():
    proxies = Settings.from_env({}).trusted_proxies
    assert proxies == TrustedProxies()
    assert proxies.client_address("127.0.0.1", "203.0.113.9") == "127.0.0.1"


def test_a_trusted_peer_names_the_client():
    assert PROXIES.client_address(GATEWAY, "203.0.113.9") == "203.0.113.9"
    assert PROXIES.client_address("127.0.0.1", " 203.0.113.9 ") == "203.0.113.9"


def test_a_header_from_anyone_else_is_ignored():
    assert PROXIES.client_address("198.51.100.4", "203.0.113.9") == "198.51.100.4"
    assert PROXIES.client_address("198.51.100.4", "10.0.0.1") == "198.51.100.4"


def test_the_chain_is_walked_from_the_right_past_trusted_hops_only():
    # The client forged the leftmost entries; its own address is what the first trusted
    # proxy appended.
    forged = "1.1.1.1, 127.0.0.1, 203.0.113.9, 10.9.9.9"
    assert PROXIES.client_address(GATEWAY, forged) == "203.0.113.9"
    # Every hop trusted: the leftmost is as far as anyone can tell.
    assert PROXIES.client_address(GATEWAY, "10.0.0.7, 10.0.0.8") == "10.0.0.7"


def test_no_header_or_a_broken_hop_stops_at_the_last_trusted_address():
    assert PROXIES.client_address(GATEWAY, None) == GATEWAY
    assert PROXIES.client_address(GATEWAY, "") == GATEWAY
    assert PROXIES.client_address(GATEWAY, "203.0.113.9, not-an-ip") == GATEWAY
    assert PROXIES.client_address(GATEWAY, "203.0.113.9:4431") == GATEWAY
    assert PROXIES.client_address(GATEWAY, "unknown, 10.0.0.5") == "10.0.0.5"


def test_ipv6_and_ipv4_written_as_ipv6():
    proxies = TrustedProxies.parse("fd00::/8")
    assert proxies.client_address("fd00::1", "2001:db8::42") == "2001:db8::42"
    assert proxies.client_address("2001:db8::1", "2001:db8::42") == "2001:db8::1"
    assert PROXIES.client_address("::ffff:10.1.2.3", "203.0.113.9") == "203.0.113.9"
    assert PROXIES.client_address("::ffff:198.51.100.4", None) == "198.51.100.4"


def test_a_peer_that_is_not_an_address_is_passed_through():
    assert PROXIES.client_address(None, "203.0.113.9") == "unknown"
    assert PROXIES.client_address("", "203.0.113.9") == "unknown"


def test_settings_parse_addresses_and_cidrs_and_refuse_anything_else():
    parsed = Settings.from_env({"PP_TRUSTED_PROXIES": "127.0.0.1,172.30.80.0/24 fd00::/8"})
    assert str(parsed.trusted_proxies) == "127.0.0.1/32,172.30.80.0/24,fd00::/8"
    with pytest.raises(ConfigError, match="PP_TRUSTED_PROXIES.*nginx"):
        Settings.from_env({"PP_TRUSTED_PROXIES": "10.0.0.0/8,nginx"})

"""Services are given every node of a RabbitMQ cluster: PP_BROKER_URL takes several URLs
(`;`-separated, or a list in code), and a connection fails over to the next node when one
does not answer (tests/integration/test_broker_cluster_real.py: on a real cluster)."""
import socket

import pytest
from kombu.exceptions import OperationalError

from shared.config import ConfigError, Settings
from shared.messaging.publisher import broker_connection, connect

A = "amqp://pp:secret@rabbit-a:5672/%2F"
B = "amqp://pp:secret@rabbit-b:5672/%2F"
C = "amqps://pp:secret@rabbit-c:5671/%2F"


def test_a_cluster_is_given_as_semicolon_separated_urls():
    settings = Settings.from_env({"PP_BROKER_URL": f" {A};\n {B} ; {C};"})
    assert settings.broker_url == f"{A};{B};{C}"
    assert settings.broker_urls == [A, B, C]


def test_a_cluster_is_given_as_a_list_in_code():
    assert Settings(broker_url=[A, B]).broker_url == f"{A};{B}"  # type: ignore[arg-type]


def test_one_url_and_the_embedded_broker_are_unchanged():
    assert Settings.from_env({"PP_BROKER_URL": A}).broker_urls == [A]
    assert Settings.from_env({}).broker_url == "memory://"


@pytest.mark.parametrize("value", [f"{A};memory://", f"{A};http://rabbit-b", ";"])
def test_a_node_that_is_not_amqp_is_a_config_error(value):
    with pytest.raises(ConfigError, match="PP_BROKER_URL"):
        Settings.from_env({"PP_BROKER_URL": value})


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_connect_tries_each_node_once_in_order_then_gives_up():
    """Three nodes that refuse: one try each, no pause between them, then the error."""
    urls = [f"amqp://guest:guest@127.0.0.1:{_closed_port()}//" for _ in range(3)]
    conn = broker_connection(";".join(urls))
    tried = []
    real_switch = conn.switch

    def switch(url):
        tried.append(url)
        real_switch(url)
    conn.switch = switch  # type: ignore[method-assign]
    with pytest.raises(OperationalError):
        connect(conn, timeout=1)
    assert tried == urls[1:]  # the first node, then the next two, once each
    conn.release()

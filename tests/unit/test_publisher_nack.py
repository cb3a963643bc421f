"""A publisher whose message the broker nacks, or whose connection fails, drops that
connection: the next publish connects afresh (to whichever node of a cluster answers)
instead of going on with a channel on a node that is going or gone (the leader killed
in tests/integration/test_broker_cluster_real.py)."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import replace

from shared.config import Settings
from shared.messaging.publisher import NACKED, BrokerPublisher, Message


class FakeConnection:
    """One broker connection: each publish is settled (ack or nack, as `answers` says)
    when the publisher drains events, or the drain fails as a dead socket would."""

    def __init__(self, answers: list[str]):
        self.answers = answers
        self.events: dict[str, set] = defaultdict(set)
        self.published: list[str] = []
        self.released = False

    def basic_publish(self, message, exchange, routing_key, mandatory):
        self.published.append(message.properties["message_id"])

    def drain_events(self, timeout):
        answer = self.answers.pop(0)
        if answer == "dead":
            raise ConnectionResetError("connection reset by peer")
        for callback in list(self.events[f"basic_{answer}"]):
            callback(len(self.published), False)

    def release(self):
        self.released = True


def _publisher(answers_per_connection: list[list[str]]):
    publisher = BrokerPublisher(replace(Settings(), broker_url="amqp://a:5672;amqp://b:5672"))
    made: list[FakeConnection] = []

    def connect():
        conn = FakeConnection(answers_per_connection[len(made)])
        made.append(conn)
        publisher._conn, publisher._channel, publisher._next_tag = conn, conn, 0
        publisher.connects += 1
        return conn
    publisher._connect = connect
    return publisher, made


def test_a_nacked_message_fails_and_the_next_publish_uses_a_new_connection():
    publisher, made = _publisher([["nack"], ["ack"]])
    first = publisher.publish_many([Message("k", "{}", "m1")])
    assert first.failed == {"m1": NACKED} and not first.confirmed
    assert made[0].released and publisher._conn is None  # dropped at once
    second = publisher.publish_many([Message("k", "{}", "m1")])
    assert second.confirmed == ["m1"]
    assert publisher.connects == 2 and made[1].published == ["m1"]


def test_a_failed_connection_is_dropped_too():
    publisher, made = _publisher([["dead"], ["ack"]])
    failed = publisher.publish_many([Message("k", "{}", "m1")]).failed
    assert "ConnectionResetError" in failed["m1"]
    assert made[0].released
    assert publisher.publish_many([Message("k", "{}", "m1")]).confirmed == ["m1"]
    assert publisher.connects == 2


def test_confirmed_messages_keep_the_connection():
    publisher, made = _publisher([["ack", "ack"]])
    assert publisher.publish_many([Message("k", "{}", "m1")]).confirmed == ["m1"]
    assert publisher.publish_many([Message("k", "{}", "m2")]).confirmed == ["m2"]
    assert publisher.connects == 1 and not made[0].released

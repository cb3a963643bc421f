"""The senders' kept SMTP connections (issue 27), on PostgreSQL and the real broker, against
an SMTP server on loopback (aiosmtpd) that counts its connections and drops one mid-batch:
N mails go over PP_SMTP_CONNECTIONS connections, each mail once; two senders keep to the
hourly cap together; a dropped connection loses no mail, and sends none twice except the
one SMTP itself leaves in doubt (accepted, its answer lost)."""
import asyncio
import email
import threading
import uuid
from dataclasses import replace

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from services.notifications import templates
from services.notifications.app import SPEC
from services.notifications.service import Mail
from shared.service import ServiceRuntime
from shared.worker import run_threads
from tests.support import free_port, wait_for

pytestmark = pytest.mark.integration
SCHOOL = str(uuid.uuid4())


class CountingInbox:
    """Counts connections (each EHLO) and keeps every message accepted. `drop_at`: the
    n-th DATA (from 1) has its connection closed, the message not taken (`accept_then_drop`:
    taken, its answer lost); `down` afterwards: new connections closed at EHLO."""

    def __init__(self, drop_at: int | None = None, accept_then_drop: bool = False,
                 down_after_drop: bool = False, data_seconds: float = 0.0):
        self.port = free_port()
        self.connections = 0
        self.datas = 0
        self.messages: list[email.message.Message] = []
        self.down = False
        self.drop_at, self.accept_then_drop = drop_at, accept_then_drop
        self.down_after_drop = down_after_drop
        self.data_seconds = data_seconds  # a slow relay: each message's answer waits this
        self.lock = threading.Lock()
        self.controller = Controller(self, hostname="127.0.0.1", port=self.port)

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        if self.down:
            server.transport.close()
            return []
        session.host_name = hostname
        with self.lock:
            self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        if self.data_seconds:
            await asyncio.sleep(self.data_seconds)
        with self.lock:
            self.datas += 1
            dropping = self.datas == self.drop_at
            if not dropping or self.accept_then_drop:
                self.messages.append(email.message_from_bytes(envelope.content))
            if dropping:
                self.down = self.down_after_drop
                server.transport.close()
        return "250 OK"

    def received(self) -> list[str]:
        with self.lock:
            return [m["To"] for m in self.messages]


@pytest.fixture
def sender(broker_settings, new_database, tmp_path):
    """The notifications service on PostgreSQL and the broker, pointed at an inbox the
    test starts; `queue(n)` queues n report mails to distinct parents."""
    made = {}

    def make(inbox: CountingInbox, connections: int = 1):
        inbox.controller.start()
        settings = replace(broker_settings, data_dir=tmp_path, smtp_host="127.0.0.1",
                           smtp_port=inbox.port, smtp_connections=connections,
                           database_urls={"notifications": new_database("notifications")})
        rt = made["rt"] = ServiceRuntime(SPEC, settings)
        made["inbox"] = inbox
        rt.start()
        service = rt.context.use_cases.notifications
        service.retry_base_seconds = 0.05
        return rt, service

    yield make
    if "rt" in made:
        made["rt"].context.use_cases.notifications.mailer.close()
        made["rt"].engine.dispose()
    if "inbox" in made:
        made["inbox"].controller.stop()


def queue(rt, service, count: int, one_parent: bool = False) -> list[str]:
    """`count` report mails, to as many parents or (`one_parent`) all to one."""
    message = templates.report_published("https://pp.example", "Pat", "Autumn", "2026", "r1")
    parents = [0] * count if one_parent else list(range(count))
    addresses = [f"parent{p}@example.org" for p in parents]
    with rt.context.sessions() as session, session.begin():
        service._queue_many(session, [
            Mail(str(uuid.uuid4()), f"account:{p}", SCHOOL, "report", address, message,
                 student_id=f"s{i}", guardian_id=f"g{p}", report_id=f"r{i}")
            for i, (p, address) in enumerate(zip(parents, addresses))])
    return addresses


def run_worker_until(rt, done, message: str) -> None:
    stop = threading.Event()
    threads = run_threads(rt.build_workers(), stop)
    try:
        wait_for(done, timeout=60, message=message)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=15)


def statuses(rt) -> dict[str, int]:
    with rt.engine.connect() as conn:
        return dict(conn.execute(sa.text(
            "SELECT status, count(*) FROM deliveries GROUP BY status")).all())


@pytest.mark.parametrize("connections", [1, 3])
def test_the_worker_sends_n_mails_over_its_smtp_connections_each_once(sender, connections):
    # A relay slow enough that every sender has a batch under way at once.
    rt, service = sender(inbox := CountingInbox(data_seconds=0.005), connections)
    addresses = queue(rt, service, 320)  # more than a batch (50) for each sender
    run_worker_until(rt, lambda: statuses(rt) == {"sent": 320}, "all sent")
    assert sorted(inbox.received()) == sorted(addresses)  # each once
    assert inbox.connections == connections


def test_two_senders_keep_to_the_hourly_cap_together(sender):
    """Each sender claims a batch of one parent's mail at once (no row of the other's);
    the second counts the first's sends only once they are committed: 20 in all, not 20
    each."""
    rt, service = sender(inbox := CountingInbox(data_seconds=0.005), 2)
    queue(rt, service, 100, one_parent=True)
    run_worker_until(rt, lambda: "pending" not in statuses(rt), "every mail handled")
    assert statuses(rt) == {"sent": 20, "skipped": 80}  # the rest held back by the cap
    assert len(inbox.received()) == service.per_recipient_per_hour == 20


def test_a_connection_dropped_mid_batch_is_reopened_and_no_mail_lost_or_doubled(sender):
    rt, service = sender(inbox := CountingInbox(drop_at=10))
    addresses = queue(rt, service, 30)
    assert service.send_due(rt.context.sessions) == 30
    assert statuses(rt) == {"sent": 30}
    assert sorted(inbox.received()) == sorted(addresses)  # each once
    assert inbox.connections == 2


def test_a_connection_that_stays_down_leaves_the_rest_due_and_they_go_once_back(sender):
    rt, service = sender(inbox := CountingInbox(drop_at=10, down_after_drop=True))
    addresses = queue(rt, service, 30)
    before = service.clock()
    assert service.send_due(rt.context.sessions) == 10  # 9 sent, the 10th failed for now
    with rt.engine.connect() as conn:
        rows = conn.execute(sa.text(
            "SELECT status, attempts, next_attempt_at > :before AS later FROM deliveries"),
            {"before": before}).all()
    assert sorted(map(tuple, rows)).count(("sent", 1, False)) == 9
    assert [r for r in rows if r.status == "pending" and r.attempts == 1] == [
        ("pending", 1, True)]  # retried with backoff
    assert len([r for r in rows if r.status == "pending" and r.attempts == 0
                and not r.later]) == 20  # untouched, due
    assert len(inbox.received()) == 9
    inbox.down = False
    wait_for(lambda: service.send_due(rt.context.sessions) == 0
             and statuses(rt) == {"sent": 30}, timeout=30, message="the rest sent")
    assert sorted(inbox.received()) == sorted(addresses)  # each exactly once


def test_a_mail_accepted_whose_answer_was_lost_is_the_only_one_sent_twice(sender):
    rt, service = sender(inbox := CountingInbox(drop_at=10, accept_then_drop=True))
    addresses = queue(rt, service, 30)
    assert service.send_due(rt.context.sessions) == 30
    assert statuses(rt) == {"sent": 30}
    received = inbox.received()
    assert sorted(set(received)) == sorted(addresses)
    assert len(received) == 31  # SMTP's own window: the 10th, whose 250 never came back

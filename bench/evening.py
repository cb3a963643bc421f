"""Publication evening: a school publishes its reports to 3,000 parents and a third of them
open the app within the same minute, on the local stack, with every report email counted at
a local SMTP server; the sender beside bare smtplib, in one run.

    make bench            (or: .venv/bin/python -m bench.evening [--quick] [--parents N])

Setup: one school of `--parents` students (300 with --quick), each with a parent who has
activated their account and verified their link (bench.load's sign-up), on the local stack
(deploy/stack.py, as bench.load) whose mail goes to an aiosmtpd server in this process.
Then the school publishes the period: one report per student, one email per parent. From
that moment a third of the parents, picked at random, open the app at random instants
within the minute (20 s with --quick): the child's report list, then the report, each
parent from its own address and with its own token. Figures: the reads' p50 and p99 and
every status other than 200 (target 0); the report emails the server received (target:
all); the sender's rate from the first report email to the last, beside bare smtplib
sending the same messages (built the same way) over one reused connection to the same
server afterwards (target, issue 27: ≥ 0.7×); and the time from publishing to the last
email.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import random
import re
import smtplib
import threading
import time
import uuid
from urllib.parse import unquote

from aiosmtpd.controller import Controller

from bench.common import Figure, free_port, table
from bench.load import pct, publish, sign_up
from bench.stack_world import Client, Stack, classes_and_marks, students, wait
from services.notifications import templates
from services.notifications.mailer import build_message
from shared.config import Settings

GROUP = "evening"
REPORT_SUBJECT = b"\nSubject: A new report"


class MailSink:
    """An SMTP server's handler: invitations' activation tokens by address, and the instant
    (perf_counter) each report email arrived."""

    def __init__(self) -> None:
        self.invitations: dict[str, str] = {}
        self.reports: list[float] = []
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        content = envelope.original_content or envelope.content
        if REPORT_SUBJECT in content:
            self.reports.append(time.perf_counter())
        elif b"activate?token=" in content.replace(b"=\r\n", b""):
            message = email.message_from_bytes(content, policy=email.policy.default)
            text = message.get_body(("plain",)).get_content()
            found = re.search(r"activate\?token=([A-Za-z0-9_%-]+)", text)
            if found:
                for address in envelope.rcpt_tos:
                    self.invitations[address.lower()] = unquote(found.group(1))
        return "250 OK"


class EveningStack(Stack):
    """The local stack whose mail goes to `sink` over SMTP (invitations read from there)."""

    def __init__(self, sink: MailSink, port: int):
        super().__init__(label="evening", env={"PP_SMTP_HOST": "127.0.0.1",
                                                "PP_SMTP_PORT": str(port)})
        self.sink = sink

    def invitation(self, address: str) -> str:
        token: str = wait("an invitation", lambda: self.sink.invitations.get(address.lower()),
                          timeout=600, every=0.05)
        return token


def opening(parents: dict[str, tuple[str, Client]], share: float, seconds: float,
            threads: int = 64) -> tuple[list[float], list[int]]:
    """`share` of the parents, each at a random instant within `seconds` from now, open the
    app: their child's report list, then the newest report. Each open's latency, and every
    status other than 200."""
    chosen = random.Random(27).sample(sorted(parents), round(len(parents) * share))
    moments = sorted((random.Random(sid).uniform(0, seconds), sid) for sid in chosen)
    todo = iter(moments)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[int] = []
    start = time.perf_counter()

    def reader() -> None:
        while True:
            with lock:
                moment, sid = next(todo, (None, ""))
            if moment is None:
                return
            time.sleep(max(0.0, start + moment - time.perf_counter()))  # its instant
            token, client = parents[sid]
            began = time.perf_counter()
            status, body = client.call("GET", f"/api/v1/students/{sid}/reports", token)
            if status == 200 and body["items"]:
                status, _ = client.call("GET", f"/api/v1/reports/{body['items'][0]['id']}",
                                        token)
            elif status == 200:
                status = 404  # published, yet not in the list
            latencies.append(time.perf_counter() - began)
            if status != 200:
                errors.append(status)
    pool = [threading.Thread(target=reader, daemon=True) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return latencies, errors


def bare_smtplib(port: int, count: int) -> float:
    """Seconds bare smtplib takes to send `count` report emails, built as the service
    builds them, over one connection."""
    settings = Settings.from_env({})
    message = templates.report_published(settings.public_url, "Lou Reed", "Autumn",
                                         "Autumn 2026", str(uuid.uuid4()), child="Sam Reed")
    start = time.perf_counter()
    with smtplib.SMTP("127.0.0.1", port, timeout=30) as client:
        for i in range(count):
            mail = build_message(settings, f"ps{i}@bench.example", message.subject,
                                 message.text, message.html, str(uuid.uuid4()))
            client.sendmail(mail.envelope_from, [mail.to], mail.as_bytes(linesep="\r\n"),
                            ["BODY=8BITMIME"])
    return time.perf_counter() - start


def figures(quick: bool = False, parents: int | None = None) -> list[Figure]:
    parents = parents or (300 if quick else 3000)
    seconds = 20.0 if quick else 60.0
    sink, port = MailSink(), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        stack = EveningStack(sink, port)
        try:
            stack.up()
            _, admin, system = stack.school("Evening School")
            stack.push(system, students(parents, "S", True)
                       + classes_and_marks([f"S{n}" for n in range(parents)]))
            started = time.perf_counter()
            tokens = sign_up(stack, parents)
            for _, client in tokens.values():
                client.conn.close()  # opened again on its next request
            print(f"evening: {parents} parents signed up in "
                  f"{time.perf_counter() - started:.0f} s", flush=True)
            stack.wait_applied()  # every student's marks in reports: all of them published
            opened, published_at = sink.connections, time.perf_counter()
            assert publish(stack, admin) == parents
            latencies, errors = opening(tokens, 1 / 3, seconds)
            wait("every report email", lambda: len(sink.reports) >= parents, timeout=1800,
                 every=0.2)
            mails, connections = sorted(sink.reports), sink.connections - opened
        finally:
            stack.cleanup()
        bare = bare_smtplib(port, parents)
    finally:
        controller.stop()
    return results(parents, seconds, latencies, errors, mails, published_at, bare, connections)


def results(parents: int, seconds: float, latencies: list[float], errors: list[int],
            mails: list[float], published_at: float, bare: float,
            connections: int) -> list[Figure]:
    if errors:
        print(f"evening: error statuses {sorted(set(errors))}")
    who = f"{len(latencies):,} of {parents:,} parents within {seconds:g} s"
    sending = max(mails[-1] - mails[0], 1e-9)
    return [
        Figure(GROUP, f"report emails received by the SMTP server ({parents:,} published)",
               len(mails), "emails", "reports published", parents, target=1),
        Figure(GROUP, "report emails sent by the stack (first to last, during the reads)",
               (len(mails) - 1) / sending, "emails/s",
               "bare smtplib, the same messages over one connection", parents / bare,
               target=0.7),
        Figure(GROUP, "publishing to the last report email received", mails[-1] - published_at,
               "s"),
        # Many: the sender found nothing due between the events' arrivals (it waits, then
        # opens a new connection); its rate is then the pipeline's.
        Figure(GROUP, "SMTP connections the stack opened for them",
               connections, "connections"),
        Figure(GROUP, f"app opened (report list + report) p50 ({who})", pct(latencies, 0.5),
               "ms"),
        Figure(GROUP, "app opened p99 (the same)", pct(latencies, 0.99), "ms"),
        Figure(GROUP, "opens answered other than 200", len(errors), "errors", target=0,
               higher_is_better=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="300 parents, 100 open in 20 s")
    parser.add_argument("--parents", type=int)
    args = parser.parse_args()
    print(table(figures(quick=args.quick, parents=args.parents)))


if __name__ == "__main__":
    main()

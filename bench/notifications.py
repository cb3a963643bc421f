"""Report emails per second to a local SMTP server, beside bare smtplib, in one run.

    make bench            (or: .venv/bin/python -m bench.notifications --emails 3000)

3,000 report emails to distinct parents of one school are queued as ReportPublished would
queue them, then the worker's senders deliver them (due rows claimed a batch at a time,
checked for restrictions, erasures, objections, opt-outs and the hourly cap, sent over
each sender's kept SMTP connection, PP_SMTP_CONNECTIONS of them, marked sent and
blanked) to an aiosmtpd server on loopback, on PostgreSQL (PP_TEST_DATABASE_URL; a
database of its own, dropped after). The baseline is what a mail engineer would write:
bare smtplib sending the same messages (built the same way) over one connection. Target
(issue 27): the senders at ≥ 0.7× of it.
"""
from __future__ import annotations

import argparse
import os
import smtplib
import tempfile
import threading
import time
import uuid
from dataclasses import replace

from aiosmtpd.controller import Controller

from bench.common import Figure, free_port, table, temporary_database
from services.notifications import templates
from services.notifications.app import SPEC
from services.notifications.bootstrap import senders
from services.notifications.mailer import build_message
from services.notifications.service import Mail
from shared.config import Settings
from shared.service import ServiceRuntime


class Sink:
    """Counts messages and connections (each EHLO); `all_in` is set at the `expected`th
    message."""

    def __init__(self, expected: int):
        self.count = 0
        self.connections = 0
        self.expected = expected
        self.all_in = threading.Event()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.connections += 1
        return responses

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        if self.count == self.expected:
            self.all_in.set()
        return "250 OK"


def figures(quick: bool = False, emails: int | None = None) -> list[Figure]:
    emails = emails or (300 if quick else 3000)
    sink, port = Sink(emails), free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    url, drop_database = temporary_database("notifications")
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            # PP_SMTP_CONNECTIONS as the worker reads it (unset: the default).
            settings = replace(Settings.from_env({
                "PP_DATA_DIR": data_dir,
                "PP_SMTP_CONNECTIONS": os.environ.get("PP_SMTP_CONNECTIONS", "")}),
                database_urls={"notifications": url}, smtp_host="127.0.0.1", smtp_port=port)
            rt = ServiceRuntime(SPEC, settings)
            rt.start()
            service = rt.context.use_cases.notifications
            message = templates.report_published(settings.public_url, "Pat Parent",
                                                 "Autumn report", "2026 Autumn", "r-1")
            school = str(uuid.uuid4())
            with rt.context.sessions() as session, session.begin():
                service._queue_many(session, [
                    Mail(str(uuid.uuid4()), f"account:{i}", school, "report",
                         f"parent{i}@example.org", message, student_id=f"student-{i}",
                         guardian_id=f"guardian-{i}", report_id=f"report-{i}")
                    for i in range(emails)])
            stop = threading.Event()
            loops = [threading.Thread(target=run, args=(stop,), name=name)
                     for name, run in senders(rt.context)]
            start = time.perf_counter()
            for loop in loops:
                loop.start()
            sink.all_in.wait(timeout=600)
            sender = time.perf_counter() - start
            stop.set()
            for loop in loops:
                loop.join()
            delivered, connections = sink.count, sink.connections
            rt.engine.dispose()

            start = time.perf_counter()
            with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                for i in range(emails):
                    mail = build_message(settings, f"parent{i}@example.org", message.subject,
                                         message.text, message.html, str(uuid.uuid4()))
                    client.sendmail(mail.envelope_from, [mail.to],
                                    mail.as_bytes(linesep="\r\n"), ["BODY=8BITMIME"])
            bare = time.perf_counter() - start
    finally:
        controller.stop()
        drop_database()
    assert delivered == emails and connections == len(loops), (delivered, emails, connections)
    return [Figure("notifications", f"report emails by the service's senders ({emails:,}: due "
                   f"rows checked, SMTP over {len(loops)} kept connections, marked sent and "
                   "blanked)",
                   emails / sender, "emails/s", "bare smtplib, one connection for them all",
                   emails / bare, target=0.7), build_cost(emails)]


def build_cost(emails: int) -> Figure:
    """CPU a mail costs to build and write (issue 27: the largest user while a school's
    invitations go out): build_message and bytes(), as the sender does for each, for a
    bilingual (Welsh first) invitation; the best of five rounds."""
    settings = Settings.from_env({})
    mail = templates.invitation(settings.public_url, "Siân Rhiant", "t" * 43, "parent",
                                school=templates.School(name="Ysgol Gymraeg Gŵyr"),
                                languages=["cy", "en"])
    language = templates.content_language(mail.html)
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for i in range(emails):
            bytes(build_message(settings, f"parent{i}@example.org", mail.subject, mail.text,
                                mail.html, str(uuid.uuid4()), None, language))
        rounds.append((time.process_time() - start) / emails)
    return Figure("notifications", "CPU to build and write one invitation mail (Welsh and "
                  "English, .eml bytes)", min(rounds) * 1e6, "µs", higher_is_better=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=3000)
    args = parser.parse_args()
    print(table(figures(emails=args.emails)))


if __name__ == "__main__":
    main()

"""Report emails per second to a local SMTP server, beside bare smtplib, in one run.

    make bench            (or: .venv/bin/python -m bench.notifications --emails 3000)

3,000 report emails to distinct parents are queued as ReportPublished would queue them,
then the service's sender delivers them (a transaction per message, the address and body
blanked once sent) to an aiosmtpd server on loopback, on PostgreSQL
(PP_TEST_DATABASE_URL; a database of its own, dropped after). The baseline sends the same
messages with bare smtplib, one connection each, as the sender does.
"""
from __future__ import annotations

import argparse
import smtplib
import tempfile
import time
import uuid
from dataclasses import replace

from aiosmtpd.controller import Controller

from bench.common import Figure, table, temporary_database
from services.notifications import templates
from services.notifications.app import SPEC
from services.notifications.mailer import build_message
from shared.config import Settings
from shared.service import ServiceRuntime


class Sink:
    def __init__(self):
        self.count = 0

    async def handle_DATA(self, server, session, envelope):
        self.count += 1
        return "250 OK"


def _free_port() -> int:
    import socket
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def figures(quick: bool = False, emails: int | None = None) -> list[Figure]:
    emails = emails or (300 if quick else 3000)
    sink, port = Sink(), _free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    url, drop_database = temporary_database("notifications")
    try:
        with tempfile.TemporaryDirectory() as data_dir:
            settings = replace(Settings.from_env({"PP_DATA_DIR": data_dir}),
                               database_urls={"notifications": url}, smtp_host="127.0.0.1",
                               smtp_port=port)
            rt = ServiceRuntime(SPEC, settings)
            rt.start()
            service = rt.context.use_cases.notifications
            message = templates.report_published(settings.public_url, "Pat Parent",
                                                 "Autumn report", "2026 Autumn", "r-1")
            with rt.context.sessions() as session, session.begin():
                for i in range(emails):
                    service._queue(session, str(uuid.uuid4()), f"account:{i}", None, "report",
                                   f"parent{i}@example.org", message)
            start = time.perf_counter()
            while service.send_due(rt.context.sessions):
                pass
            sender = time.perf_counter() - start
            delivered = sink.count
            rt.engine.dispose()

            start = time.perf_counter()
            for i in range(emails):
                with smtplib.SMTP("127.0.0.1", port, timeout=10) as client:
                    client.send_message(build_message(settings, f"parent{i}@example.org",
                                                      message.subject, message.text,
                                                      message.html, str(uuid.uuid4())))
            bare = time.perf_counter() - start
    finally:
        controller.stop()
        drop_database()
    assert delivered == emails, (delivered, emails)
    return [Figure("notifications", f"report emails by the service's sender ({emails:,}: due "
                   "row, SMTP, marked sent and blanked)", emails / sender, "emails/s",
                   "bare smtplib, a connection per message", emails / bare)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--emails", type=int, default=3000)
    args = parser.parse_args()
    print(table(figures(emails=args.emails)))


if __name__ == "__main__":
    main()

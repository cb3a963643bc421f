"""8-bit text over SMTP (RFC 6152): a Welsh mail with short lines is 8bit; it goes with
BODY=8BITMIME to a server that offers 8BITMIME, and 7-bit clean (quoted-printable) to one
that does not. Either way the mail reads the same. Against aiosmtpd on loopback."""
from __future__ import annotations

import email
import threading
from dataclasses import replace
from email import policy

import pytest
from aiosmtpd.controller import Controller

from services.notifications.mailer import Mailer, build_message
from shared.config import Settings
from tests.support import free_port

TEXT = "Helo Siân, diolch.\n"  # short lines, Welsh letters: 8bit where it may be


class Inbox:
    def __init__(self) -> None:
        self.received: list[tuple[list[str], bytes]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append((list(envelope.mail_options), envelope.original_content))
        return "250 OK"


@pytest.fixture(params=[True, False], ids=["8bitmime", "no-8bitmime"])
def server(request):
    """aiosmtpd offers 8BITMIME unless it decodes data as text (decode_data=True)."""
    inbox, port = Inbox(), free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port,
                            decode_data=not request.param)
    controller.start()
    mailer = Mailer(replace(Settings.from_env({}), smtp_host="127.0.0.1", smtp_port=port))
    try:
        yield request.param, inbox, mailer
    finally:
        mailer.close()
        controller.stop()


def test_eight_bit_text_goes_as_the_server_can_take_it(server):
    offers_8bitmime, inbox, mailer = server
    mail = build_message(mailer.settings, "ann@example.org", "Helo Siân", TEXT,
                         "<p>Helo Siân.</p>", "d1", None, "cy")
    mailer.send(mail)
    ((options, data),) = inbox.received
    body = [o for o in options if o.upper().startswith("BODY=")]  # smtplib adds SIZE=
    message = email.message_from_bytes(data, policy=policy.default)
    parts = [p for p in message.walk() if not p.is_multipart()]
    if offers_8bitmime:
        assert body == ["BODY=8BITMIME"]
        assert {p["Content-Transfer-Encoding"] for p in parts} == {"8bit"}
    else:
        assert body == []
        assert data.isascii()
    assert message["Subject"] == "Helo Siân"
    assert message.get_body(("plain",)).get_content().replace("\r\n", "\n") == TEXT
    assert b"\n" not in data.replace(b"\r\n", b"")

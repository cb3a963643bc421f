"""Sending messages: by SMTP (PP_SMTP_HOST, optional STARTTLS/SSL and login) over one kept
connection, or as .eml files in PP_DATA_DIR/mail/ when no SMTP server is configured."""
from __future__ import annotations

import smtplib
import ssl
import threading
from collections.abc import Iterable
from pathlib import Path

from shared.config import Settings

from .mime import OutgoingMail


def build_message(settings: Settings, to: str, subject: str, text: str, html: str,
                  message_id: str, attachment: tuple[str, str] | None = None,
                  content_language: str | None = None) -> OutgoingMail:
    """`attachment`: a file's name and its text (the offboarding certificate);
    `content_language`: its languages ("cy", "en", "cy, en"), the Content-Language header."""
    return OutgoingMail(settings.mail_from, to, subject, text, html, message_id, attachment,
                        content_language)


class Mailer:
    """Sends over one SMTP connection, opened on first use and kept for the messages after
    it (a sender's batch, and the next while mail is due), until close(). A kept
    connection the server dropped meanwhile (its idle timeout, a restart, a 421) is opened
    again once for the message that found it gone; a new connection that fails is the
    message's failure. One sender thread uses it; the lock keeps any other caller apart."""

    def __init__(self, settings: Settings, timeout: float = 10.0):
        self.settings = settings
        self.timeout = timeout
        # Loading the CA bundle costs tens of milliseconds: once, and only for TLS.
        self._tls = ssl.create_default_context() if settings.smtp_tls != "none" else None
        self._client: smtplib.SMTP | None = None
        self._lock = threading.Lock()
        # Where messages are written when there is no SMTP server (embedded mode).
        self.folder = None if settings.smtp_host else Path(settings.data_dir) / "mail"

    @property
    def batch(self) -> int:
        """How many messages the sender takes in one transaction, as many as a crash
        before its commit sends again: 50 over SMTP; 500 to the folder, where sending
        again writes the same files over (fewer, larger transactions: issue 27)."""
        return 50 if self.folder is None else 500

    def send(self, mail: OutgoingMail) -> None:
        """Returns once the server accepted the message; raises otherwise (the connection
        is kept only when the server refused this message and the session is in step)."""
        if self.folder is not None:
            path, data = f"{self.folder}/{mail.message_id}.eml", bytes(mail)
            try:
                file = open(path, "wb")
            except FileNotFoundError:  # the first mail, or the folder was removed since
                self.folder.mkdir(parents=True, exist_ok=True)
                file = open(path, "wb")
            with file:
                file.write(data)
            return
        with self._lock:
            kept = self._client is not None
            try:
                _deliver(self._connected(), mail)
            except Exception as exc:
                if refused(exc):
                    raise
                self._drop()
                if not (kept and _gone(exc)):
                    raise
                # Not accepted (a 421, or no answer before the end of DATA, which SMTP
                # leaves to the client to send again): once more on a new connection.
                try:
                    _deliver(self._connected(), mail)
                except Exception as again:
                    if not refused(again):
                        self._drop()
                    raise

    def close(self) -> None:
        """QUIT the kept connection (nothing due: it does not wait open)."""
        with self._lock:
            self._drop()

    def _connected(self) -> smtplib.SMTP:
        if self._client is not None:
            return self._client
        s = self.settings
        assert s.smtp_host
        client: smtplib.SMTP
        if s.smtp_tls == "ssl":
            client = smtplib.SMTP_SSL(s.smtp_host, s.smtp_port, timeout=self.timeout,
                                      context=self._tls)
        else:
            client = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
        try:
            if s.smtp_tls == "starttls":
                client.starttls(context=self._tls)
            if s.smtp_user:
                client.login(s.smtp_user, s.smtp_password or "")
            client.ehlo_or_helo_if_needed()  # its extensions: 8BITMIME, SMTPUTF8
        except Exception:
            client.close()
            raise
        self._client = client
        return client

    def _drop(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        # Accepted is sent: a failing QUIT must not make us send anything again.
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()

    def forget(self, delivery_ids: Iterable[str]) -> None:
        """The mail folder's copies of these messages go with their deliveries (an
        erasure): the folder holds names and addresses like the rows did. Mail an SMTP
        server accepted is the recipient's, out of our reach."""
        folder = self.folder
        if folder is None:
            return
        for delivery_id in delivery_ids:
            (folder / f"{delivery_id}.eml").unlink(missing_ok=True)


def _deliver(client: smtplib.SMTP, mail: OutgoingMail) -> None:
    """8-bit text as it is to a server that takes it (BODY=8BITMIME, RFC 6152), re-encoded
    7-bit clean for one that does not; SMTPUTF8 for a non-ASCII address (as smtplib's
    send_message asks it)."""
    eight_bit = client.has_extn("8bitmime")
    options = ["BODY=8BITMIME"] if eight_bit else []
    if mail.international:
        if not client.has_extn("smtputf8"):
            raise smtplib.SMTPNotSupportedError(
                "a non-ASCII address, and the server does not offer SMTPUTF8")
        options.append("SMTPUTF8")
    client.sendmail(mail.envelope_from, [mail.to],
                    mail.as_bytes(linesep="\r\n", eight_bit=eight_bit), options)


def refused(exc: BaseException) -> bool:
    """The server answered that it will not take this message (a 4xx or 5xx other than
    421, or every recipient refused): smtplib reset the session, the connection is fine."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        return True
    return isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code != 421


def _gone(exc: BaseException) -> bool:
    """The connection went (closed, reset, or the server closing it with a 421)."""
    return isinstance(exc, (smtplib.SMTPServerDisconnected, ConnectionError)) or (
        isinstance(exc, smtplib.SMTPResponseException) and exc.smtp_code == 421)

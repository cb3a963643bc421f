"""Sending messages: by SMTP (PP_SMTP_HOST, optional STARTTLS/SSL and login) over one kept
connection, or as .eml files in PP_DATA_DIR/mail/ when no SMTP server is configured."""
from __future__ import annotations

import functools
import secrets
import smtplib
import ssl
import threading
from collections.abc import Iterable
from typing import Any
from email import policy
from email.headerregistry import BaseHeader, HeaderRegistry
from email.message import EmailMessage
from email.policy import Policy
from pathlib import Path

from shared.config import Settings


class _FoldedOnce(BaseHeader):
    """A header that keeps its folded form, by the policy settings folding reads (line
    length, line separator, utf8): a kept header (_Headers) is written in every mail."""

    def fold(self, *, policy: Policy) -> str:
        folded: dict[tuple[Any, ...], str] = self.__dict__.setdefault("_folded", {})
        key = (policy.max_line_length, policy.linesep, getattr(policy, "utf8", False))
        if key not in folded:
            folded[key] = super().fold(policy=policy)
        return folded[key]


class _Headers(HeaderRegistry):
    """policy.default's headers, with those every mail repeats parsed (and folded) once
    and kept: parsing and folding headers is most of the CPU a mail costs (issue 27).
    Kept: From (the settings'), MIME-Version, the parts' Content-Type (without a
    boundary), -Transfer-Encoding and -Disposition, and Content-Language; a header object
    is immutable, so one serves every mail. To and Subject (personal) and what is new in
    each mail (Message-ID, a multipart's boundary) are parsed each time and not kept.
    The class for a header name is made once too (HeaderRegistry makes one per call)."""

    KEPT = frozenset({"from", "mime-version", "content-type", "content-transfer-encoding",
                      "content-disposition", "content-language"})

    def __init__(self) -> None:
        super().__init__(base_class=_FoldedOnce)
        self._kept = functools.lru_cache(maxsize=64)(super().__call__)
        self._classes = functools.lru_cache(maxsize=64)(super().__getitem__)

    def __getitem__(self, name: str) -> type[BaseHeader]:
        return self._classes(name.lower())

    def __call__(self, name: str, value: str) -> BaseHeader:
        if name.lower() in self.KEPT and "boundary" not in value.lower():
            return self._kept(name, value)
        return super().__call__(name, value)


# The one policy every mail is built and written with (.eml or SMTP): policy.default's.
POLICY = policy.default.clone(header_factory=_Headers())


def build_message(settings: Settings, to: str, subject: str, text: str, html: str,
                  message_id: str, attachment: tuple[str, str] | None = None,
                  content_language: str | None = None) -> EmailMessage:
    """`attachment`: a file's name and its text (the offboarding certificate);
    `content_language`: its languages ("cy", "en", "cy, en"), the Content-Language header."""
    message = EmailMessage(policy=POLICY)
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}@pupil-progress>"
    message.set_content(text)
    # Boundaries of our own: the generator's would be checked against every line of the
    # mail with a regular expression compiled for it (a fresh 128-bit token cannot be in
    # text written before it existed; quoted-printable and base64 cannot hold "=_").
    message.make_alternative(boundary=_boundary())
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        name, content = attachment
        message.make_mixed(boundary=_boundary())
        message.add_attachment(content.encode(), maintype="application",
                               subtype="jose", filename=name)
    if content_language:  # after the parts: setting content clears Content-* headers
        message["Content-Language"] = content_language
    return message


def _boundary() -> str:
    return "=_" + secrets.token_hex(16)


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

    @property
    def folder(self) -> Path | None:
        """Where messages are written when there is no SMTP server (embedded mode)."""
        return None if self.settings.smtp_host else Path(self.settings.data_dir) / "mail"

    def send(self, message: EmailMessage) -> None:
        """Returns once the server accepted the message; raises otherwise (the connection
        is kept only when the server refused this message and the session is in step)."""
        folder = self.folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            name = message["Message-ID"].strip("<>").split("@")[0]
            (folder / f"{name}.eml").write_bytes(bytes(message))
            return
        with self._lock:
            kept = self._client is not None
            try:
                self._connected().send_message(message)
            except Exception as exc:
                if refused(exc):
                    raise
                self._drop()
                if not (kept and _gone(exc)):
                    raise
                # Not accepted (a 421, or no answer before the end of DATA, which SMTP
                # leaves to the client to send again): once more on a new connection.
                try:
                    self._connected().send_message(message)
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

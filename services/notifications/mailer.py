"""Sending one message: by SMTP (PP_SMTP_HOST, optional STARTTLS/SSL and login), or as an
.eml file in PP_DATA_DIR/mail/ when no SMTP server is configured."""
from __future__ import annotations

import smtplib
import ssl
from email.message import EmailMessage
from pathlib import Path

from shared.config import Settings


def build_message(settings: Settings, to: str, subject: str, text: str, html: str,
                  message_id: str, attachment: tuple[str, str] | None = None
                  ) -> EmailMessage:
    """`attachment`: a file's name and its text (the offboarding certificate)."""
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = f"<{message_id}@pupil-progress>"
    message.set_content(text)
    message.add_alternative(html, subtype="html")
    if attachment is not None:
        name, content = attachment
        message.add_attachment(content.encode(), maintype="application",
                               subtype="jose", filename=name)
    return message


class Mailer:
    def __init__(self, settings: Settings, timeout: float = 10.0):
        self.settings = settings
        self.timeout = timeout
        # Loading the CA bundle costs tens of milliseconds: once, and only for TLS.
        self._tls = ssl.create_default_context() if settings.smtp_tls != "none" else None

    @property
    def folder(self) -> Path | None:
        """Where messages are written when there is no SMTP server (embedded mode)."""
        return None if self.settings.smtp_host else Path(self.settings.data_dir) / "mail"

    def send(self, message: EmailMessage) -> None:
        s = self.settings
        folder = self.folder
        if folder is not None:
            folder.mkdir(parents=True, exist_ok=True)
            name = message["Message-ID"].strip("<>").split("@")[0]
            (folder / f"{name}.eml").write_bytes(bytes(message))
            return
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
            client.send_message(message)
        finally:
            # Accepted is sent: a failing QUIT afterwards must not make us send it again.
            try:
                client.quit()
            except smtplib.SMTPException:
                client.close()
            except OSError:
                client.close()

    def forget(self, delivery_ids) -> None:
        """The mail folder's copies of these messages go with their deliveries (an
        erasure): the folder holds names and addresses like the rows did. Mail an SMTP
        server accepted is the recipient's, out of our reach."""
        folder = self.folder
        if folder is None:
            return
        for delivery_id in delivery_ids:
            (folder / f"{delivery_id}.eml").unlink(missing_ok=True)

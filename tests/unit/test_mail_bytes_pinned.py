"""Issue 27: the mail a recipient gets is pinned. A corpus of messages (invitations and
report mails in English, Welsh and both, with non-ASCII in subject and body, a long
line, and the offboarding certificate attached) as build_message made them before
building got cheaper, stored as .eml under mail_corpus/; each is built again today and
both are parsed (policy=default) and compared: headers, part structure, decoded contents,
charsets and transfer encodings. The multipart boundary is random, so it is not compared.

    .venv/bin/python -m tests.unit.test_mail_bytes_pinned   (writes the corpus again)
"""
from __future__ import annotations

import email
from email import policy
from email.message import EmailMessage
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from services.notifications import templates
from services.notifications.mailer import build_message
from services.notifications.mime import OutgoingMail

CORPUS = Path(__file__).parent / "mail_corpus"
SETTINGS = SimpleNamespace(mail_from="Pupil Progress <no-reply@pupil-progress.invalid>")
WELSH_SCHOOL = templates.School(name="Ysgol Gymraeg Gŵyr", office_email="swyddfa@gwyr.example",
                                default_language="cy")
SCHOOL = templates.School(name="Demo Academy", office_phone="01234 567890")
BASE = "https://pp.example"


def _mail(name: str) -> tuple[templates.Message, tuple[str, str] | None]:
    certificate = ("eyJhbGciOiJFZERTQSJ9." + "eyJzY2hvb2wiOiJkZW1vIn0" * 40 + ".c2ln",)
    mails: dict[str, Any] = {
        "invitation-en": lambda: templates.invitation(
            BASE, "Pat Parent", "tok-1", "parent", school=SCHOOL),
        "invitation-cy": lambda: templates.invitation(
            BASE, "Siân Rhiant", "tok-2", "parent", school=WELSH_SCHOOL, languages=["cy"]),
        "invitation-cy-en": lambda: templates.invitation(
            BASE, "Siôn Ŵyn", "tok-3", "student", existing_login=True, school=WELSH_SCHOOL,
            languages=["cy", "en"]),
        "report-en": lambda: templates.report_published(
            BASE, "Pat Parent", "Autumn report", "2026 Autumn", "r-1", child="Sam",
            school=SCHOOL),
        "report-cy-long-line": lambda: templates.report_published(
            BASE, "Ffion Ŵyn", "Adroddiad yr hydref — " + "ŷ â ê " * 30, "Hydref 2026", "r-2",
            child="Gwên", school=WELSH_SCHOOL, languages=["cy"]),
        "certificate-en": lambda: templates.offboarding_certificate(school=SCHOOL),
        "certificate-cy-en": lambda: templates.offboarding_certificate(
            school=WELSH_SCHOOL, languages=["cy", "en"]),
        # Short lines: 7bit in ASCII, 8bit with Welsh letters.
        "short-en": lambda: templates.Message("Hello", "Hello Pat.\n", "<p>Hello Pat.</p>"),
        "short-cy": lambda: templates.Message("Helo Siân", "Helo Siân, diolch.\n",
                                              "<p lang=\"cy\">Helo Siân.</p>"),
    }
    attached = (templates.CERTIFICATE_FILE, certificate[0]) if "certificate" in name else None
    return mails[name](), attached


NAMES = ["invitation-en", "invitation-cy", "invitation-cy-en", "report-en",
         "report-cy-long-line", "certificate-en", "certificate-cy-en", "short-en", "short-cy"]


def _built(name: str) -> OutgoingMail:
    mail, attachment = _mail(name)
    return build_message(SETTINGS, "parent@example.org", mail.subject, mail.text, mail.html,
                         f"d-{name}", attachment, templates.content_language(mail.html))


def _shape(message: EmailMessage) -> list[Any]:
    """Each part in order: its headers (decoded; the boundary left out), its charset, its
    transfer encoding and its decoded content. The parts' own MIME-Version (EmailMessage
    gave each HTML part and attachment one) is left out: only the message has it now."""
    parts = []
    for depth, part in enumerate(message.walk()):
        headers = [(k.lower(), str(v)) for k, v in part.items()
                   if depth == 0 or k.lower() != "mime-version"]
        content_type = part.get_content_type()
        headers = [(k, v if k != "content-type" or not part.is_multipart()
                    else content_type) for k, v in headers]
        parts.append({"headers": headers, "type": content_type,
                      "charset": part.get_content_charset(), "params": sorted(
                          (k, v) for k, v in part["content-type"].params.items()
                          if k != "boundary") if part["content-type"] else None,
                      "cte": part.get("content-transfer-encoding"),
                      "content": None if part.is_multipart() else part.get_content()})
    return parts


@pytest.mark.parametrize("name", NAMES)
def test_a_mail_is_what_it_was(name):
    pinned = email.message_from_bytes((CORPUS / f"{name}.eml").read_bytes(),
                                      policy=policy.default)
    today = email.message_from_bytes(bytes(_built(name)), policy=policy.default)
    assert _shape(today) == _shape(pinned)  # type: ignore[arg-type]
    assert [p for p in today.walk() if "MIME-Version" in p] == [today]


@pytest.mark.parametrize("name", NAMES)
def test_a_mail_for_a_server_without_8bitmime_reads_the_same_in_7_bits(name):
    """8bit parts are quoted-printable or base64 instead; nothing else changes."""
    pinned = email.message_from_bytes((CORPUS / f"{name}.eml").read_bytes(),
                                      policy=policy.default)
    data = _built(name).as_bytes(eight_bit=False)
    assert data.isascii()
    seven = _shape(email.message_from_bytes(data, policy=policy.default))  # type: ignore[arg-type]
    eight = _shape(pinned)  # type: ignore[arg-type]
    assert {p["cte"] for p in seven} <= {None, "7bit", "quoted-printable", "base64"}
    for part in seven + eight:
        part["headers"] = [h for h in part["headers"] if h[0] != "content-transfer-encoding"]
        part["cte"] = None
    assert seven == eight


def test_the_corpus_has_what_it_is_for():
    """Non-ASCII subjects and bodies, each transfer encoding, and the attachment."""
    shapes = [_shape(email.message_from_bytes((CORPUS / f"{n}.eml").read_bytes(),
                                              policy=policy.default)) for n in NAMES]
    ctes = {p["cte"] for s in shapes for p in s}
    assert {"7bit", "8bit", "quoted-printable", "base64"} <= ctes, ctes
    assert any(not dict(s[0]["headers"])["subject"].isascii() for s in shapes)
    assert any(p["type"] == "application/jose" for s in shapes for p in s)


if __name__ == "__main__":
    for n in NAMES:
        (CORPUS / f"{n}.eml").write_bytes(bytes(_built(n)))

"""Issue 27: a mail's bytes are written directly (mime.py), not through the email package's
policy machinery. Whatever the subject, address and texts, the email package parses them
back to what was written, as one MIME-Version'd message of 7bit/8bit/quoted-printable/
base64 UTF-8 parts; 7-bit clean when 8-bit is not allowed; CRLF throughout for SMTP."""
from __future__ import annotations

import email
import re
from email import policy

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.notifications import mime
from services.notifications.mime import OutgoingMail

FROM = "Pupil Progress <no-reply@pupil-progress.invalid>"
# Letters a school's mail holds (Welsh among them), punctuation, spaces and line breaks;
# no control characters (SafeString refuses them before they reach a template).
LETTERS = st.characters(codec="utf-8", exclude_categories=("Cc", "Cs", "Zl", "Zp"))
ONE_LINE = st.text(LETTERS, max_size=300)
TEXT = st.lists(st.one_of(LETTERS, st.sampled_from(["\n", "\r\n", " ", "ŵ", "=", "."])),
               max_size=1500).map("".join)
ADDRESS = st.from_regex(r"[a-z0-9._%+-]{1,30}@[a-z0-9-]{1,20}\.example", fullmatch=True)


def _parsed(data: bytes) -> email.message.EmailMessage:
    return email.message_from_bytes(data, policy=policy.default)  # type: ignore[return-value]


def _written(text: str) -> str:
    """A text part as a reader gets it: lines end in one line break each."""
    return b"\n".join(text.encode().splitlines()).decode() + "\n"


def _mail(**kwargs: object) -> OutgoingMail:
    fields: dict[str, object] = dict(mail_from=FROM, to="ann@example.org", subject="Helo Siân",
                                     text="Helo Siân.\n", html="<p>Helo Siân.</p>",
                                     message_id="d1", attachment=None, content_language="cy")
    return OutgoingMail(**{**fields, **kwargs})  # type: ignore[arg-type]


@settings(max_examples=300, deadline=None)
@given(subject=ONE_LINE, to=ADDRESS, text=TEXT, html=TEXT, eight_bit=st.booleans(),
       attached=st.booleans())
def test_what_is_written_is_what_the_email_package_reads(subject, to, text, html, eight_bit,
                                                          attached):
    attachment = ("offboarding-certificate.jws", text) if attached else None
    data = _mail(to=to, subject=subject, text=text, html=html, attachment=attachment
                 ).as_bytes(eight_bit=eight_bit)
    message = _parsed(data)
    assert message["To"] == to and message["From"] == FROM
    assert message["Subject"] == subject
    assert message["Message-ID"] == "<d1@pupil-progress>"
    assert message["Content-Language"] == "cy"
    body = message.get_body(("plain",))
    assert body is not None and body.get_content() == _written(text)
    page = message.get_body(("html",))
    assert page is not None and page.get_content() == _written(html)
    assert page.get_content_charset() == "utf-8"
    if attached:
        (file,) = message.iter_attachments()
        assert file.get_filename() == "offboarding-certificate.jws"
        assert file.get_content() == text.encode()
    assert not message.defects and all(not p.defects for p in message.walk())
    assert all(len(line) <= 998 for line in data.split(b"\n"))
    if not eight_bit:
        assert data.isascii()


@settings(max_examples=100, deadline=None)
@given(subject=ONE_LINE, text=TEXT)
def test_smtp_lines_end_in_crlf_and_read_the_same(subject, text):
    mail = _mail(subject=subject, text=text)
    data = mail.as_bytes(linesep="\r\n")
    assert b"\n" not in data.replace(b"\r\n", b"")
    assert _parsed(data).get_body(("plain",)).get_content().replace("\r\n", "\n") \
        == _written(text)


def test_only_the_message_says_mime_version():
    """Each part carried its own MIME-Version header (EmailMessage parts): RFC 2045 has
    it on the message only."""
    message = _parsed(bytes(_mail(attachment=("certificate.jws", "eyJ"))))
    assert message["MIME-Version"] == "1.0"
    parts = list(message.walk())
    assert len(parts) == 5 and all("MIME-Version" not in part for part in parts[1:])


def test_a_plain_ascii_subject_is_written_as_it_is_and_folded_at_spaces():
    """Folded as RFC 5322 folds (a raw search for its words finds them)."""
    subject = "A new report for Sam Reed at " + "Ysgol Gyfun " * 8 + "(Autumn)"
    data = bytes(_mail(subject=subject))
    assert b"\nSubject: A new report for Sam Reed" in data
    header = re.search(rb"\nSubject: (.*?)\n(?! )", data, re.S).group(1)  # type: ignore[union-attr]
    assert all(len(line) <= 78 - len("Subject: ") for line in header.split(b"\n"))
    assert _parsed(data)["Subject"] == subject


@pytest.mark.parametrize("field", ["to", "subject", "mail_from", "content_language"])
@pytest.mark.parametrize("newline", ["\n", "\r\n", "\r"])
def test_a_header_value_cannot_start_a_header_of_its_own(field, newline):
    with pytest.raises(ValueError):
        bytes(_mail(**{field: f"ann@example.org{newline}Bcc: eve@example.org"}))


def test_personal_headers_are_not_kept():
    """Only the headers every mail repeats are folded once and kept; To and Subject are
    written for each mail and forgotten."""
    bytes(_mail()), bytes(_mail(to="sîan@ex.example"))  # From, for ASCII and UTF-8 mail
    kept = mime._folded.cache_info().currsize
    for i in range(5):
        bytes(_mail(to=f"sîan{i}@ex.example", subject=f"Helo Siân {i} " + "ŵ" * 90))
    assert mime._folded.cache_info().currsize == kept


def test_each_multipart_has_a_fresh_boundary():
    data = [bytes(_mail(attachment=("certificate.jws", "eyJ"))) for _ in range(2)]
    boundaries = [p.get_boundary() for d in data for p in _parsed(d).walk()
                  if p.is_multipart()]
    assert len(boundaries) == 4 and len(set(boundaries)) == 4
    assert all(b is not None and len(b) >= 32 for b in boundaries)

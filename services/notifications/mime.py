"""A mail's bytes, written directly (issue 27): the email package's policy machinery
(parsing every header into objects, folding them back, choosing each part's encoding)
was most of the CPU a mail cost. The shape is the one EmailMessage gave (tests pin it):
multipart/alternative (text, HTML), inside multipart/mixed when a file is attached; each
text part UTF-8, 7bit when ASCII with short lines, 8bit when only short lines (and 8-bit
is allowed), otherwise quoted-printable or base64, whichever is shorter for its first ten
lines; MIME-Version on the message only. Headers a mail shares with every other (From,
a Content-Disposition) are folded by the email package once; the others are simple
enough to write: a plain address, an ASCII word, or RFC 2047 encoded words (UTF-8, B).
"""
from __future__ import annotations

import base64
import binascii
import functools
import re
import secrets
from dataclasses import dataclass
from email import policy
from email.utils import parseaddr

MAX_LINE = 78  # RFC 5322's "SHOULD"; the email package's policy.default too
_ENCODED_WORD_BYTES = 30  # UTF-8 bytes per encoded word: 52 characters, whole letters
_ADDRESS = re.compile(r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
                      r"@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*")
_PLAIN_LINE = re.compile(r"[!-~]+( [!-~]+)*")  # such words, one space apart


@dataclass(frozen=True)
class OutgoingMail:
    """One message to one address; `attachment`: a file's name and its text (the
    offboarding certificate); `content_language`: "cy", "en", "cy, en"."""
    mail_from: str
    to: str
    subject: str
    text: str
    html: str
    message_id: str
    attachment: tuple[str, str] | None = None
    content_language: str | None = None

    @property
    def international(self) -> bool:
        """An address that is not ASCII: SMTP must offer SMTPUTF8 (RFC 6531)."""
        return not (self.mail_from.isascii() and self.to.isascii())

    @property
    def envelope_from(self) -> str:
        return _address_of(self.mail_from)

    def as_bytes(self, linesep: str = "\n", eight_bit: bool = True) -> bytes:
        """The message; `eight_bit` False: 7-bit clean (for a server without 8BITMIME)."""
        alternative = _boundary()
        body = _multipart(alternative, [_text_part("plain", self.text, eight_bit),
                                        _text_part("html", self.html, eight_bit)])
        content_type = _multipart_type("alternative", alternative)
        if self.attachment is not None:
            mixed = _boundary()
            body = _multipart(mixed, [content_type + b"\n" + body,
                                      _attached(*self.attachment)])
            content_type = _multipart_type("mixed", mixed)
        headers = [_folded("From", self.mail_from, self.international),
                   _to(self.to), _unstructured("Subject", self.subject),
                   f"Message-ID: <{self.message_id}@pupil-progress>\n".encode(),
                   b"MIME-Version: 1.0\n", content_type]
        if self.content_language:
            headers.append(_unstructured("Content-Language", self.content_language))
        message = b"".join(headers) + b"\n" + body
        return message if linesep == "\n" else message.replace(b"\n", linesep.encode())

    def __bytes__(self) -> bytes:
        return self.as_bytes()


def _boundary() -> bytes:
    # A fresh 128-bit token cannot be in text written before it existed, and neither
    # quoted-printable nor base64 can hold "=_": no need to look for it in the parts.
    return b"=_" + secrets.token_hex(16).encode()


def _multipart_type(subtype: str, boundary: bytes) -> bytes:
    return b"Content-Type: multipart/" + subtype.encode() + b";\n boundary=\"" + boundary \
        + b"\"\n"


def _multipart(boundary: bytes, parts: list[bytes]) -> bytes:
    """Each part (its headers, a blank line, its body ending in a line break)."""
    delimiter = b"--" + boundary
    return b"".join(delimiter + b"\n" + part + b"\n" for part in parts) + delimiter + b"--\n"


def _text_part(subtype: str, text: str, eight_bit: bool) -> bytes:
    encoding, body = _encoded_text(text, eight_bit)
    return (b"Content-Type: text/" + subtype.encode() + b"; charset=\"utf-8\"\n"
            b"Content-Transfer-Encoding: " + encoding + b"\n\n" + body)


def _encoded_text(text: str, eight_bit: bool) -> tuple[bytes, bytes]:
    """As the email package chooses (contentmanager._encode_text), with binascii's
    encoders; lines end in one line break each. Where the email package compares the two
    encodings of the first ten lines, this compares them for the whole text: one
    quoted-printable pass, base64's length counted."""
    lines = text.encode().splitlines()
    body = b"\n".join(lines) + b"\n"
    if max(map(len, lines), default=0) <= MAX_LINE:
        if body.isascii():
            return b"7bit", body
        if eight_bit:
            return b"8bit", body
    quoted = binascii.b2a_qp(body, istext=True)
    if len(quoted) > _base64_length(len(body)):
        return b"base64", base64.encodebytes(body)
    return b"quoted-printable", quoted


def _base64_length(size: int) -> int:
    """base64.encodebytes's length for `size` bytes: 76 characters and a line break for
    each 57 bytes."""
    characters = -(-size // 3) * 4
    return characters + -(-characters // 76)


@functools.lru_cache(maxsize=8)
def _attached_headers(name: str) -> bytes:
    return (b"Content-Type: application/jose\nContent-Transfer-Encoding: base64\n"
            + _folded("Content-Disposition", f'attachment; filename="{name}"', False))


def _attached(name: str, content: str) -> bytes:
    return _attached_headers(name) + b"\n" + base64.encodebytes(content.encode())


@functools.lru_cache(maxsize=8)
def _folded(name: str, value: str, utf8: bool) -> bytes:
    """A header every mail repeats (never a personal one: this keeps it), by the email
    package: parsed and folded once."""
    return _fold_by_email_package(name, value, utf8)


def _one_line(name: str, value: str) -> str:
    """As the email package's policy refuses them: a line break would start a header."""
    if "\r" in value or "\n" in value:
        raise ValueError(f"{name}: header values may not contain CR or LF")
    return value


def _fold_by_email_package(name: str, value: str, utf8: bool) -> bytes:
    _one_line(name, value)
    folding = policy.default.clone(utf8=utf8)
    return folding.header_factory(name, value).fold(policy=folding).encode()


@functools.lru_cache(maxsize=8)
def _address_of(mail_from: str) -> str:
    return parseaddr(mail_from)[1]


def _to(address: str) -> bytes:
    """A plain address as it is; anything else (a non-ASCII one) by the email package,
    in UTF-8 (RFC 6532: such a mail goes with SMTPUTF8)."""
    if _ADDRESS.fullmatch(address) and len(address) <= MAX_LINE - len("To: "):
        return b"To: " + address.encode() + b"\n"
    return _fold_by_email_package("To", address, not address.isascii())


def _unstructured(name: str, value: str) -> bytes:
    """ASCII words as they are, a run of other words as encoded words (RFC 2047, UTF-8,
    base64, whole letters in each), folded at spaces within MAX_LINE where it can be."""
    if _PLAIN_LINE.fullmatch(_one_line(name, value)) and "=?" not in value:
        return _fold_tokens(name, value.split(" "))
    words = value.split(" ")
    tokens: list[str] = []
    if all(words):
        run: list[str] = []
        for word in words + [""]:
            if word and not _plain(word):
                run.append(word)
                continue
            if run:
                tokens += _encoded_words(" ".join(run))
                run = []
            if word:
                tokens.append(word)
    else:  # leading, trailing or doubled spaces: kept inside encoded words
        tokens = _encoded_words(value)
    return _fold_tokens(name, tokens)


def _plain(word: str) -> bool:
    """Printable ASCII (no space), not to be read as an encoded word."""
    return word.isascii() and word.isprintable() and "=?" not in word


def _encoded_words(text: str) -> list[str]:
    data = text.encode()
    if len(data) <= _ENCODED_WORD_BYTES:
        return [f"=?utf-8?b?{base64.b64encode(data).decode()}?="] if data else []
    words, chunk = [], b""
    for letter in text:
        encoded = letter.encode()
        if len(chunk) + len(encoded) > _ENCODED_WORD_BYTES:
            words.append(chunk)
            chunk = b""
        chunk += encoded
    words.append(chunk)
    return [f"=?utf-8?b?{base64.b64encode(w).decode()}?=" for w in words if w]


def _fold_tokens(name: str, tokens: list[str]) -> bytes:
    """Tokens one space apart; a line break before a token that would not fit (unfolding
    gives back the space; between two encoded words it is not text)."""
    line = f"{name}: " + " ".join(tokens)
    if len(line) <= MAX_LINE:
        return (line + "\n").encode()
    lines, line = [], f"{name}:"
    for token in tokens:
        if len(line) + 1 + len(token) > MAX_LINE and line.strip() != f"{name}:":
            lines.append(line)
            line = ""
        line += " " + token
    lines.append(line)
    return ("\n".join(lines) + "\n").encode()

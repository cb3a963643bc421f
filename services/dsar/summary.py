"""The access export's summary a person can read and print (issue 24): one HTML page,
grouped by what the data is (account, links, reports, emails, requests), each record's
fields under the names the data map gives them, without internal ids or hashes.

The export's JSON and CSV files stay the complete copy; the summary is for reading. No
Flask here: a pure function of the parts the services sent.

In the reader's language (issue 29): every word through services/dsar/locales/cy.po (the
labels of tables and fields too, by their English words), dates by Babel's locale data.
`language_of` chooses it: the requester's own (the identity part carries each login's
language), else the language they read the app in, else the school's default.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from html import escape
from pathlib import Path
from typing import Any

from babel.dates import format_date, format_datetime

from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator
from shared.rights.datamap import COLUMN_NAMES, TABLE_NAMES

LOCALES = Path(__file__).with_name("locales")

# What each part's data is to the person reading, in the order they read it.
GROUPS = (
    ("account", "Your account", ("identity",)),
    ("links", "Links between parents and children", ("linking",)),
    ("reports", "Reports", ("reports",)),
    ("emails", "Emails", ("notifications",)),
    ("requests", "Requests about personal data", ("dsar",)),
    ("school", "What the school's system sent", ("ingest",)),
)

_UUID = re.compile(r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?"
                   r"[0-9a-fA-F]{12}")
_HEX = re.compile(r"\b[0-9a-fA-F]{16,}\b")
_OPAQUE = re.compile(r"^[A-Za-z0-9_\-+/=.]{32,}$")  # a token, a key, a signature
# Fields that are our own bookkeeping, not the person's data.
_INTERNAL_FIELDS = {"routing_key", "event_type", "record_version", "version", "attachment",
                    "body_html", "name_version", "content_hash", "source_key", "sealed",
                    "key", "secret", "token", "nonce", "kid", "attempts", "next_attempt_at",
                    "last_error", "payload"}
NOT_SHOWN = "(kept scrambled: not readable)"
# Words the page says besides its groups' titles and the data's labels (for the catalogue
# test: every one has its Welsh).
YES = "yes"  # a true value's word, not a state
NO = "no"
NOTHING_HELD = "Nothing of this kind is held."
# Fields whose values are words of ours (a status, a role, a kind), and those words in
# English: the catalogue has each one's Welsh. Other values are the data as held.
VALUE_FIELDS = {"kind", "role", "status", "filed_as", "subject_type", "type", "actor_role"}
VALUE_WORDS = {
    "parent": "parent", "guardian": "parent or carer", "student": "student",
    "staff": "staff", "school_admin": "school admin", "teacher": "teacher",
    "active": "active", "invited": "invited", "pending": "waiting", "accepted": "accepted",
    "verified": "verified", "locked": "locked", "revoked": "revoked", "sent": "sent",
    "failed": "failed", "completed": "completed", "refused": "refused",
    "awaiting_school": "waiting for the school", "in_progress": "in progress",
    "paused": "paused", "done": "done", "published": "published", "withdrawn": "withdrawn",
    "access": "a copy of the data", "portability": "a copy to take elsewhere",
    "rectification": "correction", "erasure": "erasure", "restriction": "restriction",
    "objection": "objection", "mark": "mark", "grade": "grade", "target": "target",
    "attitude": "attitude", "effort": "effort", "behaviour": "behaviour",
    "attendance": "attendance", "totp": "authenticator app"}
# A language is named in its own words in either language (docs/welsh-glossary.md).
LANGUAGE_NAMES = {"en": "English", "cy": "Cymraeg"}


def _internal_field(name: str) -> bool:
    lowered = name.lower()
    return (lowered == "id" or lowered.endswith(("_id", "_ids", "_hash", "_key", "_token"))
            or "hash" in lowered or lowered in _INTERNAL_FIELDS)


def column_label(name: str) -> str:
    """A field's name in English, as the reader sees it (the catalogue's message id)."""
    readable = COLUMN_NAMES.get(name) or name.replace("_", " ")
    return readable[:1].upper() + readable[1:]


def table_label(name: str) -> str:
    what = TABLE_NAMES.get(name) or name.replace("_", " ")
    return what[:1].upper() + what[1:]


def language_of(parts: dict[str, dict[str, list[dict[str, Any]]]], requester: str | None,
                reading: str | None = None, school_default: str | None = None) -> str:
    """The language the summary is written in: the requester's own as the identity part
    records it; else the language they read the app in (`reading`: a requester
    downloading it there); else the school's default; else English."""
    for account in parts.get("identity", {}).get("accounts", []):
        if requester is not None and account.get("id") == requester \
                and account.get("language") in LANGUAGES:
            return str(account["language"])
    for choice in (reading, school_default):
        if choice in LANGUAGES:
            return str(choice)
    return DEFAULT_LANGUAGE


class _Page:
    """The summary's parts in one language."""

    def __init__(self, language: str) -> None:
        self.t = Translator(LOCALES, language)
        self.language = self.t.language

    def _(self, message: str) -> str:
        return self.t.gettext(message)

    def date(self, value: dt.date) -> str:
        return format_date(value, "d MMMM y", locale=self.language)

    def when(self, text: str) -> str | None:
        """A date or timestamp as a person writes it, or None for anything else."""
        try:
            if len(text) == 10:
                return self.date(dt.date.fromisoformat(text))
            moment = dt.datetime.fromisoformat(text)
        except ValueError:
            return None
        return format_datetime(moment, "d MMMM y, HH:mm", tzinfo=moment.tzinfo,
                               locale=self.language) + (" UTC" if moment.tzinfo else "")

    def mapping(self, value: dict[str, Any]) -> str:
        items = [(k, v) for k, v in value.items()
                 if not _internal_field(str(k)) and not _empty(v)]
        if not items:
            return "—"
        return "<dl>" + "".join(f"<dt>{escape(self._(column_label(str(k))))}</dt>"
                                f"<dd>{self.value(v, str(k))}</dd>" for k, v in items) + "</dl>"

    def items(self, value: list[Any]) -> str:
        shown = [v for v in value if not _empty(v)]
        if not shown:
            return "—"
        return "<ul>" + "".join(f"<li>{self.value(v)}</li>" for v in shown) + "</ul>"

    def word(self, value: Any, field: str) -> str | None:
        """A value that is a word of ours (a status, a role, a language), in words."""
        if field == "language" and value in LANGUAGE_NAMES:
            return LANGUAGE_NAMES[value]
        if field in VALUE_FIELDS and isinstance(value, str) and value in VALUE_WORDS:
            return escape(self._(VALUE_WORDS[value]))
        return None

    def value(self, value: Any, field: str = "") -> str:
        word = self.word(value, field)
        if word is not None:
            return word
        value = _parsed(value)
        if isinstance(value, dict):
            return self.mapping(value)
        if isinstance(value, list):
            return self.items(value)
        if isinstance(value, bool):
            return self._(YES) if value else self._(NO)
        if value is None:
            return "—"
        text = str(value)
        return escape(self.when(text) or _scrubbed(text, self._(NOT_SHOWN)))

    def record(self, row: dict[str, Any]) -> str:
        fields = [(k, v) for k, v in row.items() if not _internal_field(k) and not _empty(v)]
        if not fields:
            return ""
        return "<dl class=\"record\">" + "".join(
            f"<dt>{escape(self._(column_label(k)))}</dt><dd>{self.value(v, k)}</dd>"
            for k, v in fields) + "</dl>"

    def group(self, key: str, title: str, parts: dict[str, dict[str, list[dict[str, Any]]]],
              services: tuple[str, ...]) -> str:
        sections = []
        for service in services:
            for table, rows in sorted(parts.get(service, {}).items()):
                records = [r for r in (self.record(row) for row in rows) if r]
                if records:
                    sections.append(f"<h3>{escape(self._(table_label(table)))} "
                                    f"({len(records)})</h3>" + "".join(records))
        body = "".join(sections) or f"<p>{escape(self._(NOTHING_HELD))}</p>"
        return f'<section id="{key}" aria-labelledby="{key}-title">' \
               f'<h2 id="{key}-title">{escape(self._(title))}</h2>{body}</section>'


def _scrubbed(text: str, not_shown: str = NOT_SHOWN) -> str:
    """A text with any id or hash in it taken out."""
    if _OPAQUE.match(text) and not text.isalpha():
        return not_shown
    return _HEX.sub("…", _UUID.sub("…", text))


def _empty(value: Any) -> bool:
    return value is None or value in ("", [], {})


def _parsed(value: Any) -> Any:
    """JSON held as text (a request's details) as what it holds."""
    if isinstance(value, str) and value.strip().startswith(("{", "[")):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;"
          "padding:0 1rem;line-height:1.5;color:#0b0c0c}h2{border-bottom:2px solid #0b0c0c;"
          "margin-top:2rem}dl.record{border:1px solid #b1b4b6;padding:.5rem 1rem;"
          "break-inside:avoid}dt{font-weight:bold}dd{margin:0 0 .5rem 0}"
          "dd dl{margin:0;padding-left:1rem;border-left:3px solid #b1b4b6}"
          "dd{overflow-wrap:anywhere}"
          "@media print{body{margin:0;max-width:none}a{color:inherit}}")
TITLE = "Your data in Pupil Progress"
INTRO = ("This is a copy of the personal data Pupil Progress holds, for the school, about "
         "the person the request is about.")
INTRO_PORTABLE = ("This is a copy you can take elsewhere of the personal data Pupil Progress "
                  "holds, for the school, about the person the request is about.")
MADE = "It was made on {date}."
UNTIL = "It can be downloaded until {date}."
FILES = ("The files export.json and the CSV files beside this page hold the same data in "
         "full, for a computer to read.")
CONTENTS = "Contents"


def render(parts: dict[str, dict[str, list[dict[str, Any]]]], kind: str,
           completed_at: dt.datetime | None, expires_at: dt.datetime | None,
           language: str = DEFAULT_LANGUAGE) -> str:
    """The summary page of an export: `parts` is service -> table -> rows, as exported;
    in `language` ("en" | "cy"), its `lang` attribute saying which."""
    page = _Page(language)
    _ = page._
    intro = [_(INTRO_PORTABLE) if kind == "portability" else _(INTRO)]
    if completed_at:
        intro.append(_(MADE).format(date=page.date(completed_at)))
    if expires_at:
        intro.append(_(UNTIL).format(date=page.date(expires_at)))
    intro.append(_(FILES))
    groups = "".join(page.group(key, title, parts, services)
                     for key, title, services in GROUPS)
    contents = "".join(f'<li><a href="#{key}">{escape(_(title))}</a></li>'
                       for key, title, _services in GROUPS)
    return (
        f"<!doctype html><html lang=\"{page.language}\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{escape(_(TITLE))}</title><style>{_STYLE}</style></head><body>"
        f"<main><h1>{escape(_(TITLE))}</h1><p>{escape(' '.join(intro))}</p>"
        f"<nav aria-label=\"{escape(_(CONTENTS))}\"><ul>" + contents + "</ul></nav>"
        + groups + "</main></body></html>")

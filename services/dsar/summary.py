"""The access export's summary a person can read and print (issue 24): one HTML page,
grouped by what the data is (account, links, reports, emails, requests), each record's
fields under the names the data map gives them, without internal ids or hashes.

The export's JSON and CSV files stay the complete copy; the summary is for reading. No
Flask here: a pure function of the parts the services sent.
"""
from __future__ import annotations

import datetime as dt
import json
import re
from html import escape
from typing import Any

from shared.rights.datamap import COLUMN_NAMES, TABLE_NAMES

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


def _internal_field(name: str) -> bool:
    lowered = name.lower()
    return (lowered == "id" or lowered.endswith(("_id", "_ids", "_hash", "_key", "_token"))
            or "hash" in lowered or lowered in _INTERNAL_FIELDS)


def _label(name: str) -> str:
    readable = COLUMN_NAMES.get(name) or name.replace("_", " ")
    return readable[:1].upper() + readable[1:]


def _scrubbed(text: str) -> str:
    """A text with any id or hash in it taken out."""
    if _OPAQUE.match(text) and not text.isalpha():
        return NOT_SHOWN
    return _HEX.sub("…", _UUID.sub("…", text))


def _when(text: str) -> str | None:
    """A date or timestamp as a person writes it, or None for anything else."""
    try:
        if len(text) == 10:
            return dt.date.fromisoformat(text).strftime("%-d %B %Y")
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.strftime("%-d %B %Y, %H:%M") + (" UTC" if moment.tzinfo else "")


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


def _mapping_html(value: dict[str, Any]) -> str:
    items = [(k, v) for k, v in value.items()
             if not _internal_field(str(k)) and not _empty(v)]
    if not items:
        return "—"
    return "<dl>" + "".join(f"<dt>{escape(_label(str(k)))}</dt><dd>{_value_html(v)}</dd>"
                            for k, v in items) + "</dl>"


def _list_html(value: list[Any]) -> str:
    shown = [v for v in value if not _empty(v)]
    if not shown:
        return "—"
    return "<ul>" + "".join(f"<li>{_value_html(v)}</li>" for v in shown) + "</ul>"


def _value_html(value: Any) -> str:
    value = _parsed(value)
    if isinstance(value, dict):
        return _mapping_html(value)
    if isinstance(value, list):
        return _list_html(value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    if value is None:
        return "—"
    text = str(value)
    return escape(_when(text) or _scrubbed(text))


def _record_html(row: dict[str, Any]) -> str:
    fields = [(k, v) for k, v in row.items() if not _internal_field(k) and not _empty(v)]
    if not fields:
        return ""
    return "<dl class=\"record\">" + "".join(
        f"<dt>{escape(_label(k))}</dt><dd>{_value_html(v)}</dd>" for k, v in fields) + "</dl>"


def _group_html(key: str, title: str, parts: dict[str, dict[str, list[dict[str, Any]]]],
                services: tuple[str, ...]) -> str:
    sections = []
    for service in services:
        for table, rows in sorted(parts.get(service, {}).items()):
            records = [r for r in (_record_html(row) for row in rows) if r]
            if not records:
                continue
            what = TABLE_NAMES.get(table) or table.replace("_", " ")
            sections.append(f"<h3>{escape(what[:1].upper() + what[1:])} "
                            f"({len(records)})</h3>" + "".join(records))
    body = "".join(sections) or "<p>Nothing of this kind is held.</p>"
    return f'<section id="{key}" aria-labelledby="{key}-title">' \
           f'<h2 id="{key}-title">{escape(title)}</h2>{body}</section>'


_STYLE = ("body{font-family:system-ui,sans-serif;max-width:46rem;margin:2rem auto;"
          "padding:0 1rem;line-height:1.5;color:#0b0c0c}h2{border-bottom:2px solid #0b0c0c;"
          "margin-top:2rem}dl.record{border:1px solid #b1b4b6;padding:.5rem 1rem;"
          "break-inside:avoid}dt{font-weight:bold}dd{margin:0 0 .5rem 0}"
          "dd dl{margin:0;padding-left:1rem;border-left:3px solid #b1b4b6}"
          "@media print{body{margin:0;max-width:none}a{color:inherit}}")


def render(parts: dict[str, dict[str, list[dict[str, Any]]]], kind: str,
           completed_at: dt.datetime | None, expires_at: dt.datetime | None) -> str:
    """The summary page of an export: `parts` is service -> table -> rows, as exported."""
    copy = "a copy you can take elsewhere" if kind == "portability" else "a copy"
    made = f" It was made on {completed_at.strftime('%-d %B %Y')}." if completed_at else ""
    until = (f" It can be downloaded until {expires_at.strftime('%-d %B %Y')}."
             if expires_at else "")
    groups = "".join(_group_html(key, title, parts, services)
                     for key, title, services in GROUPS)
    contents = "".join(f'<li><a href="#{key}">{escape(title)}</a></li>'
                       for key, title, _ in GROUPS)
    return (
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>Your data in Pupil Progress</title><style>{_STYLE}</style></head><body>"
        "<main><h1>Your data in Pupil Progress</h1>"
        f"<p>This is {copy} of the personal data Pupil Progress holds, for the school, "
        f"about the person the request is about.{made}{until} The files export.json and the "
        "CSV files beside this page hold the same data in full, for a computer to read."
        "</p><nav aria-label=\"Contents\"><ul>" + contents + "</ul></nav>" + groups +
        "</main></body></html>")

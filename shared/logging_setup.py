"""Logging by ids only. A filter masks emails and dates as a last line of defence.

Production logs are JSON, one object per line, each with the correlation id of the HTTP
request or event being handled (the request id becomes the correlation id of every event
it causes), so one request can be followed through every service.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import re

from shared.messaging.envelope import correlation_id_var

_EMAIL = re.compile(r"[^\s@'\"<>(),;]+@[^\s@'\"<>(),;]+\.[A-Za-z]{2,}")
_DATE = re.compile(r"\b\d{4}-\d{2}-\d{2}\b")
# PostgreSQL error details quote the offending values ("Key (email)=(jane@...)").
_DETAIL = re.compile(r"DETAIL:.*")
# A terminal's colour and cursor codes (CSI and other ESC sequences), as a library writes
# them when it sees a terminal: they are noise in a JSON log line (issue 24).
_TERMINAL_CODES = re.compile(r"\x1b(\[[0-?]*[ -/]*[@-~]|[()*+][0-9A-Za-z]|[@-Z\\-_])")


def plain(text: str) -> str:
    """The text without terminal colour codes."""
    return _TERMINAL_CODES.sub("", text) if "\x1b" in text else text


def redact(text: str) -> str:
    return _DATE.sub("[date]", _EMAIL.sub("[email]", _DETAIL.sub("DETAIL: [redacted]", text)))


class RedactingFormatter(logging.Formatter):
    """Redacts the whole formatted record, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return plain(redact(super().format(record)))


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        record.correlation_id = correlation_id_var.get() or "-"
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per record; message and traceback redacted field by field (so the
    redaction cannot break the JSON)."""

    def __init__(self, service: str | None = None):
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        entry = {"time": dt.datetime.fromtimestamp(record.created, dt.timezone.utc)
                 .isoformat(timespec="milliseconds"),
                 "level": record.levelname, "logger": record.name,
                 "service": self.service, "process": record.process,
                 "correlation_id": getattr(record, "correlation_id", "-"),
                 "message": plain(redact(record.getMessage()))}
        if record.exc_info:
            entry["exception"] = plain(redact(self.formatException(record.exc_info)))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "json",
                      service: str | None = None) -> None:
    root = logging.getLogger()
    if getattr(root, "_pp_configured", False):
        return
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(service) if fmt == "json" else RedactingFormatter(
        "%(asctime)s %(levelname)s %(name)s [%(correlation_id)s] %(message)s"))
    handler.addFilter(RedactingFilter())
    root.addHandler(handler)
    root.setLevel(level)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    root._pp_configured = True  # type: ignore[attr-defined]

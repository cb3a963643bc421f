"""The reasons ingest gives, in the reader's language (issue 29).

A reason (a rejected event's, a OneRoster fault's or ignored row's) is made and stored in
English, as written: the push's answer, read by school systems, stays as it always was.
Each is a known message with its values written in (`{column}: No {target} record {ref}.`),
or several joined: "field.path: message" parts joined by "; ", a field's messages by " "
(marshmallow's). A reason is translated when it is READ, part by part, through ingest's
catalogue then shared's (marshmallow's messages): so rows stored before this reads too.
The field paths and file names are the school system's own names and stay as they are;
a part no catalogue has stays English (tests/unit/test_ingest_reasons_welsh.py fails when
a reason ingest can give lacks its Welsh).
"""
from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, service_locales, translate_text

LOCALES: tuple[Path, ...] = service_locales("ingest")

_PART = re.compile(r"; (?=[A-Za-z_][\w.]*: )")  # "a: …; b: …": where the next part starts
_FIELD = re.compile(r"([A-Za-z_][\w.]*): (.+)\Z", re.DOTALL)
_SENTENCE = re.compile(r"(?<=\.) (?=[A-Z\"])")


def _message(text: str, language: str) -> str | None:
    """One known message in `language` (its values written back in: a value that is itself
    a message, DATE_EXPECTED's words, translated too; a `reason` as a reason), or None."""
    translated = translate_text(text, language, LOCALES, nested=NESTED)
    return translated if translated != text else None


def translate(reason: str, language: str) -> str:
    """A reason as written (English) in `language`; what no catalogue has stays as it is."""
    if language not in LANGUAGES or language == DEFAULT_LANGUAGE or not reason:
        return reason
    parts = _PART.split(reason)
    if len(parts) > 1:
        return "; ".join(translate(part, language) for part in parts)
    known = _known(reason, language)
    if known is not None:
        return known
    field = _FIELD.match(reason)
    if field:
        return f"{field.group(1)}: {_messages(field.group(2), language)}"
    return _messages(reason, language)


# A placeholder whose value is itself a reason (translated in turn, not kept as written).
NESTED = {"reason": translate}


def _known(text: str, language: str) -> str | None:
    """Messages joined by spaces, each known (each sentence first: a message's values must
    not run into the next one), or one known message; else None."""
    sentences = _SENTENCE.split(text)
    if len(sentences) > 1:
        each = [_message(sentence, language) for sentence in sentences]
        if all(each):
            return " ".join(map(str, each))
    return _message(text, language)


def _messages(text: str, language: str) -> str:
    """A field's messages (marshmallow gives several at times): those unknown as written."""
    known = _known(text, language)
    if known is not None:
        return known
    return " ".join(_message(s, language) or s for s in _SENTENCE.split(text))


def rows(found: list[dict[str, Any]] | None, language: str) -> list[dict[str, Any]]:
    """Rejections or faults ({…, "error"}) with each reason in `language`."""
    return [{**row, "error": translate(row["error"], language)}
            if isinstance(row.get("error"), str) else row for row in found or ()]


def job(answer: dict[str, Any], language: str) -> dict[str, Any]:
    """A OneRoster job's answer with its faults and ignored rows in `language` (a trust's
    job: each school's)."""
    if language == DEFAULT_LANGUAGE:
        return answer
    result = answer.get("result")
    if isinstance(result, dict):
        result = _result(result, language)
        if isinstance(result.get("schools"), dict):
            result["schools"] = {school: _result(one, language) if isinstance(one, dict)
                                 else one for school, one in result["schools"].items()}
    return {**answer, "faults": rows(answer.get("faults"), language), "result": result}


def _result(result: dict[str, Any], language: str) -> dict[str, Any]:
    if "ignored" not in result:
        return dict(result)
    return {**result, "ignored": rows(result["ignored"], language)}

"""Cymraeg and English (issue 29): the catalogues every Python-side word a person reads
comes from, and the rules for choosing a language.

The source language is English: a message id *is* its English text, so English needs no
catalogue. Welsh lives in gettext catalogues (`<dir>/cy.po`) read with Babel when a module
first asks (no compile step: the .po file is the one source). Each service keeps its own
catalogue beside its code (`services/<name>/locales/cy.po`); `shared/locales/cy.po` holds
the words shared/ answers with (errors). A message missing from a catalogue is a bug that
tests/unit catch; at run time it falls back to English rather than failing a request.
"""
from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date
from pathlib import Path
from typing import Any

from babel import Locale
from babel.dates import format_date as _babel_format_date
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po

LANGUAGES = ("en", "cy")
DEFAULT_LANGUAGE = "en"
SHARED_LOCALES = Path(__file__).with_name("locales")


@functools.lru_cache(maxsize=None)
def catalogue(directory: Path, language: str) -> Catalog | None:
    """The catalogue of `language` in `directory`; None for English (the source)."""
    if language == DEFAULT_LANGUAGE:
        return None
    with open(directory / f"{language}.po", "rb") as file:
        return read_po(file, locale=language)


class Translator:
    """The words of one catalogue directory in one language."""

    def __init__(self, directory: Path, language: str) -> None:
        self.language = language if language in LANGUAGES else DEFAULT_LANGUAGE
        self._catalogue = catalogue(directory, self.language)

    def gettext(self, message: str) -> str:
        if self._catalogue is None:
            return message
        entry = self._catalogue.get(message)
        if entry is None or not isinstance(entry.string, str) or not entry.string:
            return message
        return entry.string

    def ngettext(self, singular: str, plural: str, n: int) -> str:
        """Plural forms by the language's own rule (Welsh has six: Babel's plural_expr)."""
        if self._catalogue is None:
            return singular if n == 1 else plural
        entry = self._catalogue.get(singular)
        if entry is None or not isinstance(entry.string, tuple) or not all(entry.string):
            return singular if n == 1 else plural
        index = self._catalogue.plural_func(n)  # type: ignore[attr-defined]
        return str(entry.string[index])

    def date(self, value: date, format: str = "long") -> str:
        """A date as the language writes it ("4 Rhagfyr 2026")."""
        return _babel_format_date(value, format=format, locale=Locale.parse(self.language))


def negotiate(accept_language: str | None, default: str = DEFAULT_LANGUAGE) -> str:
    """The language of an Accept-Language header (the first of ours it names, by quality)."""
    if not accept_language:
        return default
    ranked: list[tuple[float, str]] = []
    for part in accept_language.split(","):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((quality, tag.strip().lower().split("-")[0]))
    for _, language in sorted(ranked, key=lambda item: -item[0]):
        if language in LANGUAGES:
            return language
    return default


def bilingual_order(chosen: str | None, school_default: str | None) -> list[str]:
    """The languages an email to a person is written in: their own choice alone when known;
    else both, the school's default first (a Welsh-medium school writes Welsh first)."""
    if chosen in LANGUAGES:
        return [chosen]
    first = school_default if school_default in LANGUAGES else DEFAULT_LANGUAGE
    return [first] + [language for language in LANGUAGES if language != first]


def missing(directory: Path, messages: Iterable[str], language: str = "cy") -> list[str]:
    """The messages `language`'s catalogue in `directory` has no translation for."""
    translator = Translator(directory, language)
    return [m for m in messages if translator.gettext(m) == m and m.strip()]


# --- answers already written: an error's message and its fields' messages (issue 29) ---------
_PLACEHOLDER = re.compile(r"\{([^{}]+)\}")


@functools.lru_cache(maxsize=None)
def message_patterns(directory: Path, language: str
                     ) -> tuple[tuple[re.Pattern[str], list[str], str], ...]:
    """The catalogue's messages with placeholders (`{limit}`, `{max}`: written with an
    f-string or str.format where raised) as patterns matching the text they became: those
    with the most words first (`sourcedId {id} (held from …): {reason}` before
    `{column}: Missing.`, which its reason may end with)."""
    found = catalogue(directory, language)
    out = []
    for entry in found or ():
        if not isinstance(entry.id, str) or not isinstance(entry.string, str) or not (
                entry.string and _PLACEHOLDER.search(entry.id)):
            continue
        names = _PLACEHOLDER.findall(entry.id)
        literal = _PLACEHOLDER.split(entry.id)[::2]
        regex = "(.+?)".join(re.escape(part) for part in literal)
        out.append((len("".join(literal)), re.compile(regex + r"\Z", re.DOTALL), names,
                    entry.string))
    out.sort(key=lambda entry: -entry[0])
    return tuple(entry[1:] for entry in out)


def translate_text(message: str, language: str, directories: Sequence[Path],
                   nested: Mapping[str, Callable[[str, str], str]] | None = None) -> str:
    """A message already written in English, in `language`: the first of `directories`
    whose catalogue has it, as written or as the text a message with placeholders became
    ("The body is over 1000 bytes." by "The body is over {limit} bytes."). English when
    none has it. A placeholder's value is translated when it is itself a message (the
    DATE_EXPECTED hint), or by `nested`'s function for its name (ingest's `reason`, a
    whole reason in turn: services/ingest/reasons.py)."""
    if language not in LANGUAGES or language == DEFAULT_LANGUAGE:
        return message
    translated = known_message(message, language, directories)
    if translated != message:
        return translated
    for directory in directories:
        for pattern, names, template in message_patterns(directory, language):
            matched = pattern.match(message)
            if matched:
                return fill_placeholders(template, {
                    name: nested[name](value, language) if nested and name in nested
                    else known_message(value, language, directories)
                    for name, value in zip(names, matched.groups())})
    return message


def known_message(value: str, language: str, directories: Sequence[Path]) -> str:
    """A placeholder's value in `language` when it is a message of a catalogue, else as
    it is (a name, a number)."""
    for directory in directories:
        translated = Translator(directory, language).gettext(value)
        if translated != value:
            return translated
    return value


def fill_placeholders(template: str, values: dict[str, str]) -> str:
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def translate_messages(messages: Any, language: str, directories: Sequence[Path]) -> Any:
    """A field-messages map (marshmallow's shape: lists of messages, nested maps) with
    every message translated."""
    if isinstance(messages, str):
        return translate_text(messages, language, directories)
    if isinstance(messages, dict):
        return {key: translate_messages(value, language, directories)
                for key, value in messages.items()}
    if isinstance(messages, (list, tuple)):
        return [translate_messages(value, language, directories) for value in messages]
    return messages


def service_locales(service: str) -> tuple[Path, ...]:
    """Where the words a service answers with are: its own catalogue, then shared's."""
    own = SHARED_LOCALES.parent.parent / "services" / service / "locales"
    return ((own,) if (own / "cy.po").is_file() else ()) + (SHARED_LOCALES,)

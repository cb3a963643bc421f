"""The data map as people read it: which personal data each part of the system holds, whose,
and why, built from the services' own declarations (services/*/personal_data.py and the
plumbing tables every service has), so the web app's "How we keep your data safe" page
cannot drift from what the services store. dsar serves it at GET /api/v1/data-map.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from pathlib import Path
from typing import Any

from shared.config import RIGHTS_PARTICIPANTS, SERVICES
from shared.i18n import DEFAULT_LANGUAGE, LANGUAGES, Translator

from .declarations import DataDeclaration, Personal
from .participant import with_plumbing

# What each part of the system is called and is for, in the words of the privacy notice.
# A test checks that every service has both; the data itself comes from the declarations.
SERVICE_TITLES = {
    "identity": "Accounts and sign-in",
    "ingest": "Data received from the school",
    "linking": "Parent and child links",
    "reports": "Reports",
    "notifications": "Emails",
    "dsar": "Requests about personal data",
}

SERVICE_ROLES = {
    "identity": "Who may use the app, and for which school.",
    "ingest": "Receives what the school's own system sends, and passes it on. It keeps "
              "almost nothing once it has passed it on.",
    "linking": "Connects parents to their children, after checking the child's date of "
               "birth.",
    "reports": "Holds the progress reports and the school data they are made from.",
    "notifications": "Sends emails: invitations, password resets and new-report alerts.",
    "dsar": "Keeps track of requests about personal data (access, erasure and others), "
            "for accountability.",
}

WHOSE = {
    "account": "people with an account",
    "student": "students",
    "guardian": "parents and carers",
    "staff": "school staff",
    "any": "anyone it is about",
}

# Tables whose names mean nothing to a reader: the plumbing every service has.
TABLE_NAMES = {
    "outbox": "messages waiting to be passed to other parts of the system",
    "dead_letters": "messages that could not be processed, kept for repair",
    "address_failures": "failed sign-ins, by hashed network address",
    "roster_rows": "the school's roster upload (OneRoster)",
    "export_parts": "copies of data for a request, until the copy expires",
    "deliveries": "emails waiting to be sent",
}

COLUMN_NAMES = {"password_hash": "password (scrambled, never readable)",
                "address_hash": "network address (scrambled)",
                "payload": "message content", "data": "record content",
                "sourced_id": "the school's reference", "content": "report content",
                "body": "report content as shown", "body_text": "email text",
                "body_html": "email text", "to_address": "email address",
                "authorised_by": "who authorised the school"}


def declaration_of(service: str) -> DataDeclaration:
    module = importlib.import_module(f"services.{service}.personal_data")
    declared = module.DECLARATION or getattr(module, "CLASSIFICATION", None)
    return with_plumbing(declared or DataDeclaration(service, ()))


def _readable(name: str, names: dict[str, str]) -> str:
    return names.get(name) or name.replace("_", " ")


def service_entry(declaration: DataDeclaration) -> dict[str, Any]:
    held = []
    for table in declaration.tables:
        groups: dict[tuple[str, str], list[str]] = {}
        for column, kind in table.columns.items():
            if isinstance(kind, Personal):
                groups.setdefault((kind.whose, kind.purpose), []).append(column)
        for (whose, purpose), columns in groups.items():
            fields = list(dict.fromkeys(_readable(c, COLUMN_NAMES) for c in columns))
            held.append({"table": table.table,
                         "what": _readable(table.table, TABLE_NAMES), "fields": fields,
                         "columns": columns, "whose": whose,
                         "whose_text": WHOSE.get(whose, whose), "purpose": purpose})
    return {"service": declaration.service, "title": SERVICE_TITLES[declaration.service],
            "role": SERVICE_ROLES[declaration.service],
            "answers_requests": declaration.service in RIGHTS_PARTICIPANTS, "held": held}


@lru_cache(maxsize=1)
def data_map() -> dict[str, Any]:
    """Every service, the personal data it declares (grouped by whose and why), in order."""
    return {"source": "the personal-data declarations of every service",
            "services": [service_entry(declaration_of(s)) for s in SERVICES]}


# The Welsh of every word a person reads in the map (issue 29): a catalogue of its own,
# beside this module, as each service keeps its words beside its code.
LOCALES = Path(__file__).with_name("locales")


def readable_texts(entry: dict[str, Any]) -> list[str]:
    """The words a person reads in one service's entry of the map."""
    texts = [entry["title"], entry["role"]]
    for item in entry["held"]:
        texts += [item["what"], *item["fields"], item["whose_text"], item["purpose"] or ""]
    return [text for text in texts if text]


@lru_cache(maxsize=len(LANGUAGES))
def data_map_in(language: str) -> dict[str, Any]:
    """The map in `language` (the web app's Accept-Language): what a person reads
    translated, the codes (service, table, columns, whose) as they are."""
    english = data_map()
    if language not in LANGUAGES or language == DEFAULT_LANGUAGE:
        return english
    say = Translator(LOCALES, language).gettext

    def item_in(item: dict[str, Any]) -> dict[str, Any]:
        return {**item, "what": say(item["what"]), "fields": [say(f) for f in item["fields"]],
                "whose_text": say(item["whose_text"]),
                "purpose": say(item["purpose"]) if item["purpose"] else item["purpose"]}

    return {**english, "services": [
        {**entry, "title": say(entry["title"]), "role": say(entry["role"]),
         "held": [item_in(item) for item in entry["held"]]} for entry in english["services"]]}

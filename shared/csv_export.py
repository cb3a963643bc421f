"""CSV for people to open in a spreadsheet (exports): cells that a spreadsheet would run as
a formula are neutralised.

OWASP "CSV Injection": a cell starting with `=`, `+`, `-`, `@`, a tab or a carriage return
can be taken for a formula (`=HYPERLINK(...)`, `@SUM(...)`, DDE). Such a cell is written
with a single quote in front, which spreadsheets show as text. Names, notes and comments in
an export are typed by people, some of them hostile.
"""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterable, Mapping

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Any) -> Any:
    """The value as a CSV cell: lists and objects as JSON, formula starts quoted."""
    if isinstance(value, (dict, list)):
        value = json.dumps(value)
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_table(rows: Iterable[Mapping[str, Any]]) -> str:
    """Rows as CSV text: a header of every key (sorted), then each row, every cell safe."""
    rows = list(rows)
    columns = sorted({key for row in rows for key in row})
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=[safe_cell(c) for c in columns])
    writer.writeheader()
    for row in rows:
        writer.writerow({safe_cell(k): safe_cell(v) for k, v in row.items()})
    return text.getvalue()

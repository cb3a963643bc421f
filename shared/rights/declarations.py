"""Personal-data declarations: every text, date and JSON column is classified."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping

import sqlalchemy as sa


@dataclass(frozen=True)
class Personal:
    """Personal data of this kind of person (student, guardian, staff, account, any)."""
    whose: str
    purpose: str = ""


@dataclass(frozen=True)
class NotPersonal:
    pass


NOT_PERSONAL = NotPersonal()


@dataclass(frozen=True)
class TableDeclaration:
    """One table: which columns name a subject, and the class of every text/date/JSON column.

    `subjects` maps a subject type to the column holding that subject's id: the shared
    participant exports, erases and restricts the rows where it matches.
    """
    table: str
    columns: Mapping[str, Personal | NotPersonal]
    subjects: Mapping[str, str] = field(default_factory=dict)
    school_column: str | None = "school_id"


@dataclass(frozen=True)
class DataDeclaration:
    service: str
    tables: tuple[TableDeclaration, ...]

    def table(self, name: str) -> TableDeclaration | None:
        return next((t for t in self.tables if t.table == name), None)

    def personal_columns(self) -> dict[str, dict[str, Personal]]:
        return {t.table: {c: k for c, k in t.columns.items() if isinstance(k, Personal)}
                for t in self.tables}


# Column types that can hold a name, an email, a date of birth or free text.
_PERSON_SHAPED = (sa.String, sa.Text, sa.Date, sa.DateTime, sa.JSON, sa.Enum,
                  sa.LargeBinary)


def _person_shaped(column: sa.Column[Any]) -> bool:
    col_type: object = column.type
    if isinstance(col_type, sa.types.TypeDecorator):
        col_type = getattr(col_type, "impl_instance", col_type.impl)
    return isinstance(col_type, _PERSON_SHAPED)


def unclassified_columns(metadata: sa.MetaData, declaration: DataDeclaration) -> list[str]:
    """`table.column` for every person-shaped column the declaration does not classify,
    and for every declared column that does not exist (a stale declaration)."""
    problems = []
    for table in metadata.sorted_tables:
        declared = declaration.table(table.name)
        for column in table.columns:
            if not _person_shaped(column):
                continue
            if declared is None or column.name not in declared.columns:
                problems.append(f"{table.name}.{column.name}")
    for declared in declaration.tables:
        existing = metadata.tables.get(declared.table)
        names = set(existing.columns.keys()) if existing is not None else set()
        for name in (*declared.columns, *declared.subjects.values()):
            if name not in names:
                problems.append(f"{declared.table}.{name} (declared, missing)")
    return problems

"""A district or trust export holds several schools: only the school's own rows are taken
(issue 23). No Flask, no DB.

The school names its OneRoster org sourcedIds in its settings. A class is the school's when
its `schoolSourcedId` is; a user when one of its orgs (`orgSourcedIds`,
`primaryOrgSourcedId`, a roles.csv `orgSourcedId`) is, when it is enrolled in one of the
school's classes, or when it is a contact of (or has as contact) one of the school's users;
a user with no org at all is kept (it belongs to no other org). Rows that belong only to
other orgs are dropped before the bundle is applied: not held, not pushed, counted per org
in the answer without naming anyone.
"""
from __future__ import annotations

from collections import defaultdict

from .oneroster import Bundle, Row, State, _error

FILES_BY_USER = ("roles", "demographics")


def school_orgs(held: State, bundle: Bundle) -> set[str]:
    """The sourcedIds of the orgs of type school, held or in this bundle."""
    orgs = dict(held.get("orgs", {}))
    if "orgs" in bundle.modes:
        rows = bundle.rows.get("orgs", [])
        if bundle.modes["orgs"] == "bulk":
            orgs = {}
        orgs.update({r.sourced_id: r for r in rows if r.status == "active"})
    return {sid for sid, row in orgs.items() if row.values.get("type") == "school"}


def scope(held: State, bundle: Bundle, ours: tuple[str, ...]) -> tuple[list[dict], dict]:
    """(faults, {org sourcedId: {file: rows not taken}}). Drops from `bundle.rows` the rows
    that belong only to other orgs. Several school orgs and no setting: a fault."""
    if not ours:
        schools = school_orgs(held, bundle)
        if len(schools) <= 1:
            return [], {}
        return [_error("orgs.csv", None, f"The bundle holds {len(schools)} schools "
                       f"(orgs {', '.join(sorted(schools))}): name this school's own in its "
                       "OneRoster settings (school_org_ids), so that only its pupils are "
                       "taken.")], {}
    owner = _Owner(_everything(held, bundle), set(ours))
    counts: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for file, rule in RULES.items():
        kept = []
        for row in bundle.rows.get(file, []):
            org = None if row.status != "active" else rule(owner, row)
            if org is None:  # the school's (a tobedeleted row removes only what is held)
                kept.append(row)
            else:
                counts[org or "unknown"][f"{file}.csv"] += 1
        if file in bundle.rows:
            bundle.rows[file] = kept
    return [], {org: dict(files) for org, files in sorted(counts.items())}


def _everything(held: State, bundle: Bundle) -> dict[str, dict[str, Row]]:
    """Held rows and this bundle's, by file and sourcedId (the bundle's win)."""
    out: dict[str, dict[str, Row]] = {}
    for file in ("classes", "users", "roles", "enrollments", "lineItems"):
        out[file] = dict(held.get(file, {}))
        out[file].update({r.sourced_id: r for r in bundle.rows.get(file, [])
                          if r.status == "active"})
    return out


class _Owner:
    """Which rows are the school's: its classes, its users, its line items."""

    def __init__(self, rows: dict[str, dict[str, Row]], mine: set[str]):
        self.mine = mine
        self.class_school = {sid: r.values.get("school") for sid, r in rows["classes"].items()}
        self.classes = {c for c, school in self.class_school.items() if school in mine}
        self.orgs = self._orgs(rows)
        self.users = self._users(rows)
        self.line_items = {sid for sid, r in rows["lineItems"].items()
                           if r.values.get("class") in self.classes}

    @staticmethod
    def _orgs(rows: dict[str, dict[str, Row]]) -> dict[str, set[str]]:
        orgs = {sid: set(r.values.get("orgs") or ()) for sid, r in rows["users"].items()}
        for role in rows["roles"].values():
            if role.values.get("org"):
                orgs.setdefault(role.values["user"], set()).add(role.values["org"])
        return orgs

    def _users(self, rows: dict[str, dict[str, Row]]) -> set[str]:
        users = {u for u, of in self.orgs.items() if not of or of & self.mine}
        users |= {r.values["user"] for r in rows["enrollments"].values()
                  if r.values.get("class") in self.classes}
        contacts = set()
        for sid, row in rows["users"].items():
            agents = set(row.values.get("agents") or ())
            if sid in users:
                contacts |= agents
            elif agents & users:
                contacts.add(sid)
        return users | contacts

    def org_of(self, user: str) -> str:
        return min(self.orgs.get(user) or {""})

    def of_class(self, class_id: str | None) -> str | None:
        return None if class_id in self.classes else self.class_school.get(class_id) or ""


def _class(owner: _Owner, row: Row) -> str | None:
    return owner.of_class(row.sourced_id)


def _user(owner: _Owner, row: Row) -> str | None:
    return None if row.sourced_id in owner.users else owner.org_of(row.sourced_id)


def _role(owner: _Owner, row: Row) -> str | None:
    user, org = row.values["user"], row.values.get("org")
    if user in owner.users and (not org or org in owner.mine):
        return None
    return org or owner.org_of(user)


def _in_class(owner: _Owner, row: Row) -> str | None:
    return owner.of_class(row.values.get("class"))


def _result(owner: _Owner, row: Row) -> str | None:
    return None if row.values.get("line_item") in owner.line_items else ""


# Per file: None when the row is the school's, else the other org it belongs to.
RULES = {"classes": _class, "users": _user, "roles": _role, "demographics": _user,
         "enrollments": _in_class, "lineItems": _in_class, "results": _result}

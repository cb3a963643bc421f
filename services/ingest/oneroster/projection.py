"""Projecting the held roster onto the pushed events a JSON batch carries: students, the
contacts who receive reports, teachers, classes and the bundle's results, each fault named
by the row at fault."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from .fields import CONTACT_ROLES, Row, _error
from .reading import Bundle
from .roster import Pushed, Settings, State, _stub

@dataclass
class Projection:
    events: list[Pushed]
    kept: State  # what to hold: only the people and relations Pupil Progress uses
    projected: dict[str, set[str]]  # record type -> source ids pushed as that type
    errors: list[dict]
    ignored: list[dict]


TAKEN_ROLES = ("student", "teacher", *CONTACT_ROLES)


def user_roles(state: State) -> dict[str, list[str]]:
    """sourcedId -> every role of the user, each once: roles.csv's primary roles first,
    then the users.csv role column (OneRoster 1.1), then roles.csv's other roles. A 1.2
    user may be, say, a teacher of a class and a guardian of a student: each role is
    honoured."""
    roles: dict[str, list[str]] = {}

    def add(user: str, role: str) -> None:
        if role not in roles.setdefault(user, []):
            roles[user].append(role)
    ordered = sorted(state["roles"].values(), key=lambda r: not r.values["primary"])
    for row in (r for r in ordered if r.values["primary"]):
        add(row.values["user"], row.values["role"])
    for sid, row in state["users"].items():
        if row.values.get("role"):
            add(sid, row.values["role"])
    for row in ordered:
        add(row.values["user"], row.values["role"])
    return roles


def _contact_role(roles: list[str] | None) -> str | None:
    """The user's contact role (parent, guardian, relative), the primary one first."""
    return next((r for r in roles or () if r in CONTACT_ROLES), None)


def _roles_not_taken(state: State) -> list[dict]:
    """Roles Pupil Progress has no use for (administrators, aides, …), by row."""
    ignored = [_error("roles.csv", row.line, "role: Not a role Pupil "
                      "Progress takes (student, teacher, parent, guardian, relative).")
               for row in state["roles"].values()
               if row.line is not None and row.values["role"] not in TAKEN_ROLES]
    ignored += [_error("users.csv", row.line, "role: Not a role Pupil "
                       "Progress takes (student, teacher, parent, guardian, relative).")
                for row in state["users"].values() if row.line is not None
                and row.values.get("role") and row.values["role"] not in TAKEN_ROLES]
    return ignored


def _year_group(grades: list[str]) -> int | None:
    """The first grade 01-13 as a year group; none such (no `grades`, or only codes like
    PS, KG, UG, Other): not known."""
    for grade in grades:
        if grade.isascii() and grade.isdigit() and len(grade) <= 2 and 1 <= int(grade) <= 13:
            return int(grade)
    return None


class _Faults:
    """The faults and ignored rows a projection finds. A row whose own fault was reported
    when the bundle was read is not reported again; held rows are named by sourcedId."""

    def __init__(self, bundle: Bundle, erased: Callable[[str], bool]):
        self.bundle, self.erased = bundle, erased
        self.errors: list[dict] = []
        self.ignored: list[dict] = []
        self.removed = {r.sourced_id for rows in bundle.rows.values() for r in rows
                        if r.status == "tobedeleted"}

    def fault(self, file: str, row: Row, reason: str) -> None:
        if row.sourced_id in self.bundle.faulty_ids:
            return  # its own row's fault is reported already
        if row.line is None:
            self.errors.append(_error(file, None, f"sourcedId {row.sourced_id} (held from "
                                      f"an earlier upload): {reason}"))
        else:
            self.errors.append(_error(file, row.line, reason))

    def dangling(self, file: str, row: Row, column: str, target: str, ref: str) -> None:
        if ref in self.bundle.faulty_ids:  # the row it names has a fault of its own
            return
        if target in ("users", "student") and self.erased(ref):
            self.ignored.append(_error(file, row.line, f"{column}: Names a person erased at "
                                       "the school's request: not applied."))
        elif ref in self.removed:
            self.errors.append(_error(file, row.line, f"{column}: Names {ref}, which this "
                                      "bundle marks tobedeleted."))
        else:
            self.errors.append(_error(file, row.line, f"{column}: No {target} record {ref}."))


# The references rows make: (file, value naming the row referred to (None: the row's own
# sourcedId), its column, the file it names).
REFERENCES = (
    ("classes", "course", "courseSourcedId", "courses"),
    ("classes", "school", "schoolSourcedId", "orgs"),
    ("roles", "user", "userSourcedId", "users"),
    ("demographics", None, "sourcedId", "users"),
    ("enrollments", "class", "classSourcedId", "classes"),
    ("lineItems", "class", "classSourcedId", "classes"),
    ("lineItems", "session", "academicSessionSourcedId", "academicSessions"),
)


def _check_references(state: State, faults: _Faults) -> None:
    """References from rows of this bundle must resolve."""
    for name, key, column, target in REFERENCES:
        for row in state[name].values():
            ref = row.sourced_id if key is None else row.values.get(key)
            if row.line is not None and ref and ref not in state[target]:
                faults.dangling(f"{name}.csv", row, column, target, ref)
    _check_enrolled_people(state, faults)


def _check_enrolled_people(state: State, faults: _Faults) -> None:
    """A student's or teacher's enrollment must name a held user (other roles' are not
    taken, and need not)."""
    for row in state["enrollments"].values():
        if row.line is not None and row.values["role"] in ("student", "teacher") \
                and row.values["user"] not in state["users"]:
            faults.dangling("enrollments.csv", row, "userSourcedId", "users",
                            row.values["user"])


def _check_users_have_a_role(state: State, roles: dict[str, list[str]],
                             faults: _Faults) -> None:
    faults.ignored += _roles_not_taken(state)
    for sid, row in state["users"].items():
        if sid in roles or row.line is None:  # held without one: ignored when it came
            continue
        if faults.erased(sid):
            faults.ignored.append(_error("users.csv", row.line, "Erased at the school's "
                                         "request: taken anew only with its role "
                                         "(roles.csv)."))
        else:
            faults.fault("users.csv", row, "No role: give role in users.csv or a roles.csv "
                         "row.")


def _enrolled(state: State) -> dict[str, list[Row]]:
    """class sourcedId -> its enrollments of held users."""
    enrolled: dict[str, list[Row]] = {}
    for row in state["enrollments"].values():
        if row.values["class"] in state["classes"] and row.values["user"] in state["users"]:
            enrolled.setdefault(row.values["class"], []).append(row)
    return enrolled


def _form_groups(classes: dict[str, Row], enrolled: dict[str, list[Row]]) -> dict[str, str]:
    """student sourcedId -> the title of their (first) homeroom class."""
    form_groups: dict[str, str] = {}
    for class_id, rows in sorted(enrolled.items()):
        if classes[class_id].values["homeroom"]:
            for row in rows:
                if row.values["role"] == "student":
                    form_groups.setdefault(row.values["user"], classes[class_id].values["title"])
    return form_groups


def _student_events(state: State, students: set[str],
                    form_groups: dict[str, str]) -> list[Pushed]:
    events = []
    for sid in sorted(students):
        row = state["users"][sid]
        demographics = state["demographics"].get(sid)
        birth_date = demographics.values.get("birth_date") if demographics else None
        # Both optional: without a birthDate the links wait for one (none can be
        # confirmed); without a grade 01-13 the year group is not known.
        data = {"given_name": row.values["given_name"], "family_name": row.values["family_name"],
                "date_of_birth": birth_date, "form_group": form_groups.get(sid, ""),
                "year_group": _year_group(row.values["grades"])}
        if row.values.get("email") and row.values.get("enabled", True):
            data["email"] = row.values["email"]  # enabledUser false: no student account
        events.append(Pushed("student.upserted", sid, data, "users.csv", row.line))
    return events


def _children(users: dict[str, Row], roles: dict[str, list[str]],
              students: set[str]) -> dict[str, set[str]]:
    """contact sourcedId -> the students they are a contact of, the link given on either
    side (the student's agents or the contact's)."""
    children: dict[str, set[str]] = {}
    for sid, row in users.items():
        for agent in row.values["agents"]:
            if sid in students and _contact_role(roles.get(agent)):
                children.setdefault(agent, set()).add(sid)
            if _contact_role(roles.get(sid)) and agent in students:
                children.setdefault(sid, set()).add(agent)
    return children


def _contact_not_taken(row: Row, role: str | None, kids: list[str],
                       settings: Settings) -> str | None:
    """Why a contact is not taken, or None: taken."""
    receives = row.values.get("receives_reports")
    if receives is None:
        receives = role in settings.report_contact_roles
    if not receives or not kids:
        return "A contact who receives no child's reports is not taken."
    if not row.values.get("enabled", True):
        return "enabledUser false: no invitation; not taken."
    if not row.values.get("email"):
        return "A contact without an email cannot sign in: not taken."
    return None


def _contact_events(state: State, roles: dict[str, list[str]], students: set[str],
                    settings: Settings, faults: _Faults) -> tuple[list[Pushed], set[str]]:
    """The contacts who receive reports for at least one child, and can sign in."""
    users, events, contacts = state["users"], [], set()
    children = _children(users, roles, students)
    for sid in sorted(s for s, r in roles.items() if _contact_role(r) and s in users):
        row = users[sid]
        if row.values.get("given_name") is None:
            continue  # held as a stub: not taken before, and not in this bundle
        role, kids = _contact_role(roles[sid]), sorted(children.get(sid, ()))
        reason = _contact_not_taken(row, role, kids, settings)
        if reason is not None:
            if row.line is not None:
                faults.ignored.append(_error("users.csv", row.line, reason))
            continue
        contacts.add(sid)
        events.append(Pushed("guardian.upserted", sid, {
            "given_name": row.values["given_name"], "family_name": row.values["family_name"],
            "email": row.values["email"], "students": [
                {"student_id": kid, "relationship": role, "receives_reports": True}
                for kid in kids]}, "users.csv", row.line))
    return events, contacts


def _teacher_events(state: State, teachers: set[str]) -> list[Pushed]:
    return [Pushed("staff.upserted", sid, {
        "title": "", "given_name": state["users"][sid].values["given_name"],
        "family_name": state["users"][sid].values["family_name"]},
        "users.csv", state["users"][sid].line) for sid in sorted(teachers)]


def _subject(row: Row, course: Row | None) -> str:
    """The class's first subject, else its course's, else the course's title, else the
    class's own title."""
    subject = next(iter(row.values["subjects"] or (course.values["subjects"] if course
                                                    else [])), None)
    return subject or (course.values["title"] if course else row.values["title"])


def _class_events(state: State, enrolled: dict[str, list[Row]], students: set[str],
                  teachers: set[str]) -> tuple[list[Pushed], set[str]]:
    """The scheduled classes (homeroom classes are form groups), with their members."""
    events, taught = [], set()
    for class_id in sorted(state["classes"]):
        row = state["classes"][class_id]
        if row.values["homeroom"]:
            continue
        members = enrolled.get(class_id, [])
        taught.add(class_id)
        events.append(Pushed("class.upserted", class_id, {
            "name": row.values["title"],
            "subject": _subject(row, state["courses"].get(row.values["course"])),
            "teacher_ids": _members(members, "teacher", teachers),
            "student_ids": _members(members, "student", students)},
            "classes.csv", row.line))
    return events, taught


def _members(enrollments: list[Row], role: str, people: set[str]) -> list[str]:
    """The class's members in `role` who are taken (in `people`), sorted."""
    return sorted(r.values["user"] for r in enrollments
                  if r.values["role"] == role and r.values["user"] in people)


def _result_applies(row: Row, state: State, students: set[str], taught: set[str],
                    faults: _Faults) -> bool:
    """Whether a result row can be applied; when not, why is reported."""
    if row.status != "active":
        faults.ignored.append(_error("results.csv", row.line, "A result cannot be withdrawn "
                                     "through OneRoster: not applied."))
        return False
    item = state["lineItems"].get(row.values["line_item"])
    if item is None:
        faults.dangling("results.csv", row, "lineItemSourcedId", "lineItems",
                        row.values["line_item"])
        return False
    if row.values["student"] not in students:
        faults.dangling("results.csv", row, "studentSourcedId", "student",
                        row.values["student"])
        return False
    if item.values["class"] not in taught:
        if item.values["class"] not in faults.bundle.faulty_ids:  # else reported already
            faults.errors.append(_error("results.csv", row.line, "lineItemSourcedId: Its "
                                        "class is not a scheduled class held."))
        return False
    if row.values["value"] is None:
        faults.ignored.append(_error("results.csv", row.line, "No score: not applied."))
        return False
    return True


def _result_events(state: State, bundle: Bundle, students: set[str], taught: set[str],
                   faults: _Faults) -> list[Pushed]:
    """The bundle's results (results are not held: only this bundle's are pushed)."""
    events = []
    for row in bundle.rows.get("results", []):
        if not _result_applies(row, state, students, taught, faults):
            continue
        item = state["lineItems"][row.values["line_item"]]
        session = state["academicSessions"].get(item.values["session"])
        events.append(Pushed("attainment.recorded", row.sourced_id, {
            "student_id": row.values["student"], "class_id": item.values["class"],
            "period": session.values["title"] if session else "", "kind": row.values["kind"],
            "value": row.values["value"], "out_of": item.values["out_of"],
            "topic": item.values["title"]}, "results.csv", row.line))
    return events


def _kept(state: State, people: set[str], students: set[str]) -> State:
    """What to hold: everyone else is held as a stub (role and links, no name or email),
    so later deltas that name them still resolve."""
    users = state["users"]
    kept = {name: dict(rows) for name, rows in state.items()}
    kept["users"] = {s: r if s in people else _stub(r) for s, r in users.items()}
    kept["roles"] = {s: r for s, r in state["roles"].items() if r.values["user"] in users}
    kept["demographics"] = {s: r for s, r in state["demographics"].items() if s in students}
    kept["enrollments"] = _kept_enrollments(state, people)
    return kept


def _kept_enrollments(state: State, people: set[str]) -> dict[str, Row]:
    """The enrollments of people taken in classes held."""
    return {s: r for s, r in state["enrollments"].items()
            if r.values["user"] in people and r.values["class"] in state["classes"]}


def project(state: State, bundle: Bundle, settings: Settings,
            erased: Callable[[str], bool] = lambda sourced_id: False) -> Projection:
    """The roster as pushed events: students, the contacts who receive reports for at least
    one child, teachers, classes (homeroom classes are form groups), and the bundle's
    results. Errors name the row at fault (held rows by sourcedId). `erased` tells a user
    erased at the school's request: rows naming one are ignored, not faults."""
    users, roles = state["users"], user_roles(state)
    faults = _Faults(bundle, erased)
    _check_references(state, faults)
    students = {s for s, r in roles.items() if "student" in r and s in users}
    teachers = {s for s, r in roles.items() if "teacher" in r and s in users}
    _check_users_have_a_role(state, roles, faults)
    enrolled = _enrolled(state)
    events = _student_events(state, students, _form_groups(state["classes"], enrolled))
    contact_events, contacts = _contact_events(state, roles, students, settings, faults)
    events += contact_events
    events += _teacher_events(state, teachers)
    class_events, taught = _class_events(state, enrolled, students, teachers)
    events += class_events
    events += _result_events(state, bundle, students, taught, faults)
    kept = _kept(state, students | teachers | contacts, students)
    return Projection(events, kept, {"student": students, "guardian": contacts,
                                     "staff": teachers, "class": taught},
                      faults.errors, faults.ignored)

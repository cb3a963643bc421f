"""Issue 29: every reason ingest gives for a rejected event, a OneRoster fault or a row not
taken exists in Welsh, and is read in Welsh (services/ingest/reasons.py) while the push's
answer stays English.

The reasons are found by reading ingest's source (ast), as tests/unit/test_welsh_errors.py
finds the API's errors: each "error" of a dict literal, the reason given to `_error`,
`_fault`, `fault` and `_origin`, each one appended to a row's `reasons`, the ones
`validate_event` returns and `_Unreadable` and `_header_fault` say; an f-string as its
template. A reason built where the scan cannot read its words must be one of the known
sites below (its words come from another scanned place or from marshmallow)."""
from __future__ import annotations

import ast
import io
import re
import zipfile
from pathlib import Path

from services.ingest import reasons
from services.ingest.oneroster import BundleRejected, read_bundle
from services.ingest.service import validate_event
from shared.contracts.fields import DATE_EXPECTED
from shared.i18n import missing
from tests.unit.test_welsh_errors import _text

ROOT = Path(__file__).resolve().parents[2]
INGEST = ROOT / "services" / "ingest"
# The call -> the index of its reason argument.
REASON_ARGUMENTS = {"_error": 2, "_fault": 3, "fault": 2, "_origin": 1, "_Unreadable": 0}
# Reasons said by returning them.
RETURNING = {"validate_event", "_header_fault"}
# Sites whose reason is not literal there, and where its words are (all scanned or checked).
BUILT_ELSEWHERE = {
    "exc.answer or exc.code",  # a Conflict's answer: in the API's errors' scan
    "reason",  # handed on: the caller's literal is scanned
    "fault",  # _header_fault's: scanned
    "' '.join(faults) or None",  # _header_fault's, each appended one scanned
    "str(exc)",  # _Unreadable's (scanned) or a ContractError's (CONTRACT below)
    "'; '.join(reasons)",  # a row's reasons: each appended one scanned
    "_reason(err.messages)", "_reason(err.messages, 'data.')",  # marshmallow's, by field
    "outcome", "r['error']",  # validate_event's, handed on
    "(kind, head['source_id'], data)",  # validate_event's success, not a reason
}
# A ContractError (our translation and the contracts disagree): its reason's shape.
CONTRACT = ["{event_type} v{version} invalid: {reason}"]
PARTS = re.compile(r"; (?=[A-Za-z_][\w.]*: )")  # a reason's "field: messages" parts


def _reason_nodes(tree: ast.Module) -> list[ast.expr]:
    found: list[ast.expr] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Dict):
            found += [v for k, v in zip(node.keys, node.values)
                      if isinstance(k, ast.Constant) and k.value == "error"]
        if isinstance(node, ast.Call):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else getattr(func, "attr", None)
            if name in REASON_ARGUMENTS and len(node.args) > REASON_ARGUMENTS[name]:
                found.append(node.args[REASON_ARGUMENTS[name]])
            if (name in ("append", "extend") and isinstance(func, ast.Attribute)
                    and isinstance(func.value, ast.Name)
                    and func.value.id in ("reasons", "faults") and node.args):
                found.append(node.args[0])
        if isinstance(node, ast.FunctionDef) and node.name in RETURNING:
            found += [n.value for n in ast.walk(node)
                      if isinstance(n, ast.Return) and n.value is not None
                      and not (isinstance(n.value, ast.Constant) and n.value.value is None)]
    return found


def _conditional(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.IfExp):
        return _conditional(node.body) + _conditional(node.orelse)
    return [node]


def scanned() -> tuple[dict[str, str], set[str]]:
    """Every reason template -> its module; the sites not literal."""
    templates: dict[str, str] = {}
    built: set[str] = set()
    for path in sorted(INGEST.rglob("*.py")):
        if "migrations" in path.parts or path.name in ("examples.py", "reasons.py"):
            continue
        for node in _reason_nodes(ast.parse(path.read_text(), str(path))):
            for one in _conditional(node):
                text = _text(one)
                if text and not re.search(r"[A-Za-z]", re.sub(r"\{[^{}]*\}", "", text)):
                    continue  # "{column}: {messages}": a field's name and its messages
                if text:
                    templates.setdefault(text, str(path.relative_to(ROOT)))
                else:
                    built.add(ast.unparse(one))
    return templates, built


def test_the_scan_finds_the_reasons_it_should():
    templates, _ = scanned()
    assert "event: Must be an object with type, source_id and data." in templates
    assert "{column}: No {target} record {ref}." in templates
    assert "sourcedId: Also on line {seen[row.sourced_id]}." in templates
    assert "Missing column {', '.join(missing)}." in templates
    assert "Not UTF-8 (after line {reader.line_num})." in templates


def test_every_reason_is_a_known_message_or_built_from_them():
    _, built = scanned()
    assert built <= BUILT_ELSEWHERE, f"reasons the scan cannot read: {built - BUILT_ELSEWHERE}"


def test_every_reason_ingest_can_give_has_its_welsh():
    templates, _ = scanned()
    lacking = sorted(f"{t!r} ({where})" for t, where in templates.items()
                     if all(missing(d, [t]) for d in reasons.LOCALES))
    lacking += [repr(t) for t in [*CONTRACT, DATE_EXPECTED]
                if all(missing(d, [t]) for d in reasons.LOCALES)]
    assert not lacking, "no Welsh for:\n" + "\n".join(lacking)


def test_a_rejected_events_reasons_are_read_in_welsh_field_names_kept():
    made = [validate_event(raw) for raw in (
        "not an object",
        {"type": "student.exploded", "source_id": "S1", "data": {}},
        {"type": "student.upserted", "source_id": "S1", "data": {
            "given_name": "", "family_name": "x" * 500, "form_group": "7A",
            "year_group": 17, "nickname": "Annie"}},
        {"type": "attainment.recorded", "source_id": "A1", "priority": "high", "data": {}})]
    assert all(isinstance(reason, str) for reason in made)
    for reason in made:
        welsh = reasons.translate(str(reason), "cy")
        assert welsh != reason and reasons.translate(str(reason), "en") == reason
        for part, english in zip(PARTS.split(welsh), PARTS.split(str(reason))):
            field, _, said = english.partition(": ")
            assert part.startswith(f"{field}: ")  # the school system's names, as sent
            assert said not in part, part  # no English message left
    date = validate_event({"type": "student.upserted", "source_id": "S1", "data": {
        "given_name": "Ann", "family_name": "Smith", "date_of_birth": "2015-02-30",
        "form_group": "7A", "year_group": 7}})
    assert reasons.translate(str(date), "cy") == (
        "data.date_of_birth: Nid yw'n ddyddiad go iawn (nid oes diwrnod o'r fath, neu nid yw "
        "wedi'i ysgrifennu fel BBBB-MM-DD): disgwylir blwyddyn-mis-diwrnod fel BBBB-MM-DD, "
        "er enghraifft 2015-03-02.")
    year = reasons.translate("data.year_group: A year group from 0 (Reception) to 13 "
                             "(Year 13); leave it out when not known.", "cy")
    assert year == ("data.year_group: Grŵp blwyddyn o 0 (Derbyn) i 13 (Blwyddyn 13); "
                    "gadewch ef allan os nad yw'n hysbys.")


def _bundle(files: dict[str, str]) -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return out.getvalue()


def test_a_bundles_faults_are_read_in_welsh():
    manifest = ("propertyName,value\nmanifest.version,1.0\noneroster.version,1.2\n"
                "file.users,bulk\nfile.orgs,absent\nfile.classes,absent\n"
                "file.enrollments,absent\nfile.roles,absent\nfile.demographics,absent\n"
                "file.academicSessions,absent\nfile.courses,absent\nfile.results,absent\n"
                "file.lineItems,absent\nfile.categories,absent\nfile.scoreScales,bulk\n")
    users = "sourcedId,status,sourcedId\nU1,active,U1\n"
    try:
        bundle = read_bundle(_bundle({"manifest.csv": manifest, "users.csv": users}))
        found = bundle.errors + bundle.ignored
    except BundleRejected as exc:
        found = exc.errors
    faults = [row["error"] for row in found]
    assert len(faults) > 1, faults
    for fault in faults:
        welsh = reasons.translate(fault, "cy")
        assert welsh != fault, fault
        # a message's values never run into the next message's words
        assert "Missing" not in welsh and "given twice" not in welsh, welsh


def test_old_stored_rows_and_unknown_words_stay_readable():
    rows = [{"index": 0, "error": "data.given_name: Missing data for required field.",
             "source_id": "S1"}, {"index": 1, "error": "Something nobody wrote."},
            {"index": 2}]
    welsh = reasons.rows(rows, "cy")
    assert welsh[0] == {"index": 0, "source_id": "S1",
                        "error": "data.given_name: " + reasons.translate(
                            "Missing data for required field.", "cy")}
    assert welsh[0]["error"] != rows[0]["error"]
    assert welsh[1:] == rows[1:]
    assert reasons.rows(rows, "en") == rows


def test_a_held_rows_reason_is_translated_inside_its_prefix():
    english = ("sourcedId U9 (held from an earlier upload): classSourcedId: No classes "
               "record C4.")
    welsh = reasons.translate(english, "cy")
    assert "U9" in welsh and "C4" in welsh and "classSourcedId: " in welsh
    assert "held from" not in welsh and "No classes record" not in welsh


def test_a_jobs_faults_and_ignored_rows_are_read_in_welsh():
    fault = {"file": "users.csv", "line": 3, "error": "score: Not a number."}
    ignored = {"file": "results.csv", "line": 4, "error": "No score: not applied."}
    answer = {"status": "applied", "faults": [fault],
              "result": {"ignored": [ignored], "schools": {"s": {"ignored": [ignored]}}}}
    welsh = reasons.job(answer, "cy")
    assert welsh["faults"][0]["error"] != fault["error"]
    assert welsh["result"]["ignored"][0]["error"] != ignored["error"]
    assert welsh["result"]["schools"]["s"]["ignored"][0]["error"] != ignored["error"]
    assert reasons.job(answer, "en") is answer

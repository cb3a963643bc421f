"""Issue 29: every error message the API answers with exists in Welsh, and a request asking
for Welsh (Accept-Language: cy) is answered in it, marshmallow's field messages too.

The messages are found by reading the source (ast), not by a list kept by hand: every
`answer` of a DomainError subclass, every message given to one where it is made (its
`answer` None: the message is what the caller reads), every literal ValidationError message
and every validator's `error=`; an f-string's message as its template (`{limit}`), which
the catalogue translates with the same placeholders. A message from services/<name> is
looked up in that service's catalogue then shared's; one from shared/ in shared's."""
from __future__ import annotations

import ast
import importlib
import pkgutil
from pathlib import Path

import marshmallow
import pytest
from marshmallow import fields as ma_fields
from marshmallow import validate as ma_validate

from shared.errors import ApiError, DomainError
from shared.i18n import SHARED_LOCALES, missing, service_locales, translate_text

ROOT = Path(__file__).resolve().parents[2]
SOURCES = [ROOT / "shared", *sorted((ROOT / "services").glob("*/"))]
# Said by shared/web.py's error handler itself and the gateway, not raised.
HANDLER_MESSAGES = ["Some fields are invalid.", "Internal error.", "Try again in a moment.",
                    "The system is stopping.", "Not found."]
# werkzeug's descriptions of the HTTP errors a route can end with before any view runs.
HTTP_STATUSES = (400, 401, 403, 404, 405, 409, 413, 415, 422, 423, 429)
VALIDATORS = {name for name, value in vars(ma_validate).items()
              if isinstance(value, type) and issubclass(value, ma_validate.Validator)}


def _text(node: ast.AST | None) -> str | None:
    """A literal message: a string, an f-string as its template, or literals joined by +."""
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return node.value
    if isinstance(node, ast.JoinedStr):
        return "".join(v.value if isinstance(v, ast.Constant) else
                       "{" + ast.unparse(v.value) + "}"  # type: ignore[attr-defined]
                       for v in node.values)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):
        left, right = _text(node.left), _text(node.right)
        return left + right if left is not None and right is not None else None
    return None


def _name(node: ast.AST) -> str | None:
    if isinstance(node, ast.Name):
        return node.id
    return node.attr if isinstance(node, ast.Attribute) else None


def _modules() -> list[tuple[Path, ast.Module]]:
    return [(path, ast.parse(path.read_text(), str(path)))
            for source in SOURCES for path in sorted(source.rglob("*.py"))
            if "migrations" not in path.parts]


def _error_classes() -> dict[str, tuple[str, bool]]:
    """DomainError and its subclasses (imported: their real method resolution order) by
    name -> ("ApiError" or their own name, whether the message given where one is made is
    what the caller reads: their `answer` is None)."""
    for source in ("shared", "services"):
        package = importlib.import_module(source)
        for module in pkgutil.walk_packages(package.__path__, f"{source}."):
            if not any(part in module.name for part in (".migrations", "__main__")):
                importlib.import_module(module.name)
    out: dict[str, tuple[str, bool]] = {}
    todo = [DomainError]
    while todo:
        cls = todo.pop()
        todo += cls.__subclasses__()
        out[cls.__name__] = ("ApiError" if issubclass(cls, ApiError) else cls.__name__,
                             cls.answer is None)
    return out


def _answer_node(node: ast.ClassDef) -> ast.expr | None:
    for item in node.body:
        target = (item.targets[0] if isinstance(item, ast.Assign) else
                  item.target if isinstance(item, ast.AnnAssign) else None)
        if isinstance(target, ast.Name) and target.id == "answer":
            return item.value  # type: ignore[union-attr]
    return None


def _given(call: ast.Call, kind: str, shown: bool) -> ast.expr | None:
    """The message a call making an error gives, if the caller reads it."""
    if kind == "ApiError":
        return call.args[2] if len(call.args) > 2 else next(
            (k.value for k in call.keywords if k.arg == "message"), None)
    if not shown:
        return None
    return call.args[0] if call.args else next(
        (k.value for k in call.keywords if k.arg == "message"), None)


def _validation_messages(node: ast.AST) -> list[str]:
    """ValidationError("..."), ValidationError({"field": ["..."]}) and validators' error=."""
    if not isinstance(node, ast.Call):
        return []
    out = [k.value for k in node.keywords
           if k.arg == "error" and _name(node.func) in VALIDATORS]
    if _name(node.func) == "ValidationError" and node.args:
        first = node.args[0]
        out.append(first)
        values = (first.values if isinstance(first, ast.Dict) else
                  [first.value] if isinstance(first, ast.DictComp) else [])
        out += [e for v in values if v is not None
                for e in (v.elts if isinstance(v, (ast.List, ast.Tuple)) else [v])]
    return [t for t in map(_text, out) if t]


def raised_messages() -> dict[str, set[Path]]:
    """Every error message in the source -> the modules it is in."""
    modules = _modules()
    classes = _error_classes()
    found: dict[str, set[Path]] = {}
    for path, tree in modules:
        texts: list[str | None] = []
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name in classes:
                texts.append(_text(_answer_node(node)))
            if isinstance(node, ast.Call) and _name(node.func) in classes:
                kind, shown = classes[_name(node.func)]  # type: ignore[index]
                texts.append(_text(_given(node, kind, shown)))
            texts += _validation_messages(node)
        for text in texts:
            if text and text.strip():
                found.setdefault(text, set()).add(path)
    return found


def marshmallow_messages() -> set[str]:
    """marshmallow's own messages: every field's defaults and every validator's."""
    out: set[str] = set()
    for value in vars(ma_fields).values():
        if isinstance(value, type) and issubclass(value, ma_fields.Field):
            for cls in value.__mro__:
                out.update(m for m in getattr(cls, "default_error_messages", {}).values()
                           if isinstance(m, str))
    for value in vars(ma_validate).values():
        if isinstance(value, type) and issubclass(value, ma_validate.Validator):
            out.update(v for k, v in vars(value).items()
                       if isinstance(v, str) and (k.startswith("message") or
                                                  k == "default_message" or
                                                  k.startswith("default_error")))
    out.update(marshmallow.Schema._default_error_messages.values())
    # Range's messages are written twice over ("Must be {min_op} {{min}}."): as they read.
    ranged = ma_validate.Range
    out -= {ranged.message_min, ranged.message_max, ranged.message_all, ranged.message_gte,
            ranged.message_gt, ranged.message_lte, ranged.message_lt}
    lows, highs = (ranged.message_gte, ranged.message_gt), (ranged.message_lte,
                                                           ranged.message_lt)
    out.update(f"Must be {low} {{min}}." for low in lows)
    out.update(f"Must be {high} {{max}}." for high in highs)
    out.update(f"Must be {low} {{min}} and {high} {{max}}." for low in lows for high in highs)
    # "Not a valid {awareness} {obj_type}." and "Not a valid {obj_type}.", as they read
    out -= {"Not a valid {awareness} {obj_type}.", "Not a valid {obj_type}.",
            '"{input}" cannot be formatted as a {obj_type}.'}
    out.update({"Not a valid datetime.", "Not a valid time.", "Not a valid naive datetime.",
                "Not a valid aware datetime.", "Not a valid naive time.",
                "Not a valid aware time.", '"{input}" cannot be formatted as a datetime.',
                '"{input}" cannot be formatted as a time.'})
    return out


def _catalogues_for(path: Path) -> tuple[Path, ...]:
    relative = path.relative_to(ROOT).parts
    return service_locales(relative[1]) if relative[0] == "services" else (SHARED_LOCALES,)


def test_the_scan_finds_the_messages_it_should():
    found = raised_messages()
    assert "Not found." in found  # NotFound.answer
    assert "The body is over {limit} bytes." in found  # ApiError's third argument
    assert "This login does not hold that role." in found  # a message given where raised
    assert "Give at least one setting to change." in found  # a schema's ValidationError
    assert "no such school" not in found  # Unknown answers its own words: never read
    assert "Missing data for required field." in marshmallow_messages()


def test_every_error_message_raised_has_its_welsh():
    lacking = sorted(f"{m!r} ({sorted(str(p.relative_to(ROOT)) for p in paths)[0]})"
                     for m, paths in raised_messages().items()
                     if all(missing(d, [m]) for d in _catalogues_for(sorted(paths)[0])))
    assert not lacking, "no Welsh for:\n" + "\n".join(lacking)


def test_marshmallows_and_the_handlers_messages_have_their_welsh():
    from werkzeug.exceptions import default_exceptions
    wanted = (marshmallow_messages() | set(HANDLER_MESSAGES)
              | {default_exceptions[s].description or "" for s in HTTP_STATUSES})
    assert not sorted(missing(SHARED_LOCALES, sorted(wanted)))


@pytest.mark.parametrize("english, welsh", [
    ("Not found.", "Heb ei ganfod."),
    ("Longer than maximum length 200.", "Yn hwy na'r hyd mwyaf, 200."),
    ("The body is over 1000 bytes.", "Mae'r corff dros 1000 beit."),
    ("Something nobody wrote.", "Something nobody wrote.")])
def test_a_message_written_with_its_values_is_translated(english, welsh):
    assert translate_text(english, "cy", (SHARED_LOCALES,)) == welsh
    assert translate_text(english, "en", (SHARED_LOCALES,)) == english


def test_a_bad_date_says_the_expected_format_in_welsh_too():
    """The hint is a message of its own, filled into the error's template: it is
    translated too, not left in English inside a Welsh sentence."""
    from shared.contracts.fields import DATE_EXPECTED
    welsh = translate_text(f"Not a date: {DATE_EXPECTED}.", "cy", [SHARED_LOCALES])
    assert welsh == ("Nid yw'n ddyddiad: disgwylir blwyddyn-mis-diwrnod fel BBBB-MM-DD, "
                     "er enghraifft 2015-03-02.")

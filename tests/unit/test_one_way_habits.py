"""Habits that keep one way to do each thing (issue 22), read from the code itself: a
refusal is a DomainError, not an HTTP answer built where the rule is; batch items and
rows are read by name, not by position; states are enums, not strings named by hand;
each service is wired in its bootstrap.py, with module-level views; the README's Layout
says what each kind of service module holds. `make test` runs these with
test_code_habits.py."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = sorted(p for p in (ROOT / "services").iterdir()
                  if (p / "__init__.py").exists())

# Known to break a habit, each being mended by another change under way; checked to be
# still there, so that the lists only shrink. "path: code", as the checks name them.
POSITIONAL_NOT_YET: set[str] = set()
HAND_ENUMS_NOT_YET: set[str] = set()
LATEST_NOT_YET: set[str] = set()


def _parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"))


def _where(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _held_to(found: dict[str, int], not_yet: set[str], advice: str) -> None:
    """`found` ("path: code" -> line) has nothing but the known cases, all still there."""
    new = sorted(f"{key} (line {line})" for key, line in found.items() if key not in not_yet)
    assert not new, f"{advice}: {new}"
    mended = sorted(not_yet - set(found))
    assert not mended, f"no longer found: take them off the list: {mended}"


# --- one error mapping -----------------------------------------------------------------
# Where a view's own answer (ApiError) may be raised: the views and the web layer.
VIEW_MODULES = re.compile(r"services/\w+/(\w+_)?api\.py|shared/(web|auth)\.py")


def test_a_refusal_is_a_domain_error_and_not_found_is_written_once():
    """Use cases and queries raise a DomainError kind (NotFound, Conflict...), which the
    one translator (shared/web.py) answers; ApiError is for a view's own input checks
    only, and never a 404: NotFound is the one (what a caller may not see included)."""
    found = set()
    for path in sorted([*(ROOT / "services").rglob("*.py"),
                        *(ROOT / "shared").rglob("*.py")]):
        for node in ast.walk(_parsed(path)):
            if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id == "ApiError"):
                continue
            status = node.args[0].value if node.args and isinstance(
                node.args[0], ast.Constant) else None
            if status == 404 or not VIEW_MODULES.fullmatch(_where(path)):
                found.add(f"{_where(path)}:{node.lineno}: ApiError({status})")
    assert not found, f"raise the DomainError kind (shared/errors.py) instead: {sorted(found)}"


# --- batch items named -----------------------------------------------------------------
def _batch_code() -> list[Path]:
    """The messaging internals and the modules whose use cases apply a batch's events."""
    return sorted({*(ROOT / "shared/messaging").glob("*.py"),
                   *(ROOT / "shared/rights").glob("*.py"),
                   *(ROOT / "services").glob("*/handlers.py"),
                   *(ROOT / "services").glob("*/roster.py"),
                   *(ROOT / "services").glob("*/service.py"),
                   ROOT / "services/identity/invitations.py"})


def _positional(node: ast.AST) -> bool:
    """A field read by its position: `item[1]`, or a field of a collection's item,
    `latest[key][0]`, `group[0][3]` (the first of a list, `batch[0]`, is not one)."""
    if not (isinstance(node, ast.Subscript) and isinstance(node.slice, ast.Constant)
            and isinstance(node.slice.value, int)):
        return False
    return node.slice.value != 0 or isinstance(node.value, ast.Subscript)


def test_batch_items_and_rows_are_read_by_name():
    found = {f"{_where(path)}: {ast.unparse(node)}": node.lineno
             for path in _batch_code() for node in ast.walk(_parsed(path))
             if _positional(node)}
    _held_to(found, POSITIONAL_NOT_YET,
             "name the parts (a NamedTuple or dataclass, a labelled column)")


# --- the latest version: one rule, written once -----------------------------------------
def test_the_latest_of_each_record_is_chosen_by_one_function():
    """A set-based projection keeps of each record the item applying them in order leaves:
    the highest version, the later of equals. shared.db.latest_versions says it; no
    module writes that loop again (identity, linking and shared/db each had their own)."""
    from shared.db import latest_versions

    items = [("a", 2, "first"), ("b", 1, "b"), ("a", 1, "older, late"), ("a", 2, "again")]
    chosen = latest_versions(items, lambda i: i[0], lambda i: i[1])
    assert {k: v[2] for k, v in chosen.items()} == {"a": "again", "b": "b"}
    written = re.compile(r"is None or .*version.*>=")
    found: dict[str, int] = {}
    for path in [*_batch_code(), ROOT / "shared/db.py"]:
        for node in ast.walk(_parsed(path)):
            if (isinstance(node, ast.FunctionDef) and node.name != "latest_versions"
                    and written.search(ast.unparse(node))):
                found[f"{_where(path)}: {node.name}"] = node.lineno
    _held_to(found, LATEST_NOT_YET, "use shared.db.latest_versions")


# --- states are enums ------------------------------------------------------------------
def test_states_are_enums_not_strings_named_by_hand():
    """`QUEUED, APPLIED = "queued", "applied"` is an enum written by hand: a StrEnum
    (equal to its strings, so rows, events and answers are unchanged) says it once."""
    found: dict[str, int] = {}
    for root in ("shared", "services"):
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in _parsed(path).body:
                if not (isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)
                        and isinstance(node.value, ast.Tuple)):
                    continue
                named = [t.id for t, v in zip(node.targets[0].elts, node.value.elts)
                         if isinstance(t, ast.Name) and isinstance(v, ast.Constant)
                         and isinstance(v.value, str) and t.id.lower() == v.value.lower()]
                if len(named) >= 2:
                    found[f"{_where(path)}: {', '.join(named)}"] = node.lineno
    _held_to(found, HAND_ENUMS_NOT_YET, "write a StrEnum (a service's states in its domain.py)")


# --- enum members taken by name ----------------------------------------------------------
def _last_name(node: ast.AST) -> str | None:
    """`Outcome` of `Outcome` or `rules.Ceremony` (`Ceremony`)."""
    return node.id if isinstance(node, ast.Name) else (
        node.attr if isinstance(node, ast.Attribute) else None)


def test_no_module_unpacks_an_enum_class():
    """`APPLIED, RETRY = Outcome` takes the members in the class's order: two members
    swapped in the class swap the names silently. `APPLIED = Outcome.APPLIED` says which."""
    paths = sorted(p for root in ("shared", "services") for p in (ROOT / root).rglob("*.py"))
    enums = {node.name for path in paths for node in ast.walk(_parsed(path))
             if isinstance(node, ast.ClassDef)
             and any((_last_name(base) or "").endswith("Enum") for base in node.bases)}
    assert {"Outcome", "JobStatus", "MembershipStatus", "Ceremony"} <= enums
    found = {f"{_where(path)}: {ast.unparse(node)}": node.lineno
             for path in paths for node in ast.walk(_parsed(path))
             if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Tuple)
             and _last_name(node.value) in enums}
    assert not found, f"take each member by name (X = Enum.X): {sorted(found)}"


# --- a message's placeholders filled once ------------------------------------------------
def test_a_message_with_placeholders_is_translated_by_one_function():
    """shared.i18n.translate_text matches a text to its catalogue's message with
    placeholders and fills them in Welsh; ingest's reasons had a copy of its loop (the one
    difference, a `reason` value translated as a reason, is its `nested` argument)."""
    inner = ("message_patterns", "fill_placeholders")
    found = {f"{_where(path)}: {name}": 1 for root in ("shared", "services")
             for path in sorted((ROOT / root).rglob("*.py")) if path != ROOT / "shared/i18n.py"
             for name in inner if name in _names(_parsed(path))}
    assert not found, f"call shared.i18n.translate_text: {sorted(found)}"


def _names(tree: ast.Module) -> set[str]:
    return {alias.name for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            for alias in node.names}


# --- a union of events written once ------------------------------------------------------
def _union_names(node: ast.expr) -> list[str] | None:
    """`ev.A | ev.B | C`: its class names; None for anything else."""
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.BitOr):
        left, right = _union_names(node.left), _union_names(node.right)
        return None if left is None or right is None else left + right
    if isinstance(node, ast.Attribute):
        return [node.attr]
    return [node.id] if isinstance(node, ast.Name) else None


def test_a_union_of_events_is_written_once():
    """A type several services take (a link's events: ParentVerified, LinkRevoked,
    LinkLocked) is written once, in shared (generated in shared/contracts/typed.py as
    LinkEvent); dsar, notifications and reports each wrote it again."""
    written: dict[frozenset[str], list[str]] = {}
    for root in ("shared", "services"):
        for path in sorted((ROOT / root).rglob("*.py")):
            for node in _parsed(path).body:
                names = _union_names(node.value) if isinstance(node, ast.Assign) else None
                if names and len(names) >= 2:
                    written.setdefault(frozenset(names), []).append(
                        f"{_where(path)}:{node.lineno}")
    twice = {" | ".join(sorted(k)): v for k, v in written.items() if len(v) > 1}
    assert not twice, f"write it once, in shared/ (shared/contracts/codegen.py): {twice}"


# --- a set of ids is one parameter ------------------------------------------------------
def _fixed(node: ast.expr) -> bool:
    """A set known when the code is written: a literal `(A, B)`, or a constant's NAME."""
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return not any(isinstance(e, ast.Starred) for e in node.elts)
    name = node.attr if isinstance(node, ast.Attribute) else getattr(node, "id", "")
    return name.isupper()


# shared.db itself; ingest's record store, whose keys go as one JSON parameter read as a
# one-column SELECT (`IN (SELECT …)`: one parameter already, on SQLite too).
ONE_PARAMETER_ALREADY = {ROOT / "shared/db.py", ROOT / "services/ingest/record_store.py"}


def test_a_set_of_ids_is_one_array_parameter():
    """`column.in_(ids)` sends one cast parameter per id (hundreds for a school's set),
    slow to plan and parse: shared.db.among sends the set as one array on PostgreSQL. An
    IN list stays for a set written in the code (`status.in_(OPEN)`) and for a pair of
    columns (`sa.tuple_(a, b).in_(pairs)`, which an array cannot hold)."""
    found: dict[str, int] = {}
    for root in ("shared", "services"):
        for path in sorted((ROOT / root).rglob("*.py")):
            if path in ONE_PARAMETER_ALREADY or "migrations" in path.parts:
                continue
            for node in ast.walk(_parsed(path)):
                if (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                        and node.func.attr == "in_" and len(node.args) == 1
                        and not _fixed(node.args[0])
                        and "tuple_" not in ast.unparse(node.func.value)):
                    found[f"{_where(path)}:{node.lineno}: {ast.unparse(node)}"] = node.lineno
    assert not found, f"use shared.db.among(column, ids): {sorted(found)}"


# --- the outbox row's state --------------------------------------------------------------
def test_an_outbox_rows_state_is_read_through_its_names():
    """Where a row is (waiting, sent, scrubbed) is said once, by OutboxState and confirmed()
    in shared/messaging/outbox.py: nobody else reads `sent_at IS NULL` for it."""
    raw = re.compile(r"\b(outbox|ob)\.c\.sent_at\.is_(not)?\(")
    found = [f"{_where(path)}:{number}" for root in ("shared", "services")
             for path in sorted((ROOT / root).rglob("*.py"))
             if path != ROOT / "shared/messaging/outbox.py"
             for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if raw.search(line)]
    assert not found, f"use OutboxState.<state>.rows(outbox) or confirmed(outbox): {found}"


# --- wiring in one place ---------------------------------------------------------------
def _imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
            names.update("." * node.level + alias.name for alias in node.names
                         if node.module is None)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def test_each_service_is_wired_in_its_bootstrap_and_its_views_are_module_level():
    """bootstrap.py builds the use cases and names the handler map and the blueprints;
    nothing but it imports the views (a handler or a use case reaching into api.py hid
    the wiring); every view is a module-level function on a blueprint, importable and
    testable alone (not a closure inside one long function)."""
    wrong = []
    for service in SERVICES:
        if not (service / "bootstrap.py").exists():
            wrong.append(f"{service.name}: no bootstrap.py")
        for path in sorted(service.rglob("*.py")):
            if "migrations" in path.parts:
                continue
            tree = _parsed(path)
            views = {".api", f"services.{service.name}.api"}
            if path.name not in ("bootstrap.py", "app.py") and not path.name.endswith(
                    "api.py") and _imports(tree) & views:
                wrong.append(f"{_where(path)}: imports api.py")
            for outer in ast.walk(tree):
                if not isinstance(outer, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    continue
                for inner in ast.walk(outer):
                    if inner is not outer and isinstance(inner, ast.FunctionDef) and any(
                            "route" in ast.unparse(d) for d in inner.decorator_list):
                        wrong.append(f"{_where(path)}:{inner.lineno}: view {inner.name} "
                                     f"inside {outer.name}")
    assert not wrong, wrong


# --- the README's Layout ---------------------------------------------------------------
def test_the_readme_layout_says_what_each_kind_of_service_module_holds():
    """A module (or package) name that two services have is a kind of module: the
    README's Layout names it, so that a new engineer knows what goes in it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    layout = readme[readme.index("## Layout"):]
    layout = layout[:layout.index("\n## ", 1)]
    seen: dict[str, set[str]] = {}
    for service in SERVICES:
        for child in service.iterdir():
            if child.name.startswith(("_", ".")) or not (
                    child.suffix == ".py" or (child.is_dir() and child.name != "__pycache__")):
                continue
            name = child.name if child.suffix == ".py" else f"{child.name}/"
            seen.setdefault(name, set()).add(service.name)
    kinds = {name for name, where in seen.items() if len(where) >= 2}
    unnamed = sorted(name for name in kinds if not re.search(
        rf"(?<![\w/]){re.escape(name)}", layout))
    assert not unnamed, f"README.md's Layout: say what goes in {unnamed}"


def test_the_readme_names_every_setting():
    """Each PP_ variable shared/config.py reads is in the README's table of settings (the
    inbox's retention was not: an operator could not know it is there to set)."""
    read = set(re.findall(r'"(PP_[A-Z0-9_]+)"', (ROOT / "shared/config.py").read_text(
        encoding="utf-8")))
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    table = {line for line in readme.splitlines() if line.startswith("| `PP_")}
    unnamed = sorted(name for name in read if not any(f"`{name}`" in row for row in table))
    assert not unnamed, f"README.md's settings table: say what {unnamed} does"


# --- the layers --------------------------------------------------------------------------
FRAMEWORKS = ("flask", "flask_smorest", "kombu", "amqp", "sqlalchemy", "psycopg")


def test_domain_modules_are_free_of_flask_kombu_and_sqlalchemy():
    """A service's rules (domain.py, *_rules.py) load without the web, the broker or the
    database, whatever they import from shared (each in a fresh interpreter)."""
    import subprocess
    import sys

    modules = [f"services.{p.parent.name}.{p.stem}" for service in SERVICES
               for p in sorted([*service.glob("domain.py"), *service.glob("*_rules.py")])]
    assert len(modules) >= len(SERVICES)
    probe = ("import importlib, sys; importlib.import_module(sys.argv[1]); "
             "print(sorted({m.split('.')[0] for m in sys.modules} & set(sys.argv[2:])))")
    loaded = {m: subprocess.run([sys.executable, "-c", probe, m, *FRAMEWORKS], cwd=ROOT,
                                capture_output=True, text=True, check=True).stdout.strip()
              for m in modules}
    assert all(found == "[]" for found in loaded.values()), loaded


def test_no_service_imports_another():
    """Services meet only through events and HTTP: none imports another's code."""
    crossing = []
    for service in SERVICES:
        for path in sorted(service.rglob("*.py")):
            for name in _imports(_parsed(path)):
                if name.startswith("services.") and name.split(".")[1] != service.name:
                    crossing.append(f"{_where(path)}: {name}")
    assert not crossing, crossing

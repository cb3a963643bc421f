"""The habits that keep the code one can read (issue 22): ruff and mypy find nothing, and
no function, method or module grows past a size one can hold. `make test` runs these, so
the build fails the day one slips. The tools and their versions: pyproject.toml."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

from radon.complexity import cc_visit

ROOT = Path(__file__).resolve().parents[2]
CODE = ("shared", "services", "bench", "deploy")  # the product and its tools (not tests)
MAX_FUNCTION_LINES = 60
MAX_COMPLEXITY = 10  # radon ranks 1-5 A, 6-10 B, 11-20 C: nothing at C or worse
MAX_MODULE_LINES = 500
# Written by a generator (its source is held to the limits instead).
GENERATED = {(ROOT / "shared/contracts/typed.py").as_posix()}

# Known to be over, each to be split into named steps; listed so that nothing new joins
# them, and checked to still be over so that the list only shrinks. Ids are
# "path:qualified.name" (functions) or "path" (modules).
NOT_YET: set[str] = set()


def _modules() -> list[Path]:
    return sorted(p for root in CODE for p in (ROOT / root).rglob("*.py")
                  if "migrations/versions" not in p.as_posix()  # written by Alembic
                  and p.as_posix() not in GENERATED)


def _functions(tree: ast.AST, prefix: str = ""):
    """(qualified name, node) of every function and method, nested ones included."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            name = f"{prefix}{node.name}"
            if not isinstance(node, ast.ClassDef):
                yield name, node
            yield from _functions(node, f"{name}.")


def _too_big() -> dict[str, str]:
    found: dict[str, str] = {}
    for path in _modules():
        where = path.relative_to(ROOT).as_posix()
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MAX_MODULE_LINES:
            found[where] = f"{lines} lines"
        for name, node in _functions(ast.parse(source)):
            length = node.end_lineno - node.lineno + 1
            if length > MAX_FUNCTION_LINES:
                found[f"{where}:{name}"] = f"{length} lines"
        for name, complexity in _complexities(cc_visit(source)):
            if complexity > MAX_COMPLEXITY:
                found.setdefault(f"{where}:{name}", f"complexity {complexity}")
    return found


def _complexities(blocks, prefix: str = ""):
    """(qualified name, complexity) of every function and method radon sees, closures and
    the methods of nested classes included: radon does not add a closure's branches to
    its enclosing function's, so a view's decorator wrapper would otherwise go unseen."""
    for block in blocks:
        name = f"{prefix}{block.name}"
        if hasattr(block, "methods"):  # a class
            yield from _complexities([*block.methods, *block.inner_classes], f"{name}.")
        else:
            yield name, block.complexity
            yield from _complexities(block.closures, f"{name}.")


def test_no_function_or_module_grows_past_a_size_one_can_hold():
    found = _too_big()
    new = {k: v for k, v in found.items() if k not in NOT_YET}
    assert not new, f"split into named steps (at most {MAX_FUNCTION_LINES} lines and " \
                    f"complexity {MAX_COMPLEXITY} a function, {MAX_MODULE_LINES} lines a " \
                    f"module): {new}"
    mended = sorted(NOT_YET - set(found))
    assert not mended, f"no longer over: take them off NOT_YET: {mended}"


def _tool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True,
                          text=True, timeout=600)


def test_ruff_finds_nothing():
    """The rule set is in pyproject.toml ([tool.ruff])."""
    result = _tool("ruff", "check", "--no-cache", *CODE, "tests")
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict_finds_nothing():
    """Strict on the modules pyproject.toml lists ([tool.mypy] files)."""
    result = _tool("mypy", "--no-incremental")
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_type_variable_is_used():
    """A TypeVar that no annotation uses says a generic that is not there (ingest's and
    dsar's handlers each kept an `E` after the code that used it went). Neither ruff nor
    mypy sees it: ruff's PYI018 only looks at private names (`_T`), mypy not at all."""
    unused = []
    for path in [*_modules(), *sorted((ROOT / "tests").rglob("*.py"))]:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        defined = {node.targets[0].id: node.lineno for node in tree.body
                   if isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name)
                   and isinstance(node.value, ast.Call)
                   and ast.unparse(node.value.func).endswith(("TypeVar", "ParamSpec"))}
        used = {node.id for node in ast.walk(tree)
                if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load)}
        unused += [f"{path.relative_to(ROOT).as_posix()}:{line}: {name}"
                   for name, line in defined.items() if name not in used]
    assert not unused, f"remove the unused type variables: {unused}"

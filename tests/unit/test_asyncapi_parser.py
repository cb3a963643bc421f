"""docs/asyncapi.json passes the reference AsyncAPI parser, @asyncapi/parser (Node, a pinned
test dependency in tools/asyncapi: package.json and package-lock.json; .ci/run installs it
with `npm ci`), with no diagnostic of error or warning severity, on the latest AsyncAPI
version the parser knows (issue 28). Without node or the installed parser the test skips,
except when PP_REQUIRE_INTEGRATION is set (CI): then it fails."""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TOOL = ROOT / "tools" / "asyncapi"
DOC_PATH = ROOT / "docs" / "asyncapi.json"
INSTALL = "npm ci --ignore-scripts --no-audit --no-fund --prefix tools/asyncapi"


def parse(path: Path) -> dict:
    """The parser's verdict on the document at `path` (tools/asyncapi/check.mjs)."""
    node = shutil.which("node")
    installed = (TOOL / "node_modules" / "@asyncapi" / "parser").is_dir()
    if node is None or not installed:
        reason = (f"the AsyncAPI parser is not installed ({INSTALL})" if node
                  else "node is not installed")
        if os.environ.get("PP_REQUIRE_INTEGRATION"):
            pytest.fail(reason)
        pytest.skip(reason)
    result = subprocess.run([node, str(TOOL / "check.mjs"), str(path)], capture_output=True,
                            text=True, timeout=120, cwd=TOOL)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def faults(verdict: dict) -> list[dict]:
    return [d for d in verdict["diagnostics"] if d["severity"] in ("error", "warning")]


def test_the_asyncapi_document_passes_the_parser_without_error_or_warning():
    verdict = parse(DOC_PATH)
    assert verdict["parsed"], verdict["diagnostics"]
    assert not faults(verdict), json.dumps(faults(verdict), indent=1)
    # On the current version: the parser says when a later one exists.
    stale = [d for d in verdict["diagnostics"] if d["code"] == "asyncapi-latest-version"]
    assert not stale, stale


def test_the_parser_catches_a_broken_document(tmp_path):
    """The check itself: an operation on a channel that does not exist is reported."""
    doc = json.loads(DOC_PATH.read_text(encoding="utf-8"))
    operation = next(iter(doc["operations"].values()))
    operation["channel"] = {"$ref": "#/channels/no-such-channel"}
    broken = tmp_path / "asyncapi.json"
    broken.write_text(json.dumps(doc), encoding="utf-8")
    verdict = parse(broken)
    assert faults(verdict), verdict

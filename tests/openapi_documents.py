"""The services' OpenAPI documents as an integrator meets them (issue 28): each service's
document as its app serves it, and a Python client generated from one by
openapi-python-client (a kept generator, a test dependency), imported for a test to use."""
from __future__ import annotations

import importlib
import json
import subprocess
import sys
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.service import ServiceRuntime

# The services with an HTTP API of their own (the gateway serves each one's document).
SERVICES = ("identity", "ingest", "linking", "reports", "notifications", "dsar")
GENERATOR = Path(sys.executable).with_name("openapi-python-client")


def document(name: str) -> dict[str, Any]:
    """The service's document as its app serves it, without a database or broker (the
    engine connects lazily; nothing here runs a query)."""
    with tempfile.TemporaryDirectory(prefix="pp-openapi-") as data_dir:
        settings = replace(Settings(), data_dir=Path(data_dir), database_urls={
            name: "postgresql+psycopg://nobody@127.0.0.1:9/none"})
        spec = importlib.import_module(f"services.{name}.app").SPEC
        runtime = ServiceRuntime(spec, settings)
        try:
            return served_document(runtime.create_app().test_client(), name)
        finally:
            runtime.engine.dispose()


def served_document(client: Any, name: str) -> dict[str, Any]:
    """The document a running service serves (a Flask test client of its app)."""
    response = client.get(f"/openapi/{name}/openapi.json")
    assert response.status_code == 200, response.status_code
    return response.get_json()  # type: ignore[no-any-return]


def generate_client(doc: dict[str, Any], name: str, directory: Path) -> Any:
    """Generate a client package from `doc` into `directory` and import it. Any warning
    of the generator (an operation or an answer it could not express, so left out of the
    client) fails, with the generator's words."""
    package = f"pp_{name}_client"
    source = directory / f"{name}-openapi.json"
    source.write_text(json.dumps(doc))
    config = directory / f"{name}-generator.json"
    # No post hooks: the generator would run ruff from PATH over the generated code. Media
    # types it has no reader for are bytes to it (its documented override).
    config.write_text(json.dumps({
        "package_name_override": package, "post_hooks": [],
        "content_type_overrides": {"application/zip": "application/octet-stream",
                                   "application/jose": "text/plain"}}))
    result = subprocess.run(
        [str(GENERATOR), "generate", "--path", str(source), "--meta", "none",
         "--output-path", str(directory / package), "--config", str(config)],
        capture_output=True, text=True, timeout=300)
    output = result.stdout + result.stderr
    assert result.returncode == 0 and "Warning" not in output, output
    if str(directory) not in sys.path:
        sys.path.insert(0, str(directory))
    return importlib.import_module(package)

"""Each service's migrations form one line: unique revision ids and a single head.

Parallel branches each adding "the next" migration is the usual way a chain forks; a fork
makes `upgrade head` refuse to start the service, so it is caught here, before a deployment.
"""
from pathlib import Path

import pytest
from alembic.config import Config
from alembic.script import ScriptDirectory

SERVICES = Path(__file__).resolve().parents[2] / "services"
MIGRATION_DIRS = sorted(p for p in SERVICES.glob("*/migrations") if (p / "versions").is_dir())


@pytest.mark.parametrize("migrations_dir", MIGRATION_DIRS, ids=lambda p: p.parent.name)
def test_one_line_of_migrations(migrations_dir: Path) -> None:
    cfg = Config()
    cfg.set_main_option("script_location", str(migrations_dir))
    script = ScriptDirectory.from_config(cfg)
    files = [p for p in (migrations_dir / "versions").glob("*.py") if p.name != "__init__.py"]
    revisions = list(script.walk_revisions())
    assert len(revisions) == len(files), "two migration files share a revision id"
    assert len(script.get_heads()) == 1, f"more than one head: {script.get_heads()}"


def test_every_service_has_migrations() -> None:
    assert {p.parent.name for p in MIGRATION_DIRS} >= {
        "identity", "linking", "reports", "notifications", "dsar", "ingest"}

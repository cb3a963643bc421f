"""Fixtures for real RabbitMQ and PostgreSQL (DEVELOPERS.md "Real components, real tests").

URLs come from PP_TEST_AMQP_URL / PP_TEST_DATABASE_URL; else testcontainers when a Docker
engine answers; else the test is skipped, unless PP_REQUIRE_INTEGRATION=1 (CI), where a
missing service fails the run. Every test gets its own exchange, queue names and databases,
and removes them afterwards.
"""
from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import replace
from typing import Iterator

import pytest
import sqlalchemy as sa

from shared.config import Settings

REQUIRE = os.environ.get("PP_REQUIRE_INTEGRATION") == "1"


def _missing(what: str):
    message = (f"{what} is not available: set PP_TEST_AMQP_URL / PP_TEST_DATABASE_URL "
               "or run a Docker engine")
    if REQUIRE:
        pytest.fail(message + " (PP_REQUIRE_INTEGRATION=1)")
    pytest.skip(message)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    """`make test` runs on two workers (pytest-xdist): the suite mostly waits (on
    processes starting, brokers, databases), so two halve its time on two cores. A file's
    tests stay on one worker (their module fixtures made once); the browser tests all run
    on one, in one stretch: their package's system (tests/browser/conftest.py web_system,
    with its operator's second factor remembered in this process) and Chromium are made
    once, not again each time that worker comes back to the package."""
    from xdist.scheduler import LoadFileScheduling

    class FilesWithTheBrowserTogether(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            if nodeid.startswith("tests/browser/"):
                return "tests/browser"
            return str(super()._split_scope(nodeid))

    return FilesWithTheBrowserTogether(config, log)


def _docker_answers() -> bool:
    try:
        import docker
        docker.from_env(timeout=3).ping()
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def amqp_url() -> Iterator[str]:
    url = os.environ.get("PP_TEST_AMQP_URL")
    if url:
        yield url
        return
    if _docker_answers():
        from testcontainers.rabbitmq import RabbitMqContainer
        with RabbitMqContainer("rabbitmq:3.13-management") as container:
            params = container.get_connection_params()
            yield (f"amqp://guest:guest@{params.host}:{params.port}//")
        return
    _missing("RabbitMQ")


def _sqlalchemy_url(url: str) -> str:
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


@pytest.fixture(scope="session")
def pg_admin_url() -> Iterator[str]:
    url = os.environ.get("PP_TEST_DATABASE_URL")
    if url:
        yield _sqlalchemy_url(url)
        return
    if _docker_answers():
        from testcontainers.postgres import PostgresContainer
        with PostgresContainer("postgres:15", driver="psycopg") as container:
            yield container.get_connection_url()
        return
    _missing("PostgreSQL")


@contextlib.contextmanager
def _database_factory(pg_admin_url):
    """A factory of fresh PostgreSQL databases, each dropped when the context ends."""
    admin = sa.create_engine(pg_admin_url, isolation_level="AUTOCOMMIT")
    made: list[str] = []

    def make(label: str = "db") -> str:
        name = f"pp_test_{label}_{uuid.uuid4().hex[:10]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        made.append(name)
        return sa.make_url(pg_admin_url).set(database=name).render_as_string(
            hide_password=False)

    try:
        yield make
    finally:
        with admin.connect() as conn:
            for name in made:
                # FORCE closes only connections to this test's own database.
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture
def new_database(pg_admin_url):
    """Factory: a fresh PostgreSQL database per call, dropped when the test ends."""
    with _database_factory(pg_admin_url) as make:
        yield make


@pytest.fixture(scope="module")
def module_database(pg_admin_url):
    """As new_database, for a world a whole test module shares."""
    with _database_factory(pg_admin_url) as make:
        yield make


@contextlib.contextmanager
def _own_broker_names(amqp_url):
    """Settings on the real broker with exchange and queue names of their own, whose
    objects are deleted when the context ends."""
    tag = uuid.uuid4().hex[:10]
    settings = replace(Settings.from_env({}), broker_url=amqp_url,
                       exchange=f"pp.test.{tag}", queue_prefix=f"test.{tag}.",
                       max_attempts=3)
    try:
        yield settings
    finally:
        _delete_broker_objects(settings)


@pytest.fixture
def broker_settings(amqp_url) -> Iterator[Settings]:
    """Settings on the real broker with this test's own exchange and queue names."""
    with _own_broker_names(amqp_url) as settings:
        yield settings


@pytest.fixture(scope="module")
def module_settings(amqp_url) -> Iterator[Settings]:
    """As broker_settings, for a world a whole test module shares."""
    with _own_broker_names(amqp_url) as settings:
        yield settings


def _delete_broker_objects(settings: Settings) -> None:
    from kombu import Connection

    from shared.messaging import topology
    with Connection(settings.broker_url) as conn:
        channel = conn.channel()
        names = {q.name for q in topology.all_queues(settings)}
        names |= set(getattr(settings, "_extra_queues", ()))
        for name in names:
            try:
                channel.queue_delete(name)
            except Exception:
                channel = conn.channel()
        for name in _test_queues.pop(settings.queue_prefix, ()):
            try:
                channel.queue_delete(name)
            except Exception:
                channel = conn.channel()
        try:
            channel.exchange_delete(settings.exchange)
        except Exception:
            pass


_test_queues: dict[str, set[str]] = {}


def register_queue(settings: Settings, name: str) -> None:
    """Queues a test declares itself (besides the services') are deleted afterwards too."""
    _test_queues.setdefault(settings.queue_prefix, set()).add(name)


@pytest.fixture
def own_postgres():
    """A PostgreSQL server of this test's own, which it may restart or kill."""
    from tests.throwaway_postgres import ThrowawayPostgres, available
    if not available():
        _missing("PostgreSQL's initdb (to start a throwaway server)")
    with ThrowawayPostgres() as server:
        yield server


@pytest.fixture
def readable_copy():
    """Factory: a copy of a folder that a server's unprivileged processes can read (as
    root, nginx's workers run as nobody), wherever the clone is. A clone inside a folder
    only its owner may enter (a `mktemp -d` folder) is closed to them, and so is pytest's
    tmp_path: the copy goes in a world-readable folder of its own, removed afterwards."""
    import shutil
    import tempfile
    from pathlib import Path
    made: list[Path] = []

    def copy(tree) -> Path:
        outer = Path(tempfile.mkdtemp(prefix="pp-readable-"))
        made.append(outer)
        os.chmod(outer, 0o755)
        target = outer / Path(tree).name
        shutil.copytree(tree, target)
        for folder, _, files in os.walk(target):
            os.chmod(folder, 0o755)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o644)
        return target

    yield copy
    for outer in made:
        shutil.rmtree(outer, ignore_errors=True)


@pytest.fixture
def own_postgres_pair():
    """A primary and a synchronous streaming standby of this test's own, which it may kill
    and promote."""
    from tests.throwaway_postgres import ThrowawayPair, available
    if not available():
        _missing("PostgreSQL's initdb and pg_basebackup (to start a throwaway pair)")
    with ThrowawayPair() as pair:
        yield pair


@pytest.fixture
def own_broker():
    """A RabbitMQ node of this test's own, which it may cut off, kill and restart."""
    from tests.throwaway_broker import ThrowawayBroker, available
    if not available():
        _missing("rabbitmq-server (to start a throwaway broker node)")
    with ThrowawayBroker() as broker:
        yield broker


@pytest.fixture(scope="module")
def own_cluster():
    """A three-node RabbitMQ cluster of this test module's own (tests/throwaway_cluster.py),
    whose nodes it may kill and cut off; every node is killed when the module ends."""
    from tests.throwaway_broker import available
    from tests.throwaway_cluster import ThrowawayCluster
    if not available():
        _missing("rabbitmq-server (to start a throwaway cluster)")
    with ThrowawayCluster() as cluster:
        yield cluster

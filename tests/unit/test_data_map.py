"""The data map: every service's personal-data declaration, checked against its tables."""
import importlib

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from shared.config import RIGHTS_PARTICIPANTS, SERVICES
from shared.db import make_engine, upgrade
from shared.messaging import topology
from shared.rights import NOT_PERSONAL, DataDeclaration, Personal, TableDeclaration
from shared.rights import unclassified_columns
from shared.rights.participant import with_plumbing
from shared.service import ServiceRuntime, contracts_consumed

SPECS = {name: importlib.import_module(f"services.{name}.app").SPEC for name in SERVICES}


@pytest.mark.parametrize("name", SERVICES)
def test_every_person_shaped_column_is_classified(name):
    spec = SPECS[name]
    # dsar answers no rights events, but classifies its columns all the same.
    classification = getattr(importlib.import_module(f"services.{name}.personal_data"),
                             "CLASSIFICATION", None)
    declaration = with_plumbing(spec.declaration or classification
                                or DataDeclaration(name, ()))
    assert unclassified_columns(spec.metadata, declaration) == []


def test_an_undeclared_column_fails_the_check():
    metadata = sa.MetaData()
    sa.Table("guardians", metadata, sa.Column("id", sa.String(36), primary_key=True),
             sa.Column("email", sa.String(200)), sa.Column("born_on", sa.Date),
             sa.Column("prefs", sa.JSON), sa.Column("age", sa.Integer))
    declaration = DataDeclaration("x", (TableDeclaration(
        "guardians", {"id": NOT_PERSONAL, "email": Personal("guardian")}),))
    assert unclassified_columns(metadata, declaration) == ["guardians.born_on",
                                                           "guardians.prefs"]


def test_a_declared_column_that_does_not_exist_fails_the_check():
    metadata = sa.MetaData()
    sa.Table("t", metadata, sa.Column("id", sa.Integer, primary_key=True))
    declaration = DataDeclaration("x", (TableDeclaration("t", {"name": Personal("staff")}),))
    assert unclassified_columns(metadata, declaration) == ["t.name (declared, missing)"]


def test_the_data_map_is_exactly_the_services_that_declare_personal_data():
    declared = {name for name, spec in SPECS.items() if spec.declaration is not None}
    assert declared == set(RIGHTS_PARTICIPANTS)


@pytest.mark.parametrize("name", RIGHTS_PARTICIPANTS)
def test_every_participant_receives_every_rights_request(name):
    consumed = contracts_consumed(name)
    for event in ("ErasureRequested", "AccessRequested", "ProcessingRestricted",
                  "RestrictionLifted", "ObjectionRecorded", "SchoolOffboarded"):
        assert event in consumed
    rights = {c.type for c in topology.subscriptions(name)["rights"]}
    assert "ErasureRequested" in rights  # rights travel on their own queue


@pytest.mark.parametrize("name", SERVICES)
def test_handlers_only_for_events_the_contracts_route_to_the_service(name, tmp_path):
    from shared.config import Settings
    settings = Settings.from_env({"PP_DATA_DIR": str(tmp_path)})
    runtime = ServiceRuntime(SPECS[name], settings)
    runtime.handlers_by_channel()  # raises on a handler for an event not routed here


@pytest.mark.parametrize("name", SERVICES)
def test_migrations_build_exactly_the_models(name, tmp_path):
    spec = SPECS[name]
    engine = make_engine(f"sqlite:///{tmp_path / 'm.db'}")
    upgrade(engine, spec.migrations_dir, spec.metadata)
    upgrade(engine, spec.migrations_dir, spec.metadata)  # a second start changes nothing
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), spec.metadata)
    assert diff == []


def migrate_keeping_rights_state(engine, spec) -> None:
    """Migrate a service's database to just before the rights state was keyed by school,
    write a row of each kind, migrate to head: the rows are still there, keyed by school,
    and another school can hold the same subject's state beside them."""
    from alembic import command
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(spec.migrations_dir))
    step = next(s for s in ScriptDirectory.from_config(cfg).walk_revisions()
                if "rights_state_per_school" in s.path)
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, step.down_revision)
        now = "2026-01-01 00:00:00+00:00"
        conn.execute(sa.text("INSERT INTO erasure_tombstones VALUES "
                             "('student', 's1', 'school-a', :t)"), {"t": now})
        conn.execute(sa.text("INSERT INTO restrictions VALUES ('student', 's1', 'school-a', :t)"),
                     {"t": now})
        conn.execute(sa.text("INSERT INTO objections VALUES "
                             "('guardian', 'g1', 'report_emails', 'school-a', :t)"), {"t": now})
    upgrade(engine, spec.migrations_dir, spec.metadata)
    with engine.begin() as conn:
        for table in ("erasure_tombstones", "restrictions", "objections"):
            assert conn.execute(sa.text(f"SELECT school_id FROM {table}")).scalars().all() \
                == ["school-a"], table
            assert sa.inspect(conn).get_pk_constraint(table)["constrained_columns"][0] \
                == "school_id"
        conn.execute(sa.text("INSERT INTO erasure_tombstones VALUES "
                             "('student', 's1', 'school-b', :t)"), {"t": now})


@pytest.mark.parametrize("name", SERVICES)
def test_the_rights_state_keeps_its_rows_when_keyed_by_school(name, tmp_path):
    migrate_keeping_rights_state(make_engine(f"sqlite:///{tmp_path / 'm.db'}"), SPECS[name])

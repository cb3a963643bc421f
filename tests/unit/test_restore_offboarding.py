"""A school offboarded after a backup stays offboarded when the backup is restored
(issue 26): identity writes the offboarding to the erasure ledger as it sends
SchoolOffboarded, dsar writes its completion, and shared.restore sends it again on the
restored databases until every service has carried it out. Embedded mode's wiring (SQLite,
memory://), the backup a copy of the stopped system's files."""
import shutil
import uuid
from dataclasses import replace

import sqlalchemy as sa

from shared.config import RIGHTS_PARTICIPANTS, Settings
from shared.db import transaction
from shared.embedded import EmbeddedSystem, load_specs
from shared.erasure_ledger import COMPLETED, SCHOOL, SENT, ErasureLedger, entries
from shared.restore import reapply
from tests.support import wait_for


def _system(settings: Settings) -> EmbeddedSystem:
    system = EmbeddedSystem(settings, load_specs())
    system.start()
    return system


def _scalar(system: EmbeddedSystem, service: str, sql: str, **params):
    with system.runtimes[service].engine.connect() as conn:
        return conn.execute(sa.text(sql), params).scalar()


def _count_clients(data, client_id) -> int:
    engine = sa.create_engine(f"sqlite:///{data / 'identity.db'}")
    try:
        with engine.connect() as conn:
            return conn.execute(sa.text("SELECT count(*) FROM clients WHERE id=:c"),
                                {"c": client_id}).scalar_one()
    finally:
        engine.dispose()


def test_an_offboarding_since_the_backup_is_carried_out_again_on_restore(tmp_path):
    tag = uuid.uuid4().hex[:8]
    data = tmp_path / "data"
    settings = replace(Settings.from_env({"PP_DATA_DIR": str(data)}),
                       exchange=f"pp.restore.{tag}", queue_prefix=f"rst.{tag}.",
                       erasure_ledger_url=f"sqlite:///{tmp_path / 'ledger.db'}")
    system = _system(settings)
    try:
        identity = system.runtimes["identity"].context
        with transaction(identity.sessions) as session:
            school = identity.use_cases.identity.create_school(session, "Leaving", None)
            client_id, _ = identity.use_cases.identity.create_client(session, school)
        assert system.drain(timeout=30)
    finally:
        system.stop()
    assert _count_clients(data, client_id) == 1
    backup = tmp_path / "backup"
    shutil.copytree(data, backup)  # the stopped system's SQLite files: a backup
    ledger = ErasureLedger(settings.erasure_ledger_url)
    mark = ledger.mark()

    system = _system(settings)
    try:  # after the backup: the operator offboards the school, to completion
        identity = system.runtimes["identity"].context
        with transaction(identity.sessions) as session:
            identity.use_cases.identity.offboard_school(session, school)
        wait_for(lambda: _scalar(system, "dsar", "SELECT status FROM requests WHERE "
                                 "kind='offboarding' AND school_id=:s", s=school)
                 == "completed", timeout=60, message="the offboarding completed")
        request_id = _scalar(system, "dsar", "SELECT id FROM requests WHERE "
                             "kind='offboarding' AND school_id=:s", s=school)
        assert system.drain(timeout=30)
    finally:
        system.stop()
    with ledger.engine.connect() as conn:
        rows = conn.execute(sa.select(entries.c.step, entries.c.request_id,
                                      entries.c.subject_type, entries.c.subject_id)
                            .where(entries.c.seq > mark).order_by(entries.c.seq)).all()
    assert [tuple(r) for r in rows] == [(SENT, request_id, SCHOOL, school),
                                        (COMPLETED, request_id, SCHOOL, school)]

    assert _count_clients(data, client_id) == 0
    shutil.rmtree(data)
    shutil.copytree(backup, data)  # the restore: the school is active again there
    assert _count_clients(data, client_id) == 1
    owed = ledger.owed(mark=mark)
    assert [(o.offboarding, o.school_id, o.request_ids) for o in owed] == [
        (True, school, (request_id,))]
    done = reapply(settings, owed, timeout=60)
    assert [(d["kind"], d["status"], d["replay_of"]) for d in done] == [
        ("offboarding", "completed", [request_id])], done
    assert set(done[0]["services"].values()) == {"done"}

    system = _system(settings)
    try:
        assert _scalar(system, "identity", "SELECT status FROM schools WHERE id=:s",
                       s=school) == "offboarded"
        assert _scalar(system, "identity", "SELECT count(*) FROM clients WHERE id=:c",
                       c=client_id) == 0  # restored, then gone with the school again
        for service in RIGHTS_PARTICIPANTS:  # each carried it out: the school tombstoned
            assert _scalar(system, service, "SELECT count(*) FROM erasure_tombstones WHERE "
                           "subject_type='school' AND subject_id=:s", s=school) == 1, service
    finally:
        system.stop()
    # Owed no more by a backup taken from now on; still owed by the older one.
    assert ledger.owed(mark=ledger.mark()) == []
    assert [o.school_id for o in ledger.owed(mark=mark)] == [school]
    ledger.dispose()

"""The backup drill (issue 26): back up every service's database while the system runs,
erase a student and offboard a second school afterwards, restore the backup, and find
neither the student nor the second school's student anywhere (every cell of every table):
before the system serves again, `python -m shared.restore` carries out again every erasure
and offboarding the backup does not hold, from the erasure ledger the restore does not
roll back.

The system is embedded mode's process (`python -m shared.embedded`) on the test's own
PostgreSQL databases, one per service and one for the ledger; backup and restore are the
commands ops run (docs/operations.md, "Restoring a backup")."""
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa

from shared.backup import pg_tool
from shared.config import SERVICES
from tests.e2e.test_make_run import output_of, ready, spawn, stop_with_ctrl_c
from tests.erasure_scan import (CONTROL, ERASED, Api, Person, assert_erased_everywhere,
                                check_exports_after, erase, prepare_a_school,
                                scan_postgres_cells, student_event)
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e
ROOT = Path(__file__).resolve().parents[2]
OPERATOR = ("ops@example.org", "operator-secret-1")
# The student of the school offboarded after the backup (needles as erasure_scan's).
LEAVER = Person("L1", "Ysolde", "Marchbanksy", "ysolde.marchbanksy@example.org", "2012-05-23")


def _env(data_dir: Path, port: int, urls: dict[str, str], ledger: str) -> dict[str, str]:
    env = {**os.environ, "PP_DATA_DIR": str(data_dir), "PP_GATEWAY_PORT": str(port),
           "PP_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR[0],
           "PP_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR[1], "PP_ERASURE_LEDGER_URL": ledger,
           **{f"PP_{s.upper()}_DATABASE_URL": url for s, url in urls.items()}}
    env.pop("PP_BROKER_URL", None)
    return env


def _serve(env: dict[str, str], port: int) -> subprocess.Popen:
    proc = spawn([sys.executable, "-m", "shared.embedded"], env)
    try:
        wait_for(lambda: ready(port) or proc.poll() is not None, timeout=180,
                 message="gateway ready")
    except AssertionError:
        stop_with_ctrl_c(proc)
        raise
    assert proc.poll() is None, output_of(proc)
    return proc


def _command(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", *argv], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (argv, result.stdout, result.stderr[-4000:])
    return result


def _plain(url: str) -> str:
    return sa.make_url(url).set(drivername="postgresql").render_as_string(
        hide_password=False)


def _dumps_text(folder: Path) -> str:
    """Every dump of the backup as the SQL it restores (COPY data included)."""
    return "".join(subprocess.run([pg_tool("pg_restore"), "--file", "-", str(path)],
                                  capture_output=True, text=True, check=True).stdout
                   for path in sorted(folder.glob("*.dump")))


def _leaving_school(api: Api, tag: str) -> str:
    """A second school with one student (LEAVER), her record applied by every service that
    keeps students."""
    operator = api.sign_in(*OPERATOR)
    school = api.ok("post", "/api/v1/schools", operator, status=201,
                    json={"name": f"Leaving School {tag}"}).json()["id"]
    client = api.ok("post", f"/api/v1/schools/{school}/clients", operator, status=201).json()
    system = api.ok("post", "/api/v1/auth/token", json={
        "grant_type": "client_credentials", **client}).json()["access_token"]
    pushed = api.ok("post", "/api/v1/school-data/batches", system, status=202, json={
        "batch_id": f"leaving-{tag}", "events": [student_event(LEAVER)]})
    assert not pushed.json()["rejected"], pushed.text
    return school


def _offboard(api: Api, school: str) -> str:
    """The operator offboards the school, to completion; the offboarding's request id."""
    operator = api.sign_in(*OPERATOR)
    api.ok("delete", f"/api/v1/schools/{school}", operator, status=202)

    def completed():
        answer = api.call("get", f"/api/v1/offboardings/{school}", operator)
        return answer.json() if answer.status_code == 200 and \
            answer.json()["status"] == "completed" else None
    return wait_for(completed, timeout=180, interval=0.5,
                    message="the offboarding completed")["id"]


def test_a_restored_backup_brings_no_erased_person_back(tmp_path, new_database):
    urls = {service: new_database(service) for service in SERVICES}
    plain = {service: _plain(url) for service, url in urls.items()}
    port, folder = free_port(), tmp_path / "backup"
    env = _env(tmp_path / "data", port, urls, new_database("ledger"))
    api = Api(f"http://127.0.0.1:{port}", tmp_path / "data" / "mail")
    proc = _serve(env, port)
    try:
        tag = uuid.uuid4().hex[:8]
        leaving = _leaving_school(api, tag)
        prepared = prepare_a_school(api, OPERATOR, tag)
        seen: set[str] = set()

        def applied() -> bool:  # by the services that keep students' names
            seen.clear()
            seen.update(where for _, where in scan_postgres_cells(plain, LEAVER.needles))
            return seen >= {"linking.students", "reports.students"}
        try:
            wait_for(applied, timeout=120, interval=0.5)
        except AssertionError:
            raise AssertionError(f"the leaving student applied only in {sorted(seen)}") from None
        manifest = json.loads(_command(env, "shared.backup", str(folder)).stdout)
        assert set(manifest["services"]) == set(SERVICES)
        held = _dumps_text(folder)
        assert all(needle in held for needle in ERASED.needles), "the backup holds her"
        assert all(needle in held for needle in  # no login: her email is nowhere
                   (LEAVER.given, LEAVER.family, LEAVER.date_of_birth)), "it holds the leaver"
        # After the backup (the backup knows neither): an erasure, and an offboarding.
        erased = erase(api, prepared)
        offboarding = _offboard(api, leaving)
    finally:
        output = stop_with_ctrl_c(proc)
    assert "Traceback" not in output, output[-4000:]
    assert not scan_postgres_cells(plain, LEAVER.needles)  # offboarded: gone everywhere

    restored = _command(env, "shared.restore", str(folder))
    report = json.loads(restored.stdout)["reapplied"]
    by_kind = {r["kind"]: r for r in report}
    assert len(report) == 2 and set(by_kind) == {"erasure", "offboarding"}, report
    assert by_kind["erasure"]["subject"]["id"] == prepared.erased_id, report
    assert by_kind["offboarding"]["replay_of"] == [offboarding], report
    for done in report:
        assert done["status"] == "completed", report
        assert all(status == "done" for status in done["services"].values()), report

    found = assert_erased_everywhere(lambda needles: scan_postgres_cells(plain, needles),
                                     lambda where: "cells")
    assert found == {"cells": set(CONTROL.needles)}, found  # the scan sees what is there
    leftovers = scan_postgres_cells(plain, LEAVER.needles)
    assert not leftovers, f"the offboarded school's student is back in: {sorted(leftovers)}"

    proc = _serve(env, port)  # serving again, on the restored databases
    try:
        check_exports_after(api, erased)
        replay = api.ok("get", f"/api/v1/subject-requests/{report[0]['request_id']}",
                        erased.admin).json()
        assert replay["kind"] == "erasure" and replay["status"] == "completed", replay
        assert replay["details"]["replay_of"], replay
    finally:
        output = stop_with_ctrl_c(proc)
    assert "Traceback" not in output, output[-4000:]

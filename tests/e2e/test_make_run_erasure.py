"""An erasure in embedded mode (`make run`'s process, SQLite files and the mail folder in
PP_DATA_DIR) leaves nothing of the person anywhere: not in a cell of any database, not in
the raw bytes of any file under PP_DATA_DIR (a database, its write-ahead log, a mail)."""
import sqlite3
import sys
import uuid

import pytest

from tests.e2e.test_make_run import ready, start, stop_with_ctrl_c
from tests.erasure_scan import (CONTROL, Api, assert_erased_everywhere, check_exports_after,
                                erase_a_student, scan_files, scan_sqlite_cells)
from tests.support import free_port, wait_for

pytestmark = pytest.mark.e2e
OPERATOR = ("ops@example.org", "operator-secret-1")


def _outboxes_sent(data_dir) -> bool:
    for path in data_dir.glob("*.db"):
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if conn.execute("SELECT count(*) FROM outbox WHERE sent_at IS NULL").fetchone()[0]:
                return False
        finally:
            conn.close()
    return True


def test_an_erasure_leaves_nothing_in_any_database_cell_or_file_of_the_data_folder(tmp_path):
    port = free_port()
    proc = start([sys.executable, "-m", "shared.embedded"], tmp_path, port)
    try:
        wait_for(lambda: ready(port), timeout=120, message="gateway ready")
        api = Api(f"http://127.0.0.1:{port}", tmp_path / "mail")
        erased = erase_a_student(api, OPERATOR, uuid.uuid4().hex[:8])
        check_exports_after(api, erased)
        wait_for(lambda: _outboxes_sent(tmp_path), timeout=60, interval=0.3,
                 message="every outbox sent")

        def scan(needles):  # while the system runs: its write-ahead logs are live
            return ({(n, f"cell {w}") for n, w in scan_sqlite_cells(tmp_path, needles)}
                    | {(n, f"file {w}") for n, w in scan_files(tmp_path, needles)})

        def kind(where: str) -> str:
            if where.startswith("cell "):
                return "cells"
            return "mail" if where.endswith(".eml") else "database files"
        found = assert_erased_everywhere(scan, kind)
        for store in ("cells", "database files"):
            assert found.get(store) == set(CONTROL.needles), (store, found)
        assert found.get("mail") >= {CONTROL.given, CONTROL.family, CONTROL.email}, found
    finally:
        output = stop_with_ctrl_c(proc)
    assert "Traceback" not in output, output

"""Which erasures a backup does not hold (shared/erasure_ledger.py): every one sent, less
those completed at or below the backup's mark, or before a recovery point."""
import datetime as dt

from shared.erasure_ledger import COMPLETED, SENT, ErasureLedger


def test_owed_is_every_erasure_not_completed_before_the_backup(tmp_path):
    ledger = ErasureLedger(f"sqlite:///{tmp_path / 'ledger.db'}")
    ledger.record(SENT, "r1", "school", "student", "s1")
    ledger.record(COMPLETED, "r1", "school", "student", "s1")   # in the backup
    ledger.record(SENT, "r2", "school", "student", "s2")        # sent, still going on
    mark = ledger.mark()
    between = dt.datetime.now(dt.timezone.utc)
    ledger.record(COMPLETED, "r2", "school", "student", "s2")   # completed after the mark
    ledger.record(SENT, "r3", "school", "guardian", "g1")
    ledger.record(COMPLETED, "r3", "school", "guardian", "g1")
    ledger.record(SENT, "r4", "school", "guardian", "g1")       # the same subject again

    owed = ledger.owed(mark=mark)
    assert [(o.subject_id, o.request_ids) for o in owed] == [
        ("s2", ("r2",)), ("g1", ("r3", "r4"))]
    assert [o.subject_id for o in ledger.owed(since=between)] == ["s2", "g1"]
    assert [o.subject_id for o in ledger.owed()] == ["s1", "s2", "g1"]  # no point: all
    assert mark == 3 and ledger.mark() == 7
    ledger.dispose()

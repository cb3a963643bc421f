"""OneRoster upload jobs (issue 23) on SQLite, the worker's round run here: each state a
job can be in (queued, applying with progress, applied, refused, failed), what its status
answer says in each, and that each fault it reports is real, by file and line. PostgreSQL,
a real worker process, restarts and a worker killed mid-job: tests/integration/
test_oneroster_jobs_real.py."""
import uuid

import pytest
import sqlalchemy as sa

from services.ingest import jobs as roster_jobs
from services.ingest.models import roster_job_progress
from shared.db import utcnow
from tests.oneroster_sample import SampleSchool, zip_bundle
from tests.unit.test_oneroster import Ingest

SAMPLE = SampleSchool(students=20, classes=3)
UPLOAD = "/api/v1/school-data/oneroster"


class Jobs(Ingest):
    def submit(self, school: str, data: bytes) -> dict:
        response = self.client.post(UPLOAD, data=data, content_type="application/zip",
                                    headers=self.headers(school))
        assert response.status_code == 202, response.json
        return response.json

    def headers(self, school: str) -> dict:
        return {"Authorization": f"Bearer {self.token('school_admin', school)}"}

    def status(self, school: str, job_id: str) -> dict:
        response = self.client.get(f"{UPLOAD}/jobs/{job_id}", headers=self.headers(school))
        assert response.status_code == 200, response.json
        return response.json

    def run_next(self) -> bool:
        return self.rt.context.use_cases.jobs.run_next(self.rt.context.sessions)

    def drain(self) -> None:
        self.rt.context.use_cases.jobs.drain(self.rt.context.sessions)

    def scalar(self, sql: str, **params):
        with self.rt.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()


@pytest.fixture
def ingest(tmp_path):
    running = Jobs(tmp_path)
    yield running
    running.rt.engine.dispose()


def test_a_job_goes_queued_then_applying_with_progress_then_applied(ingest):
    school = str(uuid.uuid4())
    job = ingest.submit(school, SAMPLE.bundle())
    assert job["status"] == "queued" and job["progress"] is None and job["result"] is None
    assert job["faults"] == [] and job["finished_at"] is None

    # Half-way (as the worker's progress writer records it on PostgreSQL).
    with ingest.rt.engine.begin() as conn:
        conn.execute(roster_job_progress.insert().values(
            job_id=job["job_id"], school_id=school, stage="applying", done=120, total=300,
            updated_at=utcnow()))
    seen = ingest.status(school, job["job_id"])
    assert seen["status"] == "applying"
    assert seen["progress"] == {"stage": "applying", "done": 120, "total": 300, "percent": 49}

    assert ingest.run_next() is True
    done = ingest.status(school, job["job_id"])
    assert done["status"] == "applied" and done["progress"] is None and done["faults"] == []
    assert done["finished_at"] and done["result"]["events"] > 0
    assert done["result"]["rows"] == sum(len(rows) for rows in SAMPLE.tables.values())
    assert ingest.scalar("SELECT count(*) FROM roster_job_progress") == 0
    assert ingest.scalar("SELECT bundle FROM roster_jobs") is None  # the zip is gone
    assert ingest.run_next() is False  # nothing left


@pytest.mark.parametrize("stage, done, total, percent", [
    ("reading", 0, 0, 0), ("checking", 0, 100, 25), ("checking", 100, 100, 35),
    ("applying", 0, 10, 35), ("applying", 5, 10, 52), ("saving", 0, 0, 70),
    ("applying", 20, 10, 70),  # never past its stage's share
])
def test_progress_is_a_percentage_each_stage_within_its_share(stage, done, total, percent):
    assert roster_jobs.percent(stage, done, total) == percent


def test_a_job_the_held_roster_no_longer_fits_ends_refused_with_the_real_fault(ingest):
    """Checked when uploaded, refused when applied: a delta enrolling a pupil in a class
    that a bulk upload queued before it removes. The one fault, by file and line; nothing
    of the delta applied; the same bytes again are checked anew, and now refused at once."""
    school = str(uuid.uuid4())
    ingest.submit(school, SAMPLE.bundle())
    ingest.drain()
    keep = {name: [r for r in SAMPLE.tables[name] if "CL2" not in (
        r.get("classSourcedId"), r["sourcedId"]) and not r["sourcedId"].startswith("LI2-")
        and "-2-" not in r["sourcedId"]]
        for name in ("classes", "enrollments", "lineItems", "results")}
    without_class = ingest.submit(school, zip_bundle({k: ("bulk", v) for k, v in keep.items()}))
    enrol = zip_bundle({"enrollments": ("delta", [{
        "sourcedId": "E-NEW", "classSourcedId": "CL2", "schoolSourcedId": "ORG1",
        "userSourcedId": "S0001", "role": "student"}])})
    late = ingest.submit(school, enrol)  # CL2 is still held: it passes the checks
    events = ingest.count("outbox", school)
    ingest.drain()

    assert ingest.status(school, without_class["job_id"])["status"] == "applied"
    refused = ingest.status(school, late["job_id"])
    assert refused["status"] == "refused" and refused["result"] is None
    assert refused["faults"] == [{"file": "enrollments.csv", "line": 2,
                                  "error": "classSourcedId: No classes record CL2."}]
    assert ingest.count("outbox", school) > events  # the bulk's removals, nothing of the delta
    assert ingest.scalar("SELECT count(*) FROM roster_rows WHERE sourced_id = 'E-NEW'") == 0
    assert ingest.scalar("SELECT bundle FROM roster_jobs WHERE job_id = :j",
                         j=late["job_id"]) is None

    again = ingest.client.post(UPLOAD, data=enrol, content_type="application/zip",
                               headers=ingest.headers(school))
    assert again.status_code == 422  # sent again: now refused at once, the same fault
    assert again.json["error"]["rows"] == refused["faults"]


def test_a_job_that_keeps_failing_on_our_side_ends_failed_and_can_be_sent_again(
        ingest, monkeypatch):
    school = str(uuid.uuid4())
    job = ingest.submit(school, SAMPLE.bundle())
    roster = ingest.rt.context.use_cases.roster

    def broken(*args, **kwargs):
        raise RuntimeError("a bug of ours")
    monkeypatch.setattr(roster, "upload", broken)
    for _ in range(roster_jobs.MAX_ATTEMPTS):
        with pytest.raises(RuntimeError):
            ingest.run_next()
        assert ingest.status(school, job["job_id"])["status"] == "queued"  # tried again
    assert ingest.run_next() is True
    failed = ingest.status(school, job["job_id"])
    assert failed["status"] == "failed" and failed["result"] is None
    assert failed["faults"] == [{"file": None, "line": None, "error": (
        "The upload could not be applied (an error on our side, logged for the team): "
        "send it again later.")}]
    assert ingest.count("outbox", school) == 0

    monkeypatch.undo()
    again = ingest.submit(school, SAMPLE.bundle())  # the same bytes: the same job, anew
    assert again["job_id"] == job["job_id"] and again["status"] == "queued"
    ingest.drain()
    assert ingest.status(school, job["job_id"])["status"] == "applied"

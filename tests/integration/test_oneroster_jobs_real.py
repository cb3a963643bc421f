"""OneRoster uploads as jobs (issue 23), on real PostgreSQL and RabbitMQ: the web app (in
this process) answers 202 with a job at once and stores the zip; ingest's worker, a real
process (`python -m services.ingest.worker`), applies it. A job accepted survives the web
process's restart, and the worker's death mid-job: it is applied once, by the next worker."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from dataclasses import replace
from pathlib import Path

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from services.ingest.app import SPEC
from shared.auth import TokenSigner, TokenVerifier, key_id
from shared.service import ServiceRuntime
from tests import second_factor
from tests.oneroster_sample import SampleSchool
from tests.support import terminate, wait_for

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
UPLOAD = "/api/v1/school-data/oneroster"


class Ingest:
    """Ingest's web app in this process (restartable), its worker as a process."""

    def __init__(self, settings, url: str, tmp_path: Path):
        self.settings = replace(settings, data_dir=tmp_path,
                                database_urls={**settings.database_urls, "ingest": url})
        self.url, self.tmp_path = url, tmp_path
        self.key = Ed25519PrivateKey.generate()
        self.workers: list[subprocess.Popen] = []
        self.runtime: ServiceRuntime | None = None
        self.start_web()

    def start_web(self) -> None:
        """A new web process, as after a restart: nothing carried over but the database."""
        if self.runtime is not None:
            self.runtime.engine.dispose()
        self.runtime = ServiceRuntime(SPEC, self.settings)
        self.runtime.start()
        self.runtime.verifier = TokenVerifier(lambda: {key_id(self.key.public_key()):
                                                       self.key.public_key()})
        self.client = self.runtime.create_app().test_client()

    def start_worker(self) -> subprocess.Popen:
        env = {**os.environ, "PP_BROKER_URL": self.settings.broker_url,
               "PP_EXCHANGE": self.settings.exchange,
               "PP_QUEUE_PREFIX": self.settings.queue_prefix,
               "PP_INGEST_DATABASE_URL": self.url, "PP_DATA_DIR": str(self.tmp_path)}
        log = self.tmp_path / f"worker{len(self.workers)}.log"
        worker = subprocess.Popen([sys.executable, "-m", "services.ingest.worker"], cwd=ROOT,
                                  env=env, stdout=subprocess.DEVNULL, stderr=log.open("w"))
        self.workers.append(worker)
        return worker

    def token(self, role: str, *schools: str, account: str | None = None) -> str:
        return TokenSigner(self.key).issue(account or str(uuid.uuid4()), role, list(schools),
                                           **second_factor.passed_claims())

    def upload(self, token: str, data: bytes, query: dict | None = None):
        return self.client.post(UPLOAD, data=data, content_type="application/zip",
                                query_string=query,
                                headers={"Authorization": f"Bearer {token}"})

    def job(self, token: str, job_id: str):
        return self.client.get(f"{UPLOAD}/jobs/{job_id}",
                               headers={"Authorization": f"Bearer {token}"})

    def ended(self, token: str, job_id: str, timeout: float = 120) -> dict:
        def done():
            job = self.job(token, job_id).json
            return job if job["status"] in ("applied", "refused", "failed") else None
        try:
            return wait_for(done, timeout=timeout, message="the job ended")
        except AssertionError as exc:
            logs = "\n".join(p.read_text()[-2000:] for p in self.tmp_path.glob("worker*.log"))
            raise AssertionError(f"{exc}\n{logs}") from None

    def scalar(self, sql: str, **params):
        with self.runtime.engine.connect() as conn:
            return conn.execute(sa.text(sql), params).scalar()

    def close(self) -> None:
        terminate([w for w in self.workers if w.poll() is None])
        self.runtime.engine.dispose()


@pytest.fixture
def ingest(broker_settings, new_database, tmp_path):
    running = Ingest(broker_settings, new_database("ingest"), tmp_path)
    yield running
    running.close()


def test_an_upload_is_a_job_answered_at_once_applied_by_the_worker_and_private_to_its_school(
        ingest):
    school, other = str(uuid.uuid4()), str(uuid.uuid4())
    client = ingest.token("school_system", school)
    bundle = SampleSchool(students=30, classes=3).bundle()

    accepted = ingest.upload(client, bundle)  # no worker yet: only stored
    assert accepted.status_code == 202, accepted.json
    job = accepted.json
    assert job["status"] == "queued" and job["result"] is None and job["size"] == len(bundle)
    assert accepted.headers["Location"] == job["status_url"] \
        == f"{UPLOAD}/jobs/{job['job_id']}"
    assert ingest.scalar("SELECT count(*) FROM records WHERE school_id = :s", s=school) == 0

    again = ingest.upload(ingest.token("school_admin", school), bundle)  # the same bytes
    assert again.status_code == 202 and again.json["job_id"] == job["job_id"]
    assert ingest.scalar("SELECT count(*) FROM roster_jobs") == 1

    # Another school's client or admin, or a job id never given: the same 404.
    for token in (ingest.token("school_system", other), ingest.token("school_admin", other),
                  ingest.token("parent", school)):
        denied = ingest.job(token, job["job_id"])
        assert denied.status_code == 404, denied.json
    unknown = ingest.job(client, str(uuid.uuid4()))
    assert unknown.status_code == 404 and unknown.json == ingest.job(
        ingest.token("school_admin", other), job["job_id"]).json

    ingest.start_web()  # the web process restarts: the job is in the database, not in it
    assert ingest.job(client, job["job_id"]).json["status"] == "queued"
    ingest.start_worker()
    ended = ingest.ended(client, job["job_id"])
    assert ended["status"] == "applied", ended
    assert ended["result"]["rows"] > 0 and ended["result"]["events"] > 0
    assert ended["finished_at"] and ended["progress"] is None and ended["faults"] == []
    assert ingest.scalar("SELECT count(*) FROM records WHERE school_id = :s AND "
                         "record_type = 'student'", s=school) == 30
    # The zip (personal data) is gone once applied; the answer stays.
    assert ingest.scalar("SELECT count(*) FROM roster_jobs WHERE bundle IS NOT NULL") == 0
    same = ingest.upload(client, bundle)
    assert same.status_code == 202 and same.json["job_id"] == job["job_id"] \
        and same.json["status"] == "applied"

    # A malformed bundle is refused in the request, every fault at once; nothing stored.
    refused = ingest.upload(client, bundle[:-40])
    assert refused.status_code == 422 and refused.json["error"]["code"] == "invalid_bundle"
    assert ingest.scalar("SELECT count(*) FROM roster_jobs") == 1


def test_a_trusts_job_is_seen_by_its_client_only(ingest):
    """A trust's client (several schools) uploads for its schools: the job is its own;
    an admin of one of the schools, or another client of the same schools, gets 404."""
    high, middle = str(uuid.uuid4()), str(uuid.uuid4())
    operator = ingest.token("operator")
    for school, org in ((high, "ORG1"), (middle, "ORG2")):
        assert ingest.client.put("/api/v1/school-data/oneroster/settings",
                                 json={"school_org_ids": [org]}, query_string={
                                     "school_id": school},
                                 headers={"Authorization": f"Bearer {operator}"}
                                 ).status_code == 200
    client_id = str(uuid.uuid4())
    trust = ingest.token("school_system", high, middle, account=client_id)
    bundle = SampleSchool(students=30, classes=3).bundle()
    accepted = ingest.upload(trust, bundle)
    assert accepted.status_code == 202, accepted.json
    assert sorted(accepted.json["schools"]) == sorted([high, middle])
    job_id = accepted.json["job_id"]
    assert ingest.job(ingest.token("school_system", high, middle, account=client_id),
                      job_id).status_code == 200  # its next token
    for token in (ingest.token("school_admin", high),
                  ingest.token("school_system", high, middle)):
        assert ingest.job(token, job_id).status_code == 404


def test_a_worker_killed_mid_job_leaves_it_to_the_next_which_applies_it_once(ingest):
    school = str(uuid.uuid4())
    client = ingest.token("school_system", school)
    bundle = SampleSchool(students=1500, classes=60).bundle()
    job_id = ingest.upload(client, bundle).json["job_id"]
    first = ingest.start_worker()

    def applying():
        job = ingest.job(client, job_id).json
        return job["status"] == "applying" and job["progress"]["stage"] in (
            "applying", "saving") and job
    seen = wait_for(applying, timeout=120, interval=0.02, message="the job half applied")
    assert 35 <= seen["progress"]["percent"] < 100
    first.send_signal(signal.SIGKILL)
    first.wait(timeout=30)
    assert ingest.job(client, job_id).json["status"] != "applied"

    ingest.start_worker()
    ended = ingest.ended(client, job_id)
    assert ended["status"] == "applied", ended
    assert ingest.scalar("SELECT attempts FROM roster_jobs WHERE job_id = :j", j=job_id) == 2
    # Applied once: the events in the outbox are the ones its answer counts, no more.
    assert ingest.scalar("SELECT count(*) FROM outbox WHERE school_id = :s", s=school) \
        == ended["result"]["published"] > 0
    assert ingest.scalar("SELECT count(*) FROM records WHERE school_id = :s AND "
                         "record_type = 'student'", s=school) == 1500

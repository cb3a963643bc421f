"""A worker process of the test service (see fakeservice.py), for multi-process tests:
    python -m tests.fakeworker DATABASE_URL   (broker names from PP_* variables)"""
import sys
from dataclasses import replace

from shared.config import Settings
from shared.worker import run_worker
from tests import fakeservice

if __name__ == "__main__":
    settings = Settings.from_env()
    spec = fakeservice.make_spec("reports", {"ParentVerified": fakeservice.record_effect})
    settings = replace(settings, database_urls={**settings.database_urls,
                                                "reports": sys.argv[1]})
    run_worker(spec, settings)

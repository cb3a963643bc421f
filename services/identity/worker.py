"""Worker entry point: `python -m services.identity.worker` (consumers and outbox relay)."""
from services.identity.app import SPEC
from shared.worker import run_worker

if __name__ == "__main__":
    run_worker(SPEC)

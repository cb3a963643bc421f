"""Every benchmark, one after the other: `make bench` (or `.venv/bin/python -m bench`)."""
import sys

from bench import identity, ingest, load, messaging, notifications, reports

if __name__ == "__main__":
    for module in (messaging, identity, ingest, reports, notifications, load):
        print(f"\n## {module.__name__}")
        sys.argv = [module.__name__]
        module.main()

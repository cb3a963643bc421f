"""Load: parents reading reports while a school pushes a term and an erasure runs, on the
local stack (every service as its own processes behind nginx), in one run.

    .venv/bin/python -m bench.load --parents 200 --seconds 60

Setup: one school, `--parents` students each with a verified parent and a published report,
plus a second school whose term (`--term-students`, ten subjects, marks, grades, targets and
four characteristics each) is pushed during the load. Each parent is a thread on its own
loopback address (127.0.0.x), as parents on their own networks would be to the gateway's
per-client rate limit, reading its child's report list and report in a loop. Meanwhile an
erasure of a student is filed and timed; the same erasure on the idle system (before the
load) is the baseline. Stack databases and queues are the run's own, removed after.
"""
from __future__ import annotations

import argparse
import email
import email.policy
import http.client
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from urllib.parse import unquote

import psycopg

ROOT = Path(__file__).resolve().parent.parent
ADMIN_URL = os.environ.get("PP_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
BROKER = os.environ.get("PP_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
OPERATOR = ("ops@bench.example", "operator-secret-1")
PERIOD = "Autumn 2026"


class Client:
    """HTTP/1.1 keep-alive to the gateway from one source address."""

    def __init__(self, source: str = "127.0.0.1"):
        self.conn = http.client.HTTPConnection("127.0.0.1", 8080, timeout=60,
                                               source_address=(source, 0))

    def call(self, method: str, path: str, token: str | None = None, body=None):
        headers = {"Content-Type": "application/json"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        for attempt in (1, 2):  # a keep-alive connection the server closed: once more
            try:
                self.conn.request(method, path, json.dumps(body) if body is not None else None,
                                  headers)
                answer = self.conn.getresponse()
                data = answer.read()
                return answer.status, (json.loads(data) if data else None)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")


def wait(what: str, check, timeout: float = 300, every: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(every)
    raise SystemExit(f"timed out waiting for {what}")


class Run:
    def __init__(self, args):
        self.args = args
        tag = uuid.uuid4().hex[:8]
        self.dir = Path(tempfile.mkdtemp(prefix="pp-bench-load-"))
        self.prefix = f"ppbench_{tag}_"
        self.env = {**os.environ, "PP_STACK_DIR": str(self.dir), "PP_STACK_DB_PREFIX": self.prefix,
                    "PP_STACK_ADMIN_DATABASE_URL": ADMIN_URL, "PP_BROKER_URL": BROKER,
                    "PP_EXCHANGE": f"pp.bench.{tag}", "PP_QUEUE_PREFIX": f"bench.{tag}.",
                    "PP_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR[0],
                    "PP_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR[1], "PP_LOG_LEVEL": "WARNING",
                    "PP_WEB_WORKERS": str(args.web_workers)}
        self.http = Client()

    def stack(self, command: str) -> None:
        subprocess.run([sys.executable, "deploy/stack.py", command], cwd=ROOT, env=self.env,
                       check=True, capture_output=True, timeout=600)

    def cleanup(self) -> None:
        subprocess.run([sys.executable, "deploy/stack.py", "down"], cwd=ROOT, env=self.env,
                       capture_output=True, timeout=600)
        with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE "
                                        "%(p)s", {"p": self.prefix + "%"}).fetchall():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        from kombu import Connection
        with Connection(BROKER) as conn:
            channel = conn.channel()
            from dataclasses import replace

            from shared.config import Settings
            from shared.messaging import topology
            settings = replace(Settings.from_env({}), exchange=self.env["PP_EXCHANGE"],
                               queue_prefix=self.env["PP_QUEUE_PREFIX"])
            for queue in topology.all_queues(settings):
                channel.queue_delete(queue.name)
            channel.exchange_delete(settings.exchange)

    def token(self, **grant) -> str:
        status, body = self.http.call("POST", "/api/v1/auth/token", body=grant)
        assert status == 200, body
        return body["access_token"]

    def invitation(self, address: str) -> str:
        def find():
            for path in sorted((self.dir / "data" / "mail").glob("*.eml"), reverse=True):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if message["To"] and address in message["To"]:
                    text = message.get_body(("plain",)).get_content()
                    found = re.search(r"activate\?token=([A-Za-z0-9_%-]+)", text)
                    if found:
                        return unquote(found.group(1))
            return None
        return wait(f"the invitation to {address}", find, timeout=120, every=0.2)

    def activate(self, client: Client, address: str, password: str) -> str:
        status, body = client.call("POST", "/api/v1/auth/activate", body={
            "token": self.invitation(address), "password": password})
        assert status == 200, body
        status, body = client.call("POST", "/api/v1/auth/token", body={
            "grant_type": "password", "email": address, "password": password})
        assert status == 200, body
        return body["access_token"]

    def school(self, name: str) -> tuple[str, str, str]:
        operator = self.token(grant_type="password", email=OPERATOR[0], password=OPERATOR[1])
        _, created = self.http.call("POST", "/api/v1/schools", operator, {"name": name})
        school = created["id"]
        admin_email = f"head-{school[:8]}@bench.example"
        self.http.call("POST", f"/api/v1/schools/{school}/staff", operator, {
            "name": "Head", "email": admin_email, "role": "school_admin"})
        admin = self.activate(self.http, admin_email, "an-admin-password-1")
        _, client = self.http.call("POST", f"/api/v1/schools/{school}/clients", operator)
        return school, admin, self.token(grant_type="client_credentials", **client)

    def push(self, system: str, events: list[dict], client: Client | None = None) -> None:
        for start in range(0, len(events), 5000):
            status, body = (client or self.http).call("POST", "/api/v1/school-data/batches", system, {
                "batch_id": uuid.uuid4().hex, "events": events[start:start + 5000]})
            assert status == 202 and not body["rejected"], body

    def erase(self, admin: str, source_id: str) -> float:
        started = time.perf_counter()
        status, request = self.http.call("POST", "/api/v1/subject-requests", admin, {
            "kind": "erasure", "subject": {"type": "student", "source_id": source_id}})
        assert status == 201, request
        client = Client()

        def done():
            _, view = client.call("GET", f"/api/v1/subject-requests/{request['id']}", admin)
            return view["status"] == "completed"
        wait(f"the erasure of {source_id}", done, timeout=900, every=0.2)
        return time.perf_counter() - started


def students(count: int, prefix: str, with_parents: bool) -> list[dict]:
    events = []
    for n in range(count):
        sid = f"{prefix}{n}"
        events.append({"type": "student.upserted", "source_id": sid, "data": {
            "given_name": "Sam", "family_name": "Reed", "date_of_birth": f"2014-0{1 + n % 9}-1{n % 9}",
            "form_group": "9C", "year_group": 9}})
        if with_parents:
            events.append({"type": "guardian.upserted", "source_id": f"G{sid}", "data": {
                "given_name": "Lou", "family_name": "Reed", "email": f"p{sid.lower()}@bench.example",
                "students": [{"student_id": sid, "relationship": "parent", "receives_reports": True}]}})
    return events


def classes_and_marks(sids: list[str]) -> list[dict]:
    events = [{"type": "staff.upserted", "source_id": "T1", "data": {
        "title": "Dr", "given_name": "Ada", "family_name": "Lov"}}]
    for subject in ("Maths", "English", "Science"):
        events.append({"type": "class.upserted", "source_id": f"C-{subject}", "data": {
            "name": f"9C {subject}", "subject": subject, "teacher_ids": ["T1"], "student_ids": sids}})
        events += [{"type": "attainment.recorded", "source_id": f"A-{subject}-{s}", "data": {
            "student_id": s, "class_id": f"C-{subject}", "period": PERIOD, "kind": "mark",
            "value": "61", "out_of": 100}} for s in sids]
    return events


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--term-students", type=int, default=300)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()
    run = Run(args)
    try:
        run.stack("up")
        school, admin, system = run.school("Reading School")
        sids = [f"S{n}" for n in range(args.parents)]
        run.push(system, students(args.parents, "S", True) + students(2, "X", False)
                 + classes_and_marks(sids + ["X0", "X1"]))
        tokens: dict[str, tuple[str, Client]] = {}

        def sign_up(n: int) -> None:
            client = Client(f"127.0.{1 + n // 250}.{2 + n % 250}")
            token = run.activate(client, f"ps{n}@bench.example", "a-parent-password-1")
            link = wait("the link", lambda: client.call("GET", "/api/v1/links", token)[1]["items"],
                        every=0.2)[0]
            status, _ = client.call("POST", f"/api/v1/links/{link['id']}/verify", token,
                                    {"date_of_birth": f"2014-0{1 + n % 9}-1{n % 9}"})
            assert status == 200
            tokens[link["student"]["id"]] = (token, client)
        threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(args.parents)]
        for batch in range(0, len(threads), 20):
            for thread in threads[batch:batch + 20]:
                thread.start()
            for thread in threads[batch:batch + 20]:
                thread.join()
        assert len(tokens) == args.parents, "every parent verified"

        def published():
            status, body = run.http.call("POST", "/api/v1/reports/publish", admin, {
                "period": PERIOD, "title": "Autumn"})
            return status == 202 and body["published"] == args.parents + 2
        wait("every report to publish", published)
        idle_erasure = run.erase(admin, "X0")

        _, _, other_system = run.school("Pushing School")
        latencies: list[float] = []
        errors: list[int] = []
        stop = threading.Event()

        def read(student_id: str, token: str, client: Client) -> None:
            while not stop.is_set():
                started = time.perf_counter()
                status, body = client.call("GET", f"/api/v1/students/{student_id}/reports", token)
                if status == 200 and body["items"]:
                    status, _ = client.call("GET", f"/api/v1/reports/{body['items'][0]['id']}",
                                            token)
                latencies.append(time.perf_counter() - started)
                if status != 200:
                    errors.append(status)
        readers = [threading.Thread(target=read, args=(sid, token, client), daemon=True)
                   for sid, (token, client) in tokens.items()]
        pushed = {}

        def push_term() -> None:
            from bench.ingest import term as a_term
            events = a_term(args.term_students)
            started = time.perf_counter()
            run.push(other_system, events, Client("127.0.0.254"))  # its own connection
            pushed["records"], pushed["seconds"] = len(events), time.perf_counter() - started
        started = time.perf_counter()
        for reader in readers:
            reader.start()
        pusher = threading.Thread(target=push_term)
        pusher.start()
        time.sleep(min(5.0, args.seconds / 4))  # the readers and the push under way
        loaded_erasure = run.erase(admin, "X1")
        remaining = args.seconds - (time.perf_counter() - started)
        if remaining > 0:
            stop.wait(remaining)
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
        pusher.join()
        elapsed = time.perf_counter() - started
    finally:
        run.cleanup()

    reads = len(latencies)
    print(f"\n{'measure':<52} {'value':>12}")
    print(f"{'parents reading (each its own address)':<52} {args.parents:>12}")
    print(f"{'report reads (list + report) in ' + format(elapsed, '.0f') + ' s':<52} {reads:>12}")
    print(f"{'reads per second':<52} {reads / elapsed:>12.1f}")
    print(f"{'errors (non-200)':<52} {len(errors):>12}")
    print(f"{'read p50 / p99 (ms)':<52} {pct(latencies, 0.5):>5.0f} / {pct(latencies, 0.99):<5.0f}")
    print(f"{'term pushed meanwhile (records, records/s)':<52} {pushed.get('records', 0):>6} / "
          f"{pushed.get('records', 0) / max(pushed.get('seconds', 1), 1e-9):<5.0f}")
    print(f"{'erasure, idle system (s) (baseline)':<52} {idle_erasure:>12.2f}")
    print(f"{'erasure under load (s)':<52} {loaded_erasure:>12.2f}")
    print(f"{'ratio under load / idle':<52} {loaded_erasure / idle_erasure:>12.2f}")
    if errors:
        print(f"error statuses: {sorted(set(errors))}")
    if errors:
        raise SystemExit(1)


if __name__ == "__main__":
    main()

"""A running Pupil Progress for the system benchmarks (bench.load, bench.pipeline), reached
through its gateway as school systems and apps reach it: the local stack (deploy/stack.py:
every service as its own gunicorn and worker processes behind nginx) or `make run`'s
embedded process. Each run has its own databases, queues and data folder, removed after.
"""
from __future__ import annotations

import email
import email.policy
import http.client
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from contextlib import closing
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import unquote

import psycopg

from bench.common import AMQP, DATABASE, free_port
from services.ingest.schemas import MAX_REFERENCES
from shared import contracts
from shared.config import SERVICES, Settings
from shared.messaging import topology
from tests import second_factor

ROOT = Path(__file__).resolve().parent.parent
OPERATOR = ("ops@bench.example", "operator-secret-1")
ADMIN_PASSWORD = "an-admin-password-1"  # every bench school's admin
PERIOD = "Autumn 2026"
BATCH = 5000  # events per push: ingest's limit


class Client:
    """HTTP/1.1 keep-alive to the gateway from one source address."""

    def __init__(self, source: str = "127.0.0.1", port: int = 8080):
        self.conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120,
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


def process_children() -> dict[int, list[int]]:
    """Every running process's children, by parent pid (from /proc)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            parent = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(parent, []).append(int(entry))
    return children


def process_tree(pid: int, children: dict[int, list[int]]) -> list[int]:
    """A process and its descendants (by process_children())."""
    tree, todo = [], [pid]
    while todo:
        current = todo.pop()
        tree.append(current)
        todo += children.get(current, [])
    return tree


def rss_mb(pid: int, tree: bool = False) -> float:
    """Resident memory (VmRSS) of a process, with its descendants if `tree`, in MB (0 once
    gone)."""
    total = 0
    for current in process_tree(pid, process_children() if tree else {}):
        try:
            for line in Path(f"/proc/{current}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])  # kB
        except OSError:
            pass
    return total / 1024


def students(count: int, prefix: str, with_parents: bool) -> list[dict]:
    events = []
    for n in range(count):
        sid = f"{prefix}{n}"
        events.append({"type": "student.upserted", "source_id": sid, "data": {
            "given_name": "Sam", "family_name": "Reed",
            "date_of_birth": f"2014-0{1 + n % 9}-1{n % 9}", "form_group": "9C", "year_group": 9}})
        if with_parents:
            events.append({"type": "guardian.upserted", "source_id": f"G{sid}", "data": {
                "given_name": "Lou", "family_name": "Reed",
                "email": f"p{sid.lower()}@bench.example",
                "students": [{"student_id": sid, "relationship": "parent",
                              "receives_reports": True}]}})
    return events


def classes_and_marks(sids: list[str]) -> list[dict]:
    """Three subjects' classes of these students (a class holds at most MAX_REFERENCES:
    more make more classes, C-Maths, C-Maths-2, ...) and a mark in each."""
    events = [{"type": "staff.upserted", "source_id": "T1", "data": {
        "title": "Dr", "given_name": "Ada", "family_name": "Lov"}}]
    for subject in ("Maths", "English", "Science"):
        for n, start in enumerate(range(0, len(sids), MAX_REFERENCES)):
            members, class_id = sids[start:start + MAX_REFERENCES], \
                f"C-{subject}" + (f"-{n + 1}" if n else "")
            events.append({"type": "class.upserted", "source_id": class_id, "data": {
                "name": f"9C {subject}" + (f" {n + 1}" if n else ""), "subject": subject,
                "teacher_ids": ["T1"], "student_ids": members}})
            events += [{"type": "attainment.recorded", "source_id": f"A-{subject}-{s}",
                        "data": {"student_id": s, "class_id": class_id, "period": PERIOD,
                                 "kind": "mark", "value": "61", "out_of": 100}}
                       for s in members]
    return events


@dataclass(frozen=True)
class NewSchool:
    """A school World.new_school made: its id, its admin's address (the password is
    ADMIN_PASSWORD) and first token, and its school system's client credentials."""
    school_id: str
    admin_email: str
    admin_token: str
    credentials: dict[str, str]


class World:
    """What the benchmarks do through a gateway (schools, pushes, erasures), and whether
    everything published so far has been applied by every service that consumes it."""

    port = 8080
    data_dir: Path

    def __init__(self):
        self.http = Client(port=self.port)

    def client(self, source: str = "127.0.0.1") -> Client:
        return Client(source, self.port)

    def rows(self, service: str, query: str) -> list[tuple]:
        raise NotImplementedError

    def queued(self) -> int:
        """Messages waiting in the services' queues (where the broker can be asked)."""
        return 0

    def token(self, client: Client | None = None, **grant) -> str:
        """An access token; a staff or operator sign-in passes the second factor (enrolled
        on its first sign-in), as tests/second_factor.py does."""
        http = client or self.http

        def post(path: str, body: dict, token: str) -> dict:
            status, answer = http.call("POST", path, token, body)
            assert status in (200, 201), (path, status, answer)
            return answer
        status, body = http.call("POST", "/api/v1/auth/token", body=grant)
        assert status == 200, body
        return second_factor.complete(post, body)["access_token"]

    def invitation(self, address: str) -> str:
        def find():
            for path in sorted((self.data_dir / "mail").glob("*.eml"), reverse=True):
                message = email.message_from_bytes(path.read_bytes(), policy=email.policy.default)
                if message["To"] and address in message["To"]:
                    text = message.get_body(("plain",)).get_content()
                    found = re.search(r"activate\?token=([A-Za-z0-9_%-]+)", text)
                    if found:
                        return unquote(found.group(1))
            return None
        return wait("an invitation", find, timeout=600, every=0.2)  # a loaded machine

    def activate(self, client: Client, address: str, password: str) -> str:
        status, body = client.call("POST", "/api/v1/auth/activate", body={
            "token": self.invitation(address), "password": password})
        assert status == 200, body
        return self.token(client, grant_type="password", email=address, password=password)

    def new_school(self, name: str) -> NewSchool:
        """A new school, made by the operator: its admin invited and activated (signed in
        once), and a client for its school system."""
        operator = self.token(grant_type="password", email=OPERATOR[0], password=OPERATOR[1])
        _, created = self.http.call("POST", "/api/v1/schools", operator, {"name": name})
        school = created["id"]
        admin_email = f"head-{school[:8]}@bench.example"
        self.http.call("POST", f"/api/v1/schools/{school}/staff", operator, {
            "name": "Head", "email": admin_email, "role": "school_admin"})
        admin = self.activate(self.http, admin_email, ADMIN_PASSWORD)
        _, client = self.http.call("POST", f"/api/v1/schools/{school}/clients", operator)
        return NewSchool(school, admin_email, admin, client)

    def school(self, name: str) -> tuple[str, str, str]:
        """A new school: its id, an admin's token and its school system's token."""
        made = self.new_school(name)
        return made.school_id, made.admin_token, self.token(grant_type="client_credentials",
                                                            **made.credentials)

    def push(self, system: str, events: list[dict], client: Client | None = None,
             after_batch=None) -> None:
        for start in range(0, len(events), BATCH):
            batch = {"batch_id": uuid.uuid4().hex, "events": events[start:start + BATCH]}
            while True:  # beyond the school's pace: the same batch after Retry-After
                status, body = (client or self.http).call(
                    "POST", "/api/v1/school-data/batches", system, batch)
                if status != 429:
                    break
                time.sleep(body["error"]["retry_after"])
            assert status == 202 and not body["rejected"], body
            if after_batch:
                after_batch()

    def erase(self, admin: str, source_id: str) -> float:
        """File a student's erasure; seconds until every service has completed it."""
        started = time.perf_counter()
        status, request = self.http.call("POST", "/api/v1/subject-requests", admin, {
            "kind": "erasure", "subject": {"type": "student", "source_id": source_id}})
        assert status == 201, request
        client = self.client()

        def done():
            _, view = client.call("GET", f"/api/v1/subject-requests/{request['id']}", admin)
            return view["status"] == "completed"
        wait("an erasure to complete", done, timeout=3600, every=0.2)
        return time.perf_counter() - started

    def backlog(self) -> dict[str, int]:
        """What is still on its way, by service: unsent outbox rows, plus events published
        but not yet in a consumer's inbox (counted by type against every producer's outbox;
        an outbox row stays for PP_OUTBOX_RETENTION_SECONDS). Empty when all is applied."""
        published: Counter = Counter()
        left: Counter = Counter()
        for service in SERVICES:
            for event_type, count, unsent in self.rows(service, (
                    "SELECT event_type, count(*), "
                    "sum(CASE WHEN sent_at IS NULL THEN 1 ELSE 0 END) "
                    "FROM outbox GROUP BY event_type")):
                published[event_type] += count
                left[f"{service} outbox"] += unsent
        consumers = {c.type: topology.consumers_of(c) for c in contracts.CONTRACTS}
        for service in SERVICES:
            applied = dict(self.rows(service, "SELECT event_type, count(*) FROM inbox "
                                              "GROUP BY event_type"))
            for event_type, count in published.items():
                if service in consumers.get(event_type, ()):
                    left[f"{service} inbox"] += count - applied.get(event_type, 0)
            dead = self.rows(service, "SELECT count(*) FROM dead_letters")[0][0]
            if dead:
                raise SystemExit(f"{service} dead-lettered {dead} events: see its dead letters")
        left["queues"] = self.queued()
        return {k: v for k, v in left.items() if v}

    def wait_applied(self, projections: dict[tuple[str, str, str], int] | None = None,
                     timeout: float = 7200, every: float = 1.0) -> float:
        """Wait until nothing is on its way twice in a row (a consumer may hold deliveries
        the queue no longer counts; its inbox does) and the projections, if given as
        {(service, table, school_id): rows}, hold their rows. Returns when (perf_counter)
        the first of those two checks began: checking `every` seconds, the end is known to
        within that (each check reads every service's database: not too often while the
        services work)."""
        calm_since: float | None = None

        def quiet():
            nonlocal calm_since
            checked = time.perf_counter()
            if self.backlog() or any(self.count(*where) != rows
                                     for where, rows in (projections or {}).items()):
                calm_since = None
                return False
            calm_since = calm_since or checked
            return checked > calm_since
        wait("every service to apply what was published", quiet, timeout=timeout,
             every=every)
        return calm_since

    def count(self, service: str, table: str, school: str) -> int:
        return self.rows(service,
                         f"SELECT count(*) FROM {table} WHERE school_id = '{school}'")[0][0]


class Stack(World):
    """deploy/stack.py with this run's own folder, databases, exchange and queues."""

    def __init__(self, web_workers: int = 2, label: str = "bench",
                 env: dict[str, str] | None = None):
        tag = uuid.uuid4().hex[:8]
        self.dir = Path(tempfile.mkdtemp(prefix=f"pp-{label}-"))
        self.data_dir = self.dir / "data"
        self.prefix = f"pp{label}_{tag}_"
        self.settings = replace(Settings.from_env({}), broker_url=AMQP,
                                exchange=f"pp.{label}.{tag}", queue_prefix=f"{label}.{tag}.")
        self.env = {**os.environ, "PP_STACK_DIR": str(self.dir), "PP_STACK_DB_PREFIX": self.prefix,
                    "PP_STACK_ADMIN_DATABASE_URL": DATABASE, "PP_BROKER_URL": AMQP,
                    "PP_EXCHANGE": self.settings.exchange,
                    "PP_QUEUE_PREFIX": self.settings.queue_prefix,
                    "PP_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR[0],
                    "PP_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR[1], "PP_LOG_LEVEL": "WARNING",
                    # backlog() counts outbox rows: keep them for the whole run
                    "PP_OUTBOX_RETENTION_SECONDS": "86400",
                    "PP_WEB_WORKERS": str(web_workers), **(env or {})}
        super().__init__()

    def command(self, command: str) -> None:
        done = subprocess.run([sys.executable, "deploy/stack.py", command], cwd=ROOT,
                              env=self.env, capture_output=True, text=True, timeout=600)
        if done.returncode:
            raise SystemExit(f"stack {command} failed: {done.stdout[-2000:]}{done.stderr[-2000:]}"
                             f" (logs in {self.dir / 'logs'})")

    def up(self) -> None:
        self.command("up")

    def cleanup(self) -> None:
        """Stop every process of the stack, then drop its databases, queues and exchange."""
        subprocess.run([sys.executable, "deploy/stack.py", "down"], cwd=ROOT, env=self.env,
                       capture_output=True, timeout=600)
        with psycopg.connect(DATABASE, autocommit=True) as conn:
            for (name,) in conn.execute("SELECT datname FROM pg_database WHERE datname LIKE "
                                        "%(p)s", {"p": self.prefix + "%"}).fetchall():
                conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        from kombu import Connection
        with Connection(AMQP) as conn:
            channel = conn.channel()
            for queue in topology.all_queues(self.settings):
                channel.queue_delete(queue.name)
            channel.exchange_delete(self.settings.exchange)
        shutil.rmtree(self.dir, ignore_errors=True)

    def rows(self, service: str, query: str) -> list[tuple]:
        base = DATABASE.rsplit("/", 1)[0]
        with psycopg.connect(f"{base}/{self.prefix}{service}") as conn:
            return conn.execute(query).fetchall()

    def queued(self) -> int:
        from kombu import Connection
        total = 0
        with Connection(AMQP) as conn:
            channel = conn.channel()
            for queue in topology.all_queues(self.settings):
                _, ready, _ = channel.queue_declare(queue.name, passive=True)
                total += ready
        return total

    def processes(self) -> dict[str, int]:
        """Every process the stack started (web, worker, nginx…) by pid-file name."""
        return {p.stem: int(p.read_text()) for p in sorted((self.dir / "pids").glob("*.pid"))}

    def database_backends(self) -> dict[str, int]:
        """The PostgreSQL server processes serving the stack's databases, named by
        database and pid (their CPU is the services' statements')."""
        with psycopg.connect(DATABASE, autocommit=True) as conn:
            return {f"postgres {name[len(self.prefix):]} {pid}": pid
                    for pid, name in conn.execute(
                        "SELECT pid, datname FROM pg_stat_activity WHERE datname LIKE %(p)s",
                        {"p": self.prefix + "%"}).fetchall()}

    def workers(self) -> dict[str, int]:
        """Worker process ids by pid-file name (reports-worker, reports-worker-2, …)."""
        return {p.stem: int(p.read_text())
                for p in sorted((self.dir / "pids").glob("*-worker*.pid"))}


class Embedded(World):
    """`python -m shared.embedded` (what `make run` starts) on a free port, with its own
    data folder: SQLite files, kombu's in-memory broker, mail as .eml files."""

    def __init__(self):
        self.port = free_port()
        self.dir = Path(tempfile.mkdtemp(prefix="pp-bench-embedded-"))
        self.data_dir = self.dir
        env = {k: v for k, v in os.environ.items() if not k.startswith("PP_")}
        env.update({"PP_DATA_DIR": str(self.dir), "PP_GATEWAY_PORT": str(self.port),
                    "PP_BOOTSTRAP_OPERATOR_EMAIL": OPERATOR[0],
                    "PP_BOOTSTRAP_OPERATOR_PASSWORD": OPERATOR[1], "PP_LOG_LEVEL": "WARNING",
                    "PP_OUTBOX_RETENTION_SECONDS": "86400"})
        self.log = open(self.dir / "embedded.log", "ab")
        self.process = subprocess.Popen([sys.executable, "-m", "shared.embedded"], cwd=ROOT,
                                        env=env, stdout=self.log, stderr=subprocess.STDOUT)
        super().__init__()

    def up(self) -> None:
        def ready():
            if self.process.poll() is not None:
                raise SystemExit(f"make run exited: see {self.dir / 'embedded.log'}")
            try:
                return self.client().call("GET", "/readyz")[0] == 200
            except OSError:
                return False
        wait("make run to be ready", ready, timeout=180)

    def cleanup(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)  # Ctrl-C: drains, then exits
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)

    def rows(self, service: str, query: str) -> list[tuple]:
        with closing(sqlite3.connect(f"file:{self.dir / f'{service}.db'}?mode=ro", uri=True,
                                     timeout=30)) as conn:
            return conn.execute(query).fetchall()

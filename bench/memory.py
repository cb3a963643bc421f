"""No growth: `make run`'s memory after 20,000 mixed requests of a parent, an admin and a
school system, beside its memory after the first 2,000, in one run (issue 27).

    .venv/bin/python -m bench.memory --requests 20000       (make bench runs it too)

`make run` is started as `make run` starts it (`python -m shared.embedded`: every service
in one process, SQLite files, kombu's in-memory broker), on a free port (never 8080) with a
data folder of its own, removed after. Setup: a school with `--students` students, each
with a parent and marks, its reports published, one parent signed up and verified.

Then `--threads` connections send the same mix of requests over and over, a round of 15:
the parent's visit (a sign-in on a new connection, as a browser coming back opens one;
the web app's page, /me, its links, its child's report list, a report, the child's
progress), the admin's lists (subject requests, the school's
students, a student's links, the school's batches, reports) and the school system's push
(a batch of `--push-events` marks, new values for the same records) and its list of
batches. After the first tenth of the requests and after all of them, once every event
published has been applied (the queues idle, as a person would find it), the resident
memory (VmRSS) of every process of `make run` is summed: the figure is the second beside
the first (at most 1.1x) and the second itself (at most 400 MB). A request answered with
anything but 2xx counts as an error (a push beyond the school's pace, 429, is counted
apart: it is the answer the pace asks for).
"""
from __future__ import annotations

import argparse
import http.client
import json
import threading
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.common import Figure, table
from bench.stack_world import (ADMIN_PASSWORD, PERIOD, Client, Embedded,
                               classes_and_marks, rss_mb, students, wait)

GROUP = "memory"
GROWTH, MAX_MB = 1.1, 400
PARENT_PASSWORD = "a-parent-password-1"
PARENT_EMAIL = "ps0@bench.example"  # bench.stack_world.students' first guardian
ROUND = 15  # requests a round


@dataclass
class Login:
    """A token, and how to get a new one when it expires (401): `sign_in` on a connection
    of its own (the threads' connections are theirs), one thread at a time."""
    sign_in: Callable[[], str]
    token: str = ""
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.token = self.sign_in()

    def renew(self, expired: str) -> str:
        with self.lock:
            if self.token == expired:  # not renewed by another thread meanwhile
                self.token = self.sign_in()
            return self.token


@dataclass
class Actors:
    parent: Login
    admin: Login
    system: Login
    student_id: str  # the parent's child (the school's id)
    report_id: str
    school_id: str
    sids: list[str] = field(default_factory=list)  # source ids, for the pushes


def school(world: Embedded, count: int) -> Actors:
    """A school with `count` students, each with a parent and marks, its reports
    published; the first student's parent signed up and verified."""
    http = world.http
    made = world.new_school("Memory School")
    school_id = made.school_id
    admin = Login(lambda: world.token(world.client(), grant_type="password",
                                      email=made.admin_email, password=ADMIN_PASSWORD))
    system = Login(lambda: world.token(world.client(), grant_type="client_credentials",
                                       **made.credentials))
    sids = [f"S{n}" for n in range(count)]
    world.push(system.token, students(count, "S", True) + classes_and_marks(sids))
    parent = _verified_parent(world)
    wait("the reports to publish", lambda: http.call(
        "POST", "/api/v1/reports/publish", admin.token,
        {"period": PERIOD, "title": "Autumn"})[1].get("published") == count)
    _, links = http.call("GET", "/api/v1/links", parent.token)
    student_id = links["items"][0]["student"]["id"]
    # Reports learns of the verified link by an event: wait for it, as the parent would.
    reports = wait("the parent's reports", lambda: http.call(
        "GET", f"/api/v1/students/{student_id}/reports", parent.token)[1].get("items"),
        every=0.2)
    return Actors(parent, admin, system, student_id, reports[0]["id"], school_id, sids)


def _verified_parent(world: Embedded) -> Login:
    """The parent of S0 (bench.stack_world.students' first guardian), signed up and
    verified."""
    token = world.activate(world.http, PARENT_EMAIL, PARENT_PASSWORD)
    link = wait("the link", lambda: world.http.call("GET", "/api/v1/links", token)[1]["items"],
                every=0.2)[0]
    status, _ = world.http.call("POST", f"/api/v1/links/{link['id']}/verify", token,
                                {"date_of_birth": "2014-01-10"})
    assert status == 200, status
    return Login(lambda: world.token(world.client(), grant_type="password",
                                     email=PARENT_EMAIL, password=PARENT_PASSWORD))


Request = tuple[str, str, str, "dict | None"]  # who, method, path, body


def round_of_requests(actors: Actors, push_events: int, turn: int) -> list[Request]:
    """The requests of one round; the push carries new values for the same marks."""
    sid, rid, school_id = actors.student_id, actors.report_id, actors.school_id
    pushed = [{"type": "attainment.recorded", "source_id": f"A-Maths-{s}", "data": {
        "student_id": s, "class_id": "C-Maths", "period": PERIOD, "kind": "mark",
        "value": str(40 + (turn + n) % 60), "out_of": 100}}
        for n, s in enumerate(actors.sids[:push_events])]
    return [
        ("nobody", "POST", "/api/v1/auth/token", {
            "grant_type": "password", "email": PARENT_EMAIL, "password": PARENT_PASSWORD}),
        ("parent", "GET", "/", None),
        ("parent", "GET", "/api/v1/me", None),
        ("parent", "GET", "/api/v1/links", None),
        ("parent", "GET", f"/api/v1/students/{sid}/reports", None),
        ("parent", "GET", f"/api/v1/reports/{rid}", None),
        ("parent", "GET", f"/api/v1/students/{sid}/progress", None),
        ("admin", "GET", "/api/v1/subject-requests?scope=open&limit=50", None),
        ("admin", "GET", f"/api/v1/links/students?school_id={school_id}", None),
        ("admin", "GET", f"/api/v1/links?student_id={sid}", None),
        ("admin", "GET", f"/api/v1/school-data/batches?limit=25&school_id={school_id}", None),
        ("admin", "GET", "/api/v1/reports?limit=50", None),
        ("system", "POST", "/api/v1/school-data/batches",
         {"batch_id": f"memory-{turn}", "events": pushed}),
        ("system", "GET", "/api/v1/school-data/batches?limit=25", None),
        ("parent", "GET", "/api/v1/me", None)]


def send(client: Client, method: str, path: str, token: str | None,
         body: dict | None) -> int:
    """The answer's status (its body read and left: the web app's page is HTML)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    for attempt in (1, 2):  # a keep-alive connection the server closed: once more
        try:
            client.conn.request(method, path, json.dumps(body) if body is not None else None,
                                headers)
            answer = client.conn.getresponse()
            answer.read()
            return answer.status
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            client.conn.close()
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class Driver:
    """Sends the rounds of requests from `threads` connections, request `sent` onwards,
    until `until` have been sent: statuses counted."""

    def __init__(self, world: Embedded, actors: Actors, push_events: int, threads: int):
        self.world, self.actors, self.push_events = world, actors, push_events
        self.clients = [world.client() for _ in range(threads)]
        self.sent = 0
        self.lock = threading.Lock()
        self.statuses: Counter[int] = Counter()
        self.failed: list[BaseException] = []

    def _next(self, until: int) -> int | None:
        with self.lock:
            if self.sent >= until or self.failed:
                return None
            self.sent += 1
            return self.sent - 1

    def _send(self, client: Client, until: int) -> None:
        rounds: dict[int, list[Request]] = {}
        try:
            while (n := self._next(until)) is not None:
                turn, index = divmod(n, ROUND)
                if turn not in rounds:
                    rounds = {turn: round_of_requests(self.actors, self.push_events, turn)}
                if index == 0:
                    client.conn.close()  # the visit's new connection
                status = self._one(client, *rounds[turn][index])
                with self.lock:
                    self.statuses[status] += 1
        except BaseException as exc:  # the main thread reports it
            self.failed.append(exc)

    def _one(self, client: Client, who: str, method: str, path: str,
             body: dict | None) -> int:
        login: Login | None = getattr(self.actors, who, None)  # None: no token (sign-in)
        token = login.token if login else None
        status = send(client, method, path, token, body)
        if status == 401 and login and token:  # an access token lives 15 minutes
            status = send(client, method, path, login.renew(token), body)
        return status

    def until(self, count: int) -> None:
        """Send requests until `count` have been sent in all."""
        threads = [threading.Thread(target=self._send, args=(client, count))
                   for client in self.clients]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        if self.failed:
            raise self.failed[0]

    def errors(self) -> int:
        return sum(n for status, n in self.statuses.items()
                   if not 200 <= status < 300 and status != 429)


def settled_rss(world: Embedded) -> float:
    """Once every event published has been applied: `make run`'s memory (every process)."""
    world.wait_applied(timeout=600)
    return rss_mb(world.process.pid, tree=True)


def figures(quick: bool = False, requests: int | None = None, students_: int = 50,
            push_events: int = 10, threads: int = 4) -> list[Figure]:
    total = requests or (5000 if quick else 20000)
    first = total // 10
    world = Embedded()
    try:
        world.up()
        actors = school(world, students_)
        driver = Driver(world, actors, push_events, threads)
        print(f"memory: make run, {first:,} mixed requests", flush=True)
        driver.until(first)
        early = settled_rss(world)
        print(f"memory: {early:.0f} MB; on to {total:,} requests", flush=True)
        driver.until(total)
        late = settled_rss(world)
    finally:
        world.cleanup()
    if driver.errors():
        print(f"memory: statuses {dict(driver.statuses)}", flush=True)
    return [
        Figure(GROUP, f"make run RSS after {total:,} mixed requests (parent, admin, school "
               "system)", late, "MB", f"after the first {first:,}", early, target=GROWTH,
               higher_is_better=False),
        Figure(GROUP, f"make run RSS after {total:,} mixed requests", late, "MB",
               target=MAX_MB, higher_is_better=False),
        Figure(GROUP, f"requests answered other than 2xx ({driver.statuses[429]:,} pushes "
               "beyond the school's pace, 429, apart)", driver.errors(), "errors", target=0,
               higher_is_better=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20000)
    parser.add_argument("--students", type=int, default=50)
    parser.add_argument("--push-events", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4)
    parser.add_argument("--quick", action="store_true", help="5,000 requests (500 first)")
    args = parser.parse_args()
    requests = 5000 if args.quick and args.requests == 20000 else args.requests
    print(table(figures(requests=requests, students_=args.students,
                        push_events=args.push_events, threads=args.threads)))


if __name__ == "__main__":
    main()

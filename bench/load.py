"""Load: parents reading reports while a school pushes a term and an erasure runs, on the
local stack (every service as its own processes behind nginx), in one run.

    .venv/bin/python -m bench.load --parents 200 --seconds 60

Setup: one school, `--parents` students each with a verified parent and a published report,
plus a second school whose term (`--term-students`, ten subjects, marks, grades, targets and
four characteristics each) is pushed during the load. Each parent is a thread on its own
loopback address (127.0.0.x), as parents on their own networks would be to the gateway's
per-client rate limit, reading its child's report list and report in a loop. The same
parents first read for as long with nothing pushed: that phase's latencies are the
baseline of the pushed phase's (issue 27: p99 at most 3x). The push goes at the school's
pace (ingest answers 429 beyond it; the push waits Retry-After). Meanwhile an erasure of a
student is filed and timed; the same erasure on the idle system (before the load) is the
baseline. Stack databases and queues are the run's own, removed after.
"""
from __future__ import annotations

import argparse
import threading
import time

from bench.common import Figure, table
from bench.stack_world import PERIOD, Client, Stack, classes_and_marks, students, wait

GROUP = "load"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


class Readers:
    """One thread a parent, each on its own address, reading its child's report list and
    report in a loop for a phase; each round's latency and any status other than 200."""

    def __init__(self, tokens: dict[str, tuple[str, Client]]):
        self.tokens = tokens

    def read(self, student_id: str, token: str, client: Client, stop: threading.Event,
             latencies: list[float], errors: list[int]) -> None:
        while not stop.is_set():
            started = time.perf_counter()
            status, body = client.call("GET", f"/api/v1/students/{student_id}/reports", token)
            if status == 200 and body["items"]:
                status, _ = client.call("GET", f"/api/v1/reports/{body['items'][0]['id']}",
                                        token)
            latencies.append(time.perf_counter() - started)
            if status != 200:
                errors.append(status)

    def phase(self, seconds: float, meanwhile=None) -> tuple[list[float], list[int], float]:
        """Every parent reading for `seconds` while `meanwhile()` (if given) runs on the
        main thread: (latencies, error statuses, elapsed seconds)."""
        latencies: list[float] = []
        errors: list[int] = []
        stop = threading.Event()
        readers = [threading.Thread(target=self.read, daemon=True, args=(
            sid, token, client, stop, latencies, errors))
            for sid, (token, client) in self.tokens.items()]
        started = time.perf_counter()
        for reader in readers:
            reader.start()
        if meanwhile is not None:
            meanwhile()
        stop.wait(max(0.0, seconds - (time.perf_counter() - started)))
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
        return latencies, errors, time.perf_counter() - started


def parents_reading(stack: Stack, admin: str, system: str,
                    parents: int) -> dict[str, tuple[str, Client]]:
    """`parents` students with a verified parent each and a published report: the parents'
    tokens and connections by student id."""
    sids = [f"S{n}" for n in range(parents)]
    stack.push(system, students(parents, "S", True) + students(2, "X", False)
               + classes_and_marks(sids + ["X0", "X1"]))
    tokens = sign_up(stack, parents)
    wait("every report to publish", lambda: publish(stack, admin) == parents + 2)
    return tokens


def sign_up(stack: Stack, parents: int, at_once: int = 20) -> dict[str, tuple[str, Client]]:
    """The parents of students S0… (pushed with `students(…, with_parents=True)`) activate
    their accounts and verify their links, `at_once` at a time, each from its own address:
    their tokens and connections by student id."""
    tokens: dict[str, tuple[str, Client]] = {}

    def one(n: int) -> None:
        client = stack.client(f"127.0.{1 + n // 250}.{2 + n % 250}")
        token = stack.activate(client, f"ps{n}@bench.example", "a-parent-password-1")

        def links() -> list | None:  # none yet (or a busy moment's 429/503): look again
            status, body = client.call("GET", "/api/v1/links", token)
            return body["items"] if status == 200 else None
        link = wait("the link", links, every=0.2)[0]
        status, _ = client.call("POST", f"/api/v1/links/{link['id']}/verify", token,
                                {"date_of_birth": f"2014-0{1 + n % 9}-1{n % 9}"})
        assert status == 200
        tokens[link["student"]["id"]] = (token, client)
    threads = [threading.Thread(target=one, args=(n,)) for n in range(parents)]
    for batch in range(0, len(threads), at_once):
        for thread in threads[batch:batch + at_once]:
            thread.start()
        for thread in threads[batch:batch + at_once]:
            thread.join()
    assert len(tokens) == parents, "every parent verified"
    return tokens


def publish(stack: Stack, admin: str) -> int:
    """The school publishes PERIOD: how many reports that made (0 when refused)."""
    status, body = stack.http.call("POST", "/api/v1/reports/publish", admin, {
        "period": PERIOD, "title": "Autumn"})
    return int(body["published"]) if status == 202 else 0


def figures(quick: bool = False, parents: int | None = None, seconds: float | None = None,
            term_students: int | None = None, web_workers: int = 2) -> list[Figure]:
    parents = parents or (40 if quick else 200)
    seconds = seconds or (20 if quick else 60)
    term_students = term_students or (100 if quick else 300)
    stack = Stack(web_workers=web_workers, label="load")
    try:
        stack.up()
        _, admin, system = stack.school("Reading School")
        readers = Readers(parents_reading(stack, admin, system, parents))
        idle_erasure = stack.erase(admin, "X0")
        idle = readers.phase(seconds)  # the same read load, nothing pushed: the baseline
        _, _, other_system = stack.school("Pushing School")
        pushed: dict[str, float] = {}
        erased: list[float] = []

        def push_term() -> None:
            from bench.ingest import term
            events = term(term_students)
            started = time.perf_counter()
            stack.push(other_system, events, stack.client("127.0.0.254"))  # its own connection
            pushed["records"], pushed["seconds"] = len(events), time.perf_counter() - started
        pusher = threading.Thread(target=push_term)

        def meanwhile() -> None:
            pusher.start()
            time.sleep(min(5.0, seconds / 4))  # the readers and the push under way
            erased.append(stack.erase(admin, "X1"))
        loaded = readers.phase(seconds, meanwhile)
        pusher.join()
    finally:
        stack.cleanup()
    return results(parents, web_workers, term_students, idle, loaded, pushed,
                   (erased[0], idle_erasure))


def results(parents: int, web_workers: int, term_students: int, idle, loaded,
            pushed: dict[str, float], erasures: tuple[float, float]) -> list[Figure]:
    (idle_latencies, idle_errors, idle_elapsed), (latencies, errors, elapsed) = idle, loaded
    if errors or idle_errors:
        print(f"load: error statuses {sorted(set(errors + idle_errors))}")
    who = f"{parents} parents, {web_workers} web workers a service"
    baseline = "the same reads, nothing pushed"
    return [
        Figure(GROUP, f"report reads (list + report) while a {term_students}-student term "
               f"is pushed ({who})", len(latencies) / elapsed, "reads/s", baseline,
               len(idle_latencies) / idle_elapsed),
        Figure(GROUP, "read p50 under that load", pct(latencies, 0.5), "ms", baseline,
               pct(idle_latencies, 0.5)),
        Figure(GROUP, "read p99 under that load", pct(latencies, 0.99), "ms", baseline,
               pct(idle_latencies, 0.99), target=3, higher_is_better=False),
        Figure(GROUP, "reads answered other than 200 (both phases)",
               len(errors) + len(idle_errors), "errors", target=0, higher_is_better=False),
        Figure(GROUP, "term pushed meanwhile (at the school's pace)", pushed.get("records", 0)
               / max(pushed.get("seconds", 1), 1e-9), "records/s"),
        Figure(GROUP, "erasure across every service under that load", erasures[0], "s",
               "the same erasure, idle stack", erasures[1], target=5,
               higher_is_better=False)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--parents", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--term-students", type=int, default=300)
    parser.add_argument("--web-workers", type=int, default=2)
    args = parser.parse_args()
    print(table(figures(parents=args.parents, seconds=args.seconds,
                        term_students=args.term_students, web_workers=args.web_workers)))


if __name__ == "__main__":
    main()

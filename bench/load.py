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
import threading
import time

from bench.common import Figure, table
from bench.stack_world import PERIOD, Client, Stack, classes_and_marks, students, wait

GROUP = "load"


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * p))] * 1000 if ordered else 0.0


def figures(quick: bool = False, parents: int | None = None, seconds: float | None = None,
            term_students: int | None = None, web_workers: int = 2) -> list[Figure]:
    parents = parents or (40 if quick else 200)
    seconds = seconds or (20 if quick else 60)
    term_students = term_students or (100 if quick else 300)
    stack = Stack(web_workers=web_workers, label="load")
    try:
        stack.up()
        _, admin, system = stack.school("Reading School")
        sids = [f"S{n}" for n in range(parents)]
        stack.push(system, students(parents, "S", True) + students(2, "X", False)
                   + classes_and_marks(sids + ["X0", "X1"]))
        tokens: dict[str, tuple[str, Client]] = {}

        def sign_up(n: int) -> None:
            client = stack.client(f"127.0.{1 + n // 250}.{2 + n % 250}")
            token = stack.activate(client, f"ps{n}@bench.example", "a-parent-password-1")
            link = wait("the link", lambda: client.call("GET", "/api/v1/links", token)[1]["items"],
                        every=0.2)[0]
            status, _ = client.call("POST", f"/api/v1/links/{link['id']}/verify", token,
                                    {"date_of_birth": f"2014-0{1 + n % 9}-1{n % 9}"})
            assert status == 200
            tokens[link["student"]["id"]] = (token, client)
        threads = [threading.Thread(target=sign_up, args=(n,)) for n in range(parents)]
        for batch in range(0, len(threads), 20):
            for thread in threads[batch:batch + 20]:
                thread.start()
            for thread in threads[batch:batch + 20]:
                thread.join()
        assert len(tokens) == parents, "every parent verified"

        def published():
            status, body = stack.http.call("POST", "/api/v1/reports/publish", admin, {
                "period": PERIOD, "title": "Autumn"})
            return status == 202 and body["published"] == parents + 2
        wait("every report to publish", published)
        idle_erasure = stack.erase(admin, "X0")

        _, _, other_system = stack.school("Pushing School")
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
            from bench.ingest import term
            events = term(term_students)
            started = time.perf_counter()
            stack.push(other_system, events, stack.client("127.0.0.254"))  # its own connection
            pushed["records"], pushed["seconds"] = len(events), time.perf_counter() - started
        started = time.perf_counter()
        for reader in readers:
            reader.start()
        pusher = threading.Thread(target=push_term)
        pusher.start()
        time.sleep(min(5.0, seconds / 4))  # the readers and the push under way
        loaded_erasure = stack.erase(admin, "X1")
        remaining = seconds - (time.perf_counter() - started)
        if remaining > 0:
            stop.wait(remaining)
        stop.set()
        for reader in readers:
            reader.join(timeout=60)
        pusher.join()
        elapsed = time.perf_counter() - started
    finally:
        stack.cleanup()

    if errors:
        print(f"load: error statuses {sorted(set(errors))}")
    who = f"{parents} parents, {web_workers} web workers a service"
    return [
        Figure(GROUP, f"report reads (list + report) while a {term_students}-student term "
               f"is pushed ({who})", len(latencies) / elapsed, "reads/s"),
        Figure(GROUP, "read p50 under that load", pct(latencies, 0.5), "ms"),
        Figure(GROUP, "read p99 under that load", pct(latencies, 0.99), "ms"),
        Figure(GROUP, "reads answered other than 200", len(errors), "errors", target=0,
               higher_is_better=False),
        Figure(GROUP, "term pushed meanwhile", pushed.get("records", 0)
               / max(pushed.get("seconds", 1), 1e-9), "records/s"),
        Figure(GROUP, "erasure across every service under that load", loaded_erasure, "s",
               "the same erasure, idle stack", idle_erasure, target=5,
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

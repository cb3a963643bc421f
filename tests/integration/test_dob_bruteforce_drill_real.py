"""Drill: a scripted attacker holding 50 parent accounts links to no child that is not
theirs. Real identity, ingest and linking on real PostgreSQL and RabbitMQ.

The worst case: the school recorded a wrong contact. Each attacker account is a recorded
contact (receives_reports true) of a real family's child, so each holds a genuine pending
link to a child that is not theirs. The attacker does not know the dates of birth: it
scripts the commonest birth dates of the year group, then keeps going, and tries every
link id it can enumerate (its other accounts' links) or guess (random UUIDs, and, as if by
luck, the real parents' link ids) with any date, the right one included.
"""
from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest
import sqlalchemy as sa

from services.linking.models import links
from tests.support import wait_for
from tests.system import RealSystem, guardian, student

pytestmark = pytest.mark.integration

FAMILIES = 50
# The attacker's script: the commonest birth dates of a year group (late September),
# four or more per link, tried in this order from a different start for each link.
COMMON = [dt.date(2014, 9, d) for d in (24, 25, 23, 26, 22, 27, 21, 28, 30, 29)]
WILD = dt.date(2015, 1, 1)  # one more guess, for the links guessed at all at once
BURSTS = range(40, FAMILIES)  # these links get their guesses all at once, concurrently


def born(i: int) -> dt.date:
    """Child i's date of birth: none of the attacker's guesses, but for even i just
    outside the common dates (a day to a few days from the guesses: near misses), for odd
    i months away, so the answers to near and far guesses can be compared."""
    if i % 2:
        return dt.date(2015, 3, 1 + i % 28)
    return dt.date(2014, 9, 20) if i % 4 == 0 else dt.date(2014, 10, 1)


def _guesses(i: int) -> list[dt.date]:
    start = i % len(COMMON)
    return (COMMON[start:] + COMMON[:start])[:5]


@pytest.fixture
def system(broker_settings, tmp_path, new_database):
    real = RealSystem(broker_settings, tmp_path, new_database,
                      ["identity", "ingest", "linking"])
    yield real
    real.close()


def _own_links(system, token) -> list[dict]:
    return system.call("linking", "get", "/api/v1/links", token).json["items"]


def _verify(system, token, link_id, date):
    response = system.call("linking", "post", f"/api/v1/links/{link_id}/verify", token,
                           {"date_of_birth": str(date)})
    return response.status_code, response.json


def _rows(system) -> dict[str, sa.Row]:
    with system.runtimes["linking"].engine.connect() as conn:
        return {r.id: r for r in conn.execute(sa.select(links))}


def test_a_scripted_attacker_with_50_parent_accounts_links_to_no_child_not_theirs(system):
    school, system_token = system.school()
    for i in range(FAMILIES):
        assert born(i) not in (*_guesses(i), WILD)
    events = [student(f"S{i}", born(i).isoformat(), given_name=f"Child{i}")
              for i in range(FAMILIES)]
    events += [guardian(f"P{i}", f"parent{i}@example.org", {f"S{i}": True})
               for i in range(FAMILIES)]
    # The school's mistake, fifty times: the attacker's addresses as contacts of the
    # children, with reports.
    events += [guardian(f"A{i}", f"attacker{i}@example.net", {f"S{i}": True})
               for i in range(FAMILIES)]
    system.push(system_token, events)

    parents = [system.activate(f"parent{i}@example.org") for i in range(FAMILIES)]
    attackers = [system.activate(f"attacker{i}@example.net") for i in range(FAMILIES)]

    def one_named_link(token):
        items = _own_links(system, token)
        return items[0] if len(items) == 1 and items[0]["student"]["name"] else None
    parent_links = [wait_for(lambda t=t: one_named_link(t), timeout=60,
                             message="a parent's link") for t in parents]
    attacker_links = [wait_for(lambda t=t: one_named_link(t), timeout=60,
                               message="an attacker's link") for t in attackers]
    for i in range(FAMILIES):  # each holds a pending link to child i (the school's error)
        assert parent_links[i]["student"]["name"].startswith(f"Child{i} ")
        assert attacker_links[i]["student"]["id"] == parent_links[i]["student"]["id"]
        assert attacker_links[i]["status"] == "pending"
    attacker_ids = [link["id"] for link in attacker_links]
    parent_ids = [link["id"] for link in parent_links]

    # Half of the real families verified before the attack.
    for i in range(0, FAMILIES, 2):
        assert _verify(system, parents[i], parent_ids[i], born(i)) == (
            200, {"status": "verified"})
    before = _rows(system)

    # 1. Every link id the attacker can enumerate or guess, with any date, the right one
    #    included: its other accounts' links, random UUIDs, and (by luck) the parents'.
    #    None is found, none is counted, and "not yours" answers as "no such link".
    not_found = set()
    for j, token in enumerate(attackers):
        k = (j + 1) % FAMILIES
        for link_id, date in ((attacker_ids[k], born(k)), (attacker_ids[k], COMMON[0]),
                              (parent_ids[j], born(j)), (parent_ids[k], born(k)),
                              (str(uuid.uuid4()), born(j))):
            status, body = _verify(system, token, link_id, date)
            assert status == 404, (link_id, status, body)
            not_found.add(repr(body))
    assert len(not_found) == 1  # an existing link of someone else == no link at all
    assert _rows(system) == before  # nothing counted, nothing changed
    for i, token in enumerate(attackers):  # and still only their own link in sight
        assert [link["id"] for link in _own_links(system, token)] == [attacker_ids[i]]

    # 2. The scripted guesses on each account's own link: three common dates, then the
    #    right one (as if it got lucky on the fourth), then another; concurrently across
    #    accounts, and for some links all at once.
    answers: dict[int, list] = {}
    bursts: dict[int, list] = {}

    def script(i: int) -> None:
        guesses = [*_guesses(i)[:3], born(i), _guesses(i)[3], _guesses(i)[4]]
        answers[i] = [_verify(system, attackers[i], attacker_ids[i], d) for d in guesses]

    def burst(i: int) -> None:
        barrier = threading.Barrier(6)
        out = []

        def guess(date):
            barrier.wait(timeout=30)
            out.append(_verify(system, attackers[i], attacker_ids[i], date))
        threads = [threading.Thread(target=guess, args=(d,))
                   for d in (*_guesses(i), WILD)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        out.append(_verify(system, attackers[i], attacker_ids[i], born(i)))  # then right
        bursts[i] = out

    with ThreadPoolExecutor(max_workers=6) as pool:
        done = [pool.submit(script, i) for i in range(FAMILIES) if i not in BURSTS]
        done += [pool.submit(burst, i) for i in BURSTS]
        for future in done:
            future.result()

    # Locked after exactly three wrong answers; 423 afterwards, even with the right date.
    by_attempt = defaultdict(set)
    for i, replies in answers.items():
        assert [s for s, _ in replies] == [422, 422, 422, 423, 423, 423], (i, replies)
        assert [b["error"]["attempts_left"] for _, b in replies[:3]] == [2, 1, 0]
        assert {b["error"]["code"] for _, b in replies[3:]} == {"link_locked"}
        for attempt, reply in enumerate(replies):
            by_attempt[attempt].add(repr(reply))
    for i, replies in bursts.items():
        assert sorted(s for s, _ in replies[:6]) == [422] * 3 + [423] * 3, (i, replies)
        assert sorted(b["error"].get("attempts_left", -1) for _, b in replies[:6]
                      ) == [-1, -1, -1, 0, 1, 2]
        assert replies[6][0] == 423, (i, replies)
    # Nothing tells a near miss (a day off, even links) from a far one (odd links): the
    # answer to the n-th guess is the same, byte for byte, on every link.
    assert all(len(replies) == 1 for replies in by_attempt.values()), dict(by_attempt)
    assert "not the date of birth" in next(iter(by_attempt[0]))

    # Nor can a parent's login unlock (or otherwise reset) a link: that is the school's.
    for i in (0, 1, 41):
        for action in ("unlock", "revoke"):
            response = system.call("linking", "post",
                                   f"/api/v1/links/{attacker_ids[i]}/{action}", attackers[i])
            assert response.status_code == 404, (action, response.json)  # not for it

    after = _rows(system)
    for i, link_id in enumerate(attacker_ids):
        row = after[link_id]
        assert (row.status, row.failed_attempts) == ("locked", 3), (i, row)
    # The real families' links: untouched by all of it.
    for i, link_id in enumerate(parent_ids):
        assert after[link_id] == before[link_id]
        assert after[link_id].status == ("verified" if i % 2 == 0 else "pending")
    # No attacker link was ever verified: linking published no ParentVerified for any,
    # and exactly one LinkLocked each (waited for: events follow the state they tell).
    for link_id in attacker_ids:
        system.tap.wait("LinkLocked", lambda d, link=link_id: d["link_id"] == link)
    seen = system.tap.seen
    assert not [e for e in seen if e["type"] == "ParentVerified"
                and e["data"]["link_id"] in set(attacker_ids)]
    locked = [e["data"]["link_id"] for e in seen if e["type"] == "LinkLocked"]
    assert sorted(locked) == sorted(attacker_ids)
    for i, token in enumerate(attackers):
        assert [(x["id"], x["status"]) for x in _own_links(system, token)] == [
            (attacker_ids[i], "locked")]

    # The other half of the real parents still verify, first time, with the real date.
    for i in range(1, FAMILIES, 2):
        assert _verify(system, parents[i], parent_ids[i], born(i)) == (
            200, {"status": "verified"})
    final = _rows(system)
    assert all(final[link_id].status == "verified" for link_id in parent_ids)
    assert all(final[link_id].status == "locked" for link_id in attacker_ids)

"""The demo school's data (shared/demo.py): every event passes ingest's validation, and the
invitation link is read from the newest mail to an address."""
import os
from dataclasses import replace

from services.ingest.service import validate_event
from services.notifications import templates
from services.notifications.mailer import Mailer, build_message
from shared import demo
from shared.config import Settings


def test_every_demo_event_is_valid_and_the_people_are_made_up():
    events = demo.roster_events() + demo.results_events()
    refused = [(i, r) for i, e in enumerate(events) if isinstance(r := validate_event(e), str)]
    assert not refused
    emails = [e["data"]["email"] for e in events if "email" in e.get("data", {})]
    assert emails and all(address.endswith(".example") for address in emails)
    periods = {e["data"]["period"] for e in events if "period" in e["data"]}
    assert periods == set(demo.PERIODS)
    kinds = {e["data"]["kind"] for e in events if e["type"] == "attainment.recorded"}
    assert kinds == {"mark", "grade", "target"}


def test_latest_invitation_link_takes_the_newest_mail_to_that_address(tmp_path):
    settings = replace(Settings.from_env({}), data_dir=tmp_path)
    mailer = Mailer(settings)
    assert demo.latest_invitation_link(tmp_path / "mail", "a@x.example") is None
    for n, (to, token) in enumerate([("a@x.example", "first/+="), ("b@x.example", "other"),
                                     ("a@x.example", "second-one")]):
        message = templates.invitation("http://127.0.0.1:9", "Someone", token, "parent")
        mailer.send(build_message(settings, to, message.subject, message.text, message.html,
                                  f"m{n}"))
        os.utime(tmp_path / "mail" / f"m{n}.eml", ns=((n + 1) * 10**9,) * 2)
    link = demo.latest_invitation_link(tmp_path / "mail", "A@x.example")
    assert link.startswith("http://127.0.0.1:9/activate?token=")
    assert demo.token_of(link) == "second-one"
    os.utime(tmp_path / "mail" / "m2.eml", ns=(0, 0))
    assert demo.token_of(demo.latest_invitation_link(tmp_path / "mail", "a@x.example")) \
        == "first/+="

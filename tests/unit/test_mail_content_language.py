"""Issue 29: each email says its language in a Content-Language header: "cy" or "en" for
a person whose choice is known, "cy, en" (the order its parts are in) for a bilingual one."""
from __future__ import annotations

import email
from email import policy
from types import SimpleNamespace

from services.notifications import sending, templates
from services.notifications.mailer import build_message


def _sent(languages: list[str]):
    mail = templates.password_reset("https://pp.example", "Ann", "tok",
                                    languages=languages)
    row = SimpleNamespace(attachment=None, to_address="ann@example.org",
                          subject=mail.subject, body_text=mail.text, body_html=mail.html,
                          id="d1")
    return email.message_from_bytes(bytes(sending._message(SimpleNamespace(
        settings=SimpleNamespace(mail_from="pp@example.org")), row)), policy=policy.default)


def test_a_mail_in_one_language_says_which():
    assert _sent(["cy"])["Content-Language"] == "cy"
    assert _sent(["en"])["Content-Language"] == "en"


def test_a_bilingual_mail_says_both_in_its_order():
    assert _sent(["cy", "en"])["Content-Language"] == "cy, en"
    assert _sent(["en", "cy"])["Content-Language"] == "en, cy"


def test_a_mail_whose_language_is_not_known_has_no_header():
    assert templates.content_language(None) is None
    message = email.message_from_bytes(bytes(build_message(
        SimpleNamespace(mail_from="pp@example.org"), "a@example.org", "Subject", "text",
        "<p>html</p>", "d2")), policy=policy.default)
    assert "Content-Language" not in message

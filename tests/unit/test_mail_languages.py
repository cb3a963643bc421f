"""Every email in the person's language (issue 29): each template string has its Welsh,
no words of a template are written outside the catalogue, a mail to a person whose choice
is not known is bilingual in the school's order, dates by Babel's Welsh rules."""
from __future__ import annotations

import ast
import datetime as dt
import re
import uuid
from pathlib import Path

from services.notifications import languages, templates
from shared.contracts import typed as ev
from shared.i18n import bilingual_order, missing
from tests.unit.test_notifications_unit import SCHOOL as SCHOOL_ID
from tests.unit.test_notifications_unit import notifications  # noqa: F401

SCHOOL = templates.School("Ysgol y Dderwen", "swyddfa@dderwen.example", "01234 567890", "cy")


def _marked() -> list[str]:
    """Every message templates.py writes through the catalogue: `_(t, "…")`, `N_("…")`."""
    tree = ast.parse(Path(templates.__file__).read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
            continue
        arg = {"_": 1, "N_": 0}.get(node.func.id)
        if arg is not None and len(node.args) > arg:
            value = node.args[arg]
            assert isinstance(value, ast.Constant) and isinstance(value.value, str), \
                f"line {node.lineno}: a message for the catalogue must be written out"
            found.append(value.value)
    return found


def test_every_email_string_has_its_welsh():
    marked = _marked()
    assert len(marked) > 80
    assert missing(templates.LOCALES, marked) == []


def _every_mail(languages):
    base, day = "https://pp.example", dt.date(2026, 12, 4)
    yield templates.invitation(base, "Siân", "tok", "parent", False, SCHOOL,
                               languages=languages)
    for role in ("student", "school_admin", "other"):
        yield templates.invitation(base, "Siân", "tok", role, True, templates.School(),
                                   languages=languages)
    yield templates.password_reset(base, "Siân", "tok", languages=languages)
    for kind, factor, by in (("reset", "totp", "school_admin"), ("removed", "passkey", None),
                             ("replaced", "recovery_codes", None), ("replaced", "totp", None),
                             ("added", "passkey", None), ("reset", "totp", None)):
        yield templates.second_factor_changed(base, "Siân", kind, factor, by,
                                              languages=languages)
    for school in (SCHOOL, templates.School()):
        yield templates.report_published(base, "Siân", "Tymor yr hydref", "2026", "r1",
                                         "Alex", school, languages=languages)
        yield templates.report_updated(base, "Siân", "Tymor yr hydref", "2026", "r1", None,
                                       school, languages=languages)
        yield templates.link_locked(base, "Siân", "s1", "Alex", school, languages=languages)
        yield templates.own_erasure_complete("Siân", school, languages=languages)
        yield templates.offboarding_certificate(school, languages=languages)
        for kind in ("access", "portability", "rectification", "erasure", "restriction",
                     "lift", "objection", "other"):
            for outcome, reason in (("completed", None), ("refused", None),
                                    ("refused", "Rheswm")):
                yield templates.request_closed("Siân", kind, outcome, reason, school,
                                               languages=languages)
    yield templates.privacy_notice(base, "Siân", "v3", day, languages=languages)
    for school, who in ((SCHOOL, "Alex Jones"), (templates.School(), None)):
        yield templates.export_released(base, "Siân", "r1", who, day, school,
                                        languages=languages)


def _sentences(message: templates.Message) -> set[str]:
    return {line for line in message.text.splitlines() if line.strip()}


def test_no_english_words_in_a_welsh_mail():
    """A sentence written outside the catalogue would read the same in both languages:
    every Welsh mail's subject and every one of its lines differ from the English's
    (names and addresses are values, inside translated sentences)."""
    for english, welsh in zip(_every_mail(["en"]), _every_mail(["cy"]), strict=True):
        assert welsh.subject != english.subject
        same = _sentences(welsh) & _sentences(english)
        assert not same, same
        assert welsh.html.startswith('<!doctype html><html lang="cy">')
        assert english.html.startswith('<!doctype html><html lang="en">')


def test_a_mail_whose_reader_chose_no_language_is_bilingual_in_the_schools_order():
    languages = bilingual_order(None, "cy")
    assert languages == ["cy", "en"]
    mail = templates.report_published("https://pp.example", "Siân", "Tymor yr hydref", "2026",
                                      "r1", "Alex", SCHOOL, languages=languages)
    assert mail.subject == ("Adroddiad newydd: Alex, Ysgol y Dderwen / "
                            "A new report for Alex at Ysgol y Dderwen")
    assert mail.text.index("Helo Siân,") < mail.text.index("Hello Siân,")
    assert re.fullmatch(r'<!doctype html><html lang="cy"><body><div lang="cy">.*Helo Siân.*'
                        r'</div><hr><div lang="en">.*Hello Siân.*</div></body></html>',
                        mail.html, re.DOTALL)
    english_first = templates.report_published(
        "https://pp.example", "Siân", "T", "P", "r1", "Alex", SCHOOL,
        languages=bilingual_order(None, "en"))
    assert english_first.subject.startswith("A new report for Alex")
    assert english_first.html.startswith('<!doctype html><html lang="en"><body><div lang="en">')
    assert english_first.text.index("Hello") < english_first.text.index("Helo")


def test_a_chosen_language_alone():
    for chosen in ("cy", "en"):
        mail = templates.password_reset("https://pp.example", "Siân", "tok",
                                        languages=bilingual_order(chosen, "cy"))
        assert ("Helo" in mail.text) is (chosen == "cy")
        assert ("Hello" in mail.text) is (chosen == "en")
        assert " / " not in mail.subject


def test_dates_by_welsh_rules():
    mail = templates.privacy_notice("https://pp.example", "Siân", "v3", dt.date(2027, 7, 1),
                                    languages=["cy"])
    assert "i rym ar 1 Gorffennaf 2027." in mail.text
    english = templates.privacy_notice("https://pp.example", "Siân", "v3",
                                       dt.date(2027, 7, 1))
    assert "takes effect on 1 July 2027." in english.text


def test_an_offboarding_forgets_the_languages_of_the_schools_logins_only(notifications):  # noqa: F811,E501
    """A login's language is personal data: a school's offboarding takes it with the
    school's last record of the login; a login another school still holds keeps it."""
    rt, _, _, service = notifications
    other = str(uuid.uuid4())
    with rt.context.sessions() as session, session.begin():
        for guardian_id, account, school in (("g1", "a-only-here", SCHOOL_ID),
                                             ("g2", "a-both", SCHOOL_ID),
                                             ("g3", "a-both", other)):
            service.record_guardians(session, [(school, ev.GuardianRecorded(**{
                "guardian_id": guardian_id, "given_name": "Pat", "family_name": "Parent",
                "email": f"{guardian_id}@example.org", "record_version": 1}))])
            service.attach_account(session, ev.AccountActivated(
                account_id=account, role="parent", guardian_ids=[guardian_id]), school)
        languages.record(session, "a-only-here", "cy")
        languages.record(session, "a-both", "cy")
        counts = rt.context.participant.offboard(session, SCHOOL_ID)
    assert counts["languages"] == 1
    with rt.context.sessions() as session:
        assert languages.chosen(session, ["a-only-here", "a-both"]) == {"a-both": "cy"}

"""Every message the service sends: a subject, a plain-text part and an HTML part, in the
person's language (issue 29).

Report mails carry the title and a link, never a grade or a characteristic. Every word
comes from the catalogue (`locales/cy.po`; English is the source, the message id): each
template is written with `t` (a shared.i18n.Translator), `_(t, "…", **values)` for a
sentence and `N_("…")` for a word kept in a table and translated where it is used.
`languages` (keyword, default English) names the languages a mail is written in: one, the
person's choice; two (their choice not known), both in one mail, the first as the school
writes first (shared.i18n.bilingual_order), each part marked with its `lang`.
"""
from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape
from pathlib import Path
from typing import Any
from urllib.parse import quote

from shared.i18n import Translator

LOCALES = Path(__file__).with_name("locales")
BILINGUAL_SUBJECT = " / "   # between the two languages' subjects
BILINGUAL_TEXT = "\n\n* * *\n\n"  # between the two languages' plain-text parts
DATE = "d MMMM y"  # "4 December 2026", "4 Rhagfyr 2026" (Babel: the month in the language)


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _(t: Translator, message: str, **values: Any) -> str:
    """`message` in `t`'s language, its placeholders filled."""
    return t.gettext(message).format(**values)


def N_(message: str) -> str:  # noqa: N802 (gettext's name for a marked, untranslated word)
    """A word marked for the catalogue, translated where it is used (`t.gettext`)."""
    return message


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]


def _html(paragraphs: list[str], link: tuple[str, str] | None = None) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if link:
        body += f'<p><a href="{escape(link[1], quote=True)}">{escape(link[0])}</a></p>'
    return body


def _message(subject: str, paragraphs: list[str], link: tuple[str, str] | None = None
             ) -> Message:
    """One language's part: the HTML is its body's content (in_languages wraps it)."""
    text = "\n\n".join(paragraphs + ([f"{link[0]}: {link[1]}"] if link else []))
    return Message(subject, text + "\n", _html(paragraphs, link))


def _fits(subject: str) -> str:
    return subject if len(subject) <= 200 else subject[:199] + "…"  # fits the log


def in_languages(languages: Sequence[str], write: Callable[[Translator], Message]) -> Message:
    """The mail `write` gives, in each of `languages` (the first first), in one message:
    subjects joined, text parts one after the other, each HTML part in its own `lang`."""
    parts = [(language, write(Translator(LOCALES, language)))
             for language in dict.fromkeys(languages or ("en",))]
    subjects = list(dict.fromkeys(part.subject for _, part in parts))
    if len(parts) == 1:
        language, part = parts[0]
        body = part.html
    else:
        body = "<hr>".join(f'<div lang="{language}">{part.html}</div>'
                           for language, part in parts)
    return Message(_fits(BILINGUAL_SUBJECT.join(subjects)),
                   BILINGUAL_TEXT.join(part.text.rstrip("\n") for _, part in parts) + "\n",
                   f'<!doctype html><html lang="{parts[0][0]}"><body>{body}</body></html>')


_PART_LANGUAGE = re.compile(r'<div lang="([a-z]+)">')
_PAGE_LANGUAGE = re.compile(r'<html lang="([a-z]+)">')


def content_language(html: str | None) -> str | None:
    """A mail's Content-Language, read from the HTML in_languages wrote: "cy" or "en" for
    one language, "cy, en" for a bilingual one (its parts' order); None when unknown."""
    parts = list(dict.fromkeys(_PART_LANGUAGE.findall(html or "")))
    if parts:
        return ", ".join(parts)
    page = _PAGE_LANGUAGE.search(html or "")
    return page.group(1) if page else None


def localised(write: Callable[..., Message]) -> Callable[..., Message]:
    """A template written with a translator as its first argument, called without it and
    with `languages=[…]` (English when not given)."""
    @functools.wraps(write)
    def in_their_languages(*args: Any, languages: Sequence[str] = ("en",),
                           **kwargs: Any) -> Message:
        return in_languages(languages, lambda t: write(t, *args, **kwargs))
    return in_their_languages


def _hello(t: Translator, name: str) -> str:
    return _(t, "Hello {name},", name=name) if name else _(t, "Hello,")


@dataclass(frozen=True)
class School:
    """The school a mail comes from, how to reach its office, and the language it writes
    to families in first (a Welsh-medium school: "cy")."""
    name: str | None = None
    office_email: str | None = None
    office_phone: str | None = None
    default_language: str = "en"

    def called(self, t: Translator) -> str:
        return self.name or _(t, "your school")

    def named(self, t: Translator) -> str:
        """The school as a sentence's subject ("Demo Academy has…")."""
        return self.name or _(t, "The school")

    def contact(self, t: Translator) -> str:
        """"Contact the school" with the office's details when the school gave them."""
        ways = [w for w in (self.office_email, self.office_phone) if w]
        how = f" ({_(t, ' or ').join(ways)})" if ways else ""
        if self.name:
            return _(t, "If you have a question, contact {school}{how}.", school=self.name,
                     how=how)
        return _(t, "If you have a question, contact your school{how}.", how=how)


# Each role in its own words (issue 24): what the person is invited as, and what the
# account is for them. A student's invitation never speaks of "your child".
_ROLES = {
    "parent": (N_("a parent or carer"),
               N_("With it you can read the reports {school} publishes about your child, "
                  "once you have confirmed your child's date of birth in the app.")),
    "student": (N_("a student"),
                N_("With it you can read your own reports from {school}.")),
    "school_admin": (N_("a school administrator"),
                     N_("With it you look after {school}'s place in Pupil Progress: "
                        "parents' links, reports and requests about personal data. Signing "
                        "in also asks for a code from an authenticator app.")),
}
_OTHER_ROLE = (N_("a member"), N_("With it you can sign in to Pupil Progress."))
_INVITERS = {"parent": N_("Your child's school"), "student": N_("Your school")}


@localised
def invitation(t: Translator, base: str, name: str, token: str, role: str,
               existing_login: bool = False, school: School = School()) -> Message:
    link = f"{base}/activate?token={quote(token)}"
    # One subject for both kinds: a school's access export shows its mails' subjects, and
    # must not tell whether the email already had a login (only the body, which only the
    # person reads, differs).
    subject = _(t, "Your Pupil Progress invitation from {school}", school=school.name) \
        if school.name else _(t, "Your Pupil Progress invitation")
    what, use = (t.gettext(words) for words in _ROLES.get(role, _OTHER_ROLE))
    inviter = school.name or t.gettext(_INVITERS.get(role, N_("A school")))
    use = use.format(school=school.name or (_(t, "the school") if role != "school_admin"
                                            else _(t, "your school")))
    if existing_login:
        # The person has a login (with this school or another, in some role): accepting
        # never sets a new password, so they sign in with the one they have.
        return _message(subject, [
            _hello(t, name), _(t, "{inviter} has invited you to Pupil Progress as {what}.",
                               inviter=inviter, what=what), use,
            _(t, "You already have a Pupil Progress login with this email address. Open the "
                 "link and enter the password you already use to accept; nothing changes "
                 "until you do. The link works once.")],
            (_(t, "Accept the invitation"), link))
    return _message(subject, [
        _hello(t, name), _(t, "{inviter} has set up a Pupil Progress account for you as "
                              "{what}.", inviter=inviter, what=what),
        use, _(t, "Choose a password to activate it. The link works once.")],
        (_(t, "Activate your account"), link))


@localised
def password_reset(t: Translator, base: str, name: str, token: str) -> Message:
    return _message(_(t, "Reset your Pupil Progress password"), [
        _hello(t, name), _(t, "Someone asked to reset the password of your account. If it "
                              "was you, choose a new one; the link works once and expires "
                              "within the hour. If not, you can ignore this email.")],
        (_(t, "Choose a new password"), f"{base}/reset-password?token={quote(token)}"))


_FACTORS = {"totp": N_("an authenticator app"), "recovery_codes": N_("a set of recovery codes"),
            "passkey": N_("a passkey")}
# Who reset it, as the sentence "… was reset by {by}" has it (Welsh: after "gan").
_RESET_BY = {"school_admin": N_("another administrator of your school"),
             "operator": N_("a Pupil Progress operator")}


def _factor_change(t: Translator, kind: str, factor: str, by_role: str | None
                   ) -> tuple[str, str]:
    """The subject and the sentence saying what changed."""
    what = t.gettext(_FACTORS.get(factor, N_("a second factor")))
    if kind == "reset":
        by = t.gettext(_RESET_BY.get(by_role or "", N_("someone")))
        return (_(t, "Your Pupil Progress second factor was reset"),
                _(t, "The second factor of your Pupil Progress account was reset by {by}: "
                     "your authenticator app and recovery codes no longer work, and you "
                     "were signed out. When you next sign in you will set up an "
                     "authenticator app again.", by=by))
    if kind == "removed":
        return (_(t, "A sign-in method was removed from your Pupil Progress account"),
                _capital(_(t, "{what} was removed from your Pupil Progress account.",
                           what=what)))
    if kind == "replaced" and factor == "recovery_codes":
        return (_(t, "New recovery codes for your Pupil Progress account"),
                _(t, "New recovery codes were made for your Pupil Progress account; the "
                     "earlier ones no longer work."))
    if kind == "replaced":
        return (_(t, "A new sign-in method on your Pupil Progress account"),
                _capital(_(t, "{what} was set up on your Pupil Progress account in place of "
                              "the earlier one, which no longer works.", what=what)))
    return (_(t, "A new sign-in method on your Pupil Progress account"),
            _capital(_(t, "{what} was added to your Pupil Progress account.", what=what)))


@localised
def second_factor_changed(t: Translator, base: str, name: str, kind: str, factor: str,
                          by_role: str | None = None) -> Message:
    """A change to how the person signs in (issue 25): what changed, never a code, key or
    passkey; and what to do if it was not them."""
    subject, said = _factor_change(t, kind, factor, by_role)
    return _message(subject, [
        _hello(t, name), said,
        _(t, "If this was you, there is nothing to do. If it was not, change your password "
             "now and tell your school's administrator or Pupil Progress at once: someone "
             "else may be able to sign in as you.")], (_(t, "Sign in"), f"{base}/sign-in"))


def _who(t: Translator, child: str | None) -> str:
    return child or _(t, "your child")


@localised
def report_published(t: Translator, base: str, name: str, title: str, period: str,
                     report_id: str, child: str | None = None,
                     school: School = School()) -> Message:
    """Names the child and the school: a parent of two, or at two schools, knows which."""
    who = _who(t, child)
    subject = _(t, "A new report for {who} at {school}", who=who, school=school.name) \
        if school.name else _(t, "A new report for {who}", who=who)
    return _message(subject, [
        _hello(t, name), _(t, "{school} has published a new report for {who}: {title} "
                              "({period}). Sign in to read it.", school=school.named(t),
                           who=who, title=title, period=period), school.contact(t)],
        (_(t, "Read the report"), f"{base}/reports/{quote(report_id)}"))


@localised
def report_updated(t: Translator, base: str, name: str, title: str, period: str,
                   report_id: str, child: str | None = None,
                   school: School = School()) -> Message:
    """A report the parent was told of was corrected (issue 24): the link opens the new
    version; the old one is gone."""
    who = _who(t, child)
    subject = _(t, "An updated report for {who} at {school}", who=who, school=school.name) \
        if school.name else _(t, "An updated report for {who}", who=who)
    return _message(subject, [
        _hello(t, name), _(t, "{school} has corrected the report for {who}: {title} "
                              "({period}). The updated report replaces the one we told you "
                              "about; sign in to read it.", school=school.named(t), who=who,
                           title=title, period=period), school.contact(t)],
        (_(t, "Read the updated report"), f"{base}/reports/{quote(report_id)}"))


@localised
def link_locked(t: Translator, base: str, name: str, student_id: str,
                child: str | None = None, school: School = School()) -> Message:
    who = child or _(t, "a child")
    if school.name:
        subject = _(t, "A parent's link to {who} at {school} was locked", who=who,
                    school=school.name)
        said = _(t, "A parent answered the date of birth of {who} at {school} wrongly three "
                    "times, so the link is locked.", who=who, school=school.name)
    else:
        subject = _(t, "A parent's link to {who} was locked", who=who)
        said = _(t, "A parent answered the date of birth of {who} wrongly three times, so "
                    "the link is locked.", who=who)
    return _message(subject, [
        _hello(t, name), said + " " + _(t, "Check the contact's details and unlock it if "
                                           "they are right.")],
        (_(t, "Review the links"), f"{base}/links/{quote(student_id)}"))


@localised
def privacy_notice(t: Translator, base: str, name: str, version: str,
                   effective: dt.date) -> Message:
    return _message(_(t, "Pupil Progress privacy notice: a new version"), [
        _hello(t, name), _(t, "A new version of the privacy notice ({version}) takes effect "
                              "on {effective}. Please read it and share it with your school "
                              "community as needed.", version=version,
                           effective=t.date(effective, DATE))],
        (_(t, "Read the privacy notice"), f"{base}/privacy?version={quote(version)}"))


# --- what a requester is owed, and the offboarding certificate (issue 30) ---------------
_COPY_READY = N_("Your copy of the data is ready. The school will give it to you, or make "
                 "it available to download when you sign in (for seven days).")
_DONE = {
    # The school hands the copy over itself or releases it to be downloaded in the app
    # (issue 24): the mail promises neither alone.
    "access": _COPY_READY,
    "portability": _COPY_READY,
    "rectification": N_("The school has corrected the data in its own records."),
    "erasure": N_("The personal data concerned has been erased from Pupil Progress."),
    "restriction": N_("The processing of the data concerned is now restricted."),
    "lift": N_("The restriction of the data concerned has been lifted."),
    "objection": N_("Report emails about the person concerned are no longer sent."),
}
_WHAT = {"access": N_("a copy of data"), "portability": N_("a copy of data (portable)"),
         "rectification": N_("a correction"), "erasure": N_("erasure"),
         "restriction": N_("a restriction"), "lift": N_("lifting a restriction"),
         "objection": N_("an objection")}


@localised
def request_closed(t: Translator, name: str, kind: str, outcome: str, reason: str | None,
                   school: School = School()) -> Message:
    """To the parent or student who filed a request: done, or refused with the school's
    reason. Names the school and the kind of request, never whom it was about."""
    what = t.gettext(_WHAT.get(kind, N_("a request")))
    if outcome == "refused":
        subject = _(t, "Your request to {school} was refused", school=school.name) \
            if school.name else _(t, "Your request to your school was refused")
        return _message(subject, [
            _hello(t, name), _(t, "{school} has refused your request for {what}.",
                               school=school.named(t), what=what),
            _(t, "The school's reason: {reason}", reason=reason or _(t, "none given")),
            school.contact(t)])
    done = _DONE.get(kind)
    return _message(_complete(t, school), [
        _hello(t, name), _(t, "{school} has completed your request for {what}.",
                           school=school.named(t), what=what),
        t.gettext(done) if done else "", school.contact(t)])


def _complete(t: Translator, school: School) -> str:
    return _(t, "Your request to {school} is complete", school=school.name) \
        if school.name else _(t, "Your request to your school is complete")


@localised
def own_erasure_complete(t: Translator, name: str, school: School = School()) -> Message:
    """Written while the parent's own erasure runs (their address is erased with it) and
    sent once every service has erased them."""
    return _message(_complete(t, school), [
        _hello(t, name), _(t, "{school} has completed your request for erasure: your "
                              "personal data has been erased from Pupil Progress, including "
                              "the email address this message was sent to. This is the last "
                              "email you will receive from us.", school=school.named(t)),
        school.contact(t)])


@localised
def export_released(t: Translator, base: str, name: str, request_id: str, who: str | None,
                    until: dt.date, school: School = School()) -> Message:
    """The school released the copy of data the person asked for (issue 24): it is in the
    app to download until it expires. Names whom it is about and the school."""
    who = who or _(t, "the person the request is about")
    subject = _(t, "A copy of the data about {who} at {school} is ready to download",
                 who=who, school=school.name) if school.name else \
        _(t, "A copy of the data about {who} is ready to download", who=who)
    return _message(subject, [
        _hello(t, name), _(t, "{school} has released the copy of the data about {who} that "
                              "you asked for. You can download it in the app until {until}.",
                           school=school.named(t), who=who, until=t.date(until, DATE)),
        _(t, "Sign in and open your request to download it; after that date it can no "
             "longer be downloaded."), school.contact(t)],
        (_(t, "Download the copy"), f"{base}/requests/{quote(request_id)}"))


CERTIFICATE_FILE = "offboarding-certificate.jws"


@localised
def offboarding_certificate(t: Translator, school: School = School()) -> Message:
    """To the school's office as its offboarding completes: the certificate is attached."""
    return _message(_(t, "{school}: offboarding certificate", school=school.called(t)), [
        _hello(t, ""), _(t, "The data of {school} has been erased from Pupil Progress. "
                            "Attached ({file}) is the offboarding certificate: every "
                            "service's signed statement that the school's data is gone. It "
                            "holds no personal data and can be verified without us against "
                            "the published keys (python -m shared.receipts verify, or any "
                            "JOSE library).", school=school.called(t), file=CERTIFICATE_FILE),
        _(t, "This office address has now been erased too: this is the last email it will "
             "receive from us.")])

"""Every message the service sends: a subject, a plain-text part and an HTML part.

Report mails carry the title and a link, never a grade or a characteristic.
"""
from __future__ import annotations

from dataclasses import dataclass
from html import escape
from urllib.parse import quote


@dataclass(frozen=True)
class Message:
    subject: str
    text: str
    html: str


def _html(paragraphs: list[str], link: tuple[str, str] | None = None) -> str:
    body = "".join(f"<p>{escape(p)}</p>" for p in paragraphs)
    if link:
        body += f'<p><a href="{escape(link[1], quote=True)}">{escape(link[0])}</a></p>'
    return f"<!doctype html><html><body>{body}</body></html>"


def _message(subject: str, paragraphs: list[str], link: tuple[str, str] | None = None
             ) -> Message:
    subject = subject if len(subject) <= 200 else subject[:199] + "…"  # fits the log
    text = "\n\n".join(paragraphs + ([f"{link[0]}: {link[1]}"] if link else []))
    return Message(subject, text + "\n", _html(paragraphs, link))


def _hello(name: str) -> str:
    return f"Hello {name}," if name else "Hello,"


def invitation(base: str, name: str, token: str, role: str,
               existing_login: bool = False) -> Message:
    link = f"{base}/activate?token={quote(token)}"
    # One subject for both kinds: a school's access export shows its mails' subjects, and
    # must not tell whether the email already had a login (only the body, which only the
    # person reads, differs).
    if existing_login:
        # The person has a login (with this school or another, in some role): accepting
        # never sets a new password, so they sign in with the one they have.
        what = {"parent": "a parent or carer", "student": "a student",
                "school_admin": "a school administrator"}.get(role, "a member")
        return _message("Your Pupil Progress invitation", [
            _hello(name), f"A school has invited you to Pupil Progress as {what}.",
            "You already have a Pupil Progress login with this email address. Open the "
            "link and enter the password you already use to accept; nothing changes until "
            "you do. The link works once."],
            ("Accept the invitation", link))
    who = "your child's school" if role in ("parent", "student") else "Pupil Progress"
    return _message("Your Pupil Progress invitation", [
        _hello(name), f"{who} has set up a Pupil Progress account for you.",
        "Choose a password to activate it. The link works once."],
        ("Activate your account", link))


def password_reset(base: str, name: str, token: str) -> Message:
    return _message("Reset your Pupil Progress password", [
        _hello(name), "Someone asked to reset the password of your account. If it was "
        "you, choose a new one; the link works once and expires within the hour. If not, "
        "you can ignore this email."],
        ("Choose a new password", f"{base}/reset-password?token={quote(token)}"))


def report_published(base: str, name: str, title: str, period: str, report_id: str) -> Message:
    return _message(f"New report: {title}", [
        f"Hello {name},", f"A new report ({title}, {period}) has been published for your "
        "child. Sign in to read it."],
        ("Read the report", f"{base}/reports/{quote(report_id)}"))


def link_locked(base: str, name: str) -> Message:
    return _message("A parent link was locked", [
        f"Hello {name},", "A parent answered a child's date of birth wrongly three times, so "
        "the link is locked. Check the contact's details and unlock it if it is right."],
        ("Review links", f"{base}/admin/links"))


def privacy_notice(base: str, name: str, version: str, effective: str) -> Message:
    return _message("Pupil Progress privacy notice: a new version", [
        f"Hello {name},", f"A new version of the privacy notice ({version}) takes effect on "
        f"{effective}. Please read it and share it with your school community as needed."],
        ("Read the privacy notice", f"{base}/privacy?version={quote(version)}"))

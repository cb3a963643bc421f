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


@dataclass(frozen=True)
class School:
    """The school a mail comes from, and how to reach its office."""
    name: str | None = None
    office_email: str | None = None
    office_phone: str | None = None

    @property
    def called(self) -> str:
        return self.name or "your school"

    def contact(self) -> str:
        """"Contact the school" with the office's details when the school gave them."""
        ways = [w for w in (self.office_email, self.office_phone) if w]
        how = f" ({' or '.join(ways)})" if ways else ""
        return f"If you have a question, contact {self.called}{how}."


# Each role in its own words (issue 24): what the person is invited as, and what the
# account is for them. A student's invitation never speaks of "your child".
_ROLES = {
    "parent": ("a parent or carer",
               "With it you can read the reports {school} publishes about your child, once "
               "you have confirmed your child's date of birth in the app."),
    "student": ("a student",
                "With it you can read your own reports from {school}."),
    "school_admin": ("a school administrator",
                     "With it you look after {school}'s place in Pupil Progress: parents' "
                     "links, reports and requests about personal data. Signing in also asks "
                     "for a code from an authenticator app."),
}


def invitation(base: str, name: str, token: str, role: str,
               existing_login: bool = False, school: School = School()) -> Message:
    link = f"{base}/activate?token={quote(token)}"
    # One subject for both kinds: a school's access export shows its mails' subjects, and
    # must not tell whether the email already had a login (only the body, which only the
    # person reads, differs).
    subject = f"Your Pupil Progress invitation from {school.name}" if school.name else \
        "Your Pupil Progress invitation"
    what, use = _ROLES.get(role, ("a member", "With it you can sign in to Pupil Progress."))
    inviter = school.name or {"parent": "Your child's school", "student": "Your school"}.get(
        role, "A school")
    use = use.format(school=school.name or ("the school" if role != "school_admin"
                                            else "your school"))
    if existing_login:
        # The person has a login (with this school or another, in some role): accepting
        # never sets a new password, so they sign in with the one they have.
        return _message(subject, [
            _hello(name), f"{inviter} has invited you to Pupil Progress as {what}.", use,
            "You already have a Pupil Progress login with this email address. Open the "
            "link and enter the password you already use to accept; nothing changes until "
            "you do. The link works once."],
            ("Accept the invitation", link))
    return _message(subject, [
        _hello(name), f"{inviter} has set up a Pupil Progress account for you as {what}.",
        use, "Choose a password to activate it. The link works once."],
        ("Activate your account", link))


def password_reset(base: str, name: str, token: str) -> Message:
    return _message("Reset your Pupil Progress password", [
        _hello(name), "Someone asked to reset the password of your account. If it was "
        "you, choose a new one; the link works once and expires within the hour. If not, "
        "you can ignore this email."],
        ("Choose a new password", f"{base}/reset-password?token={quote(token)}"))


_FACTORS = {"totp": "an authenticator app", "recovery_codes": "a set of recovery codes",
            "passkey": "a passkey"}


def second_factor_changed(base: str, name: str, kind: str, factor: str,
                          by_role: str | None = None) -> Message:
    """A change to how the person signs in (issue 25): what changed, never a code, key or
    passkey; and what to do if it was not them."""
    what = _FACTORS.get(factor, "a second factor")
    by = {"school_admin": "another administrator of your school",
          "operator": "a Pupil Progress operator"}.get(by_role or "", "someone")
    if kind == "reset":
        subject = "Your Pupil Progress second factor was reset"
        said = (f"The second factor of your Pupil Progress account was reset by {by}: your "
                "authenticator app and recovery codes no longer work, and you were signed "
                "out. When you next sign in you will set up an authenticator app again.")
    elif kind == "removed":
        subject = "A sign-in method was removed from your Pupil Progress account"
        said = f"{what[0].upper()}{what[1:]} was removed from your Pupil Progress account."
    elif kind == "replaced" and factor == "recovery_codes":
        subject = "New recovery codes for your Pupil Progress account"
        said = ("New recovery codes were made for your Pupil Progress account; the earlier "
                "ones no longer work.")
    elif kind == "replaced":
        subject = "A new sign-in method on your Pupil Progress account"
        said = (f"{what[0].upper()}{what[1:]} was set up on your Pupil Progress account in "
                "place of the earlier one, which no longer works.")
    else:
        subject = "A new sign-in method on your Pupil Progress account"
        said = f"{what[0].upper()}{what[1:]} was added to your Pupil Progress account."
    return _message(subject, [
        _hello(name), said,
        "If this was you, there is nothing to do. If it was not, change your password now "
        "and tell your school's administrator or Pupil Progress at once: someone else may "
        "be able to sign in as you."], ("Sign in", f"{base}/sign-in"))


def report_published(base: str, name: str, title: str, period: str, report_id: str,
                     child: str | None = None, school: School = School()) -> Message:
    """Names the child and the school: a parent of two, or at two schools, knows which."""
    who = child or "your child"
    where = f" at {school.name}" if school.name else ""
    return _message(f"A new report for {who}{where}", [
        _hello(name), f"{school.name or 'The school'} has published a new report for "
        f"{who}: {title} ({period}). Sign in to read it.", school.contact()],
        ("Read the report", f"{base}/reports/{quote(report_id)}"))


def report_updated(base: str, name: str, title: str, period: str, report_id: str,
                   child: str | None = None, school: School = School()) -> Message:
    """A report the parent was told of was corrected (issue 24): the link opens the new
    version; the old one is gone."""
    who = child or "your child"
    where = f" at {school.name}" if school.name else ""
    return _message(f"An updated report for {who}{where}", [
        _hello(name), f"{school.name or 'The school'} has corrected the report for {who}: "
        f"{title} ({period}). The updated report replaces the one we told you about; "
        "sign in to read it.", school.contact()],
        ("Read the updated report", f"{base}/reports/{quote(report_id)}"))


def link_locked(base: str, name: str, student_id: str, child: str | None = None,
                school: School = School()) -> Message:
    who = child or "a child"
    where = f" at {school.name}" if school.name else ""
    return _message(f"A parent's link to {who}{where} was locked", [
        _hello(name), f"A parent answered the date of birth of {who}{where} wrongly three "
        "times, so the link is locked. Check the contact's details and unlock it if they "
        "are right."],
        ("Review the links", f"{base}/links/{quote(student_id)}"))


def privacy_notice(base: str, name: str, version: str, effective: str) -> Message:
    return _message("Pupil Progress privacy notice: a new version", [
        _hello(name), f"A new version of the privacy notice ({version}) takes effect on "
        f"{effective}. Please read it and share it with your school community as needed."],
        ("Read the privacy notice", f"{base}/privacy?version={quote(version)}"))


# --- what a requester is owed, and the offboarding certificate (issue 30) ---------------
_DONE = {
    # The school hands the copy over itself or releases it to be downloaded in the app
    # (issue 24): the mail promises neither alone.
    "access": "Your copy of the data is ready. The school will give it to you, or make it "
              "available to download when you sign in (for seven days).",
    "portability": "Your copy of the data is ready. The school will give it to you, or make "
                   "it available to download when you sign in (for seven days).",
    "rectification": "The school has corrected the data in its own records.",
    "erasure": "The personal data concerned has been erased from Pupil Progress.",
    "restriction": "The processing of the data concerned is now restricted.",
    "lift": "The restriction of the data concerned has been lifted.",
    "objection": "Report emails about the person concerned are no longer sent.",
}
_WHAT = {"access": "a copy of data", "portability": "a copy of data (portable)",
         "rectification": "a correction", "erasure": "erasure",
         "restriction": "a restriction", "lift": "lifting a restriction",
         "objection": "an objection"}


def request_closed(name: str, kind: str, outcome: str, reason: str | None,
                   school: School = School()) -> Message:
    """To the parent or student who filed a request: done, or refused with the school's
    reason. Names the school and the kind of request, never whom it was about."""
    what = _WHAT.get(kind, "a request")
    if outcome == "refused":
        return _message(f"Your request to {school.called} was refused", [
            _hello(name), f"{school.name or 'The school'} has refused your request for "
            f"{what}.", f"The school's reason: {reason or 'none given'}", school.contact()])
    return _message(f"Your request to {school.called} is complete", [
        _hello(name), f"{school.name or 'The school'} has completed your request for "
        f"{what}.", _DONE.get(kind, ""), school.contact()])


def own_erasure_complete(name: str, school: School = School()) -> Message:
    """Written while the parent's own erasure runs (their address is erased with it) and
    sent once every service has erased them."""
    return _message(f"Your request to {school.called} is complete", [
        _hello(name), f"{school.name or 'The school'} has completed your request for "
        "erasure: your personal data has been erased from Pupil Progress, including the "
        "email address this message was sent to. This is the last email you will receive "
        "from us.", school.contact()])


CERTIFICATE_FILE = "offboarding-certificate.jws"


def offboarding_certificate(school: School = School()) -> Message:
    """To the school's office as its offboarding completes: the certificate is attached."""
    return _message(f"{school.called}: offboarding certificate", [
        "Hello,", f"The data of {school.called} has been erased from Pupil Progress. "
        f"Attached ({CERTIFICATE_FILE}) is the offboarding certificate: every service's "
        "signed statement that the school's data is gone. It holds no personal data and "
        "can be verified without us against the published keys (python -m shared.receipts "
        "verify, or any JOSE library).", "This office address has now been erased too: "
        "this is the last email it will receive from us."])

"""Issue 27: building a mail parsed every header anew, most of its CPU. The headers every
mail repeats are parsed once and kept (one object serves every mail); the personal ones
(To, Subject) and what is new in each (Message-ID) are never kept."""
from __future__ import annotations

from types import SimpleNamespace

from services.notifications.mailer import build_message

SETTINGS = SimpleNamespace(mail_from="Pupil Progress <no-reply@pupil-progress.invalid>")


def _mail(to: str, message_id: str):
    return build_message(SETTINGS, to, "Helo Siân", "Helo Siân.\n", "<p>Helo Siân.</p>",
                         message_id, ("certificate.jws", "eyJ"), "cy")


def _parts(message):
    return [part for part in message.walk() if not part.is_multipart()]


def test_the_headers_every_mail_repeats_are_parsed_once():
    one, two = _mail("ann@example.org", "d1"), _mail("bob@example.org", "d2")
    for name in ("From", "MIME-Version", "Content-Language"):
        assert one[name] is two[name], name
    for a, b in zip(_parts(one), _parts(two), strict=True):
        for name in ("Content-Type", "Content-Transfer-Encoding"):
            assert a[name] is b[name], name
    assert _parts(one)[-1]["Content-Disposition"] is _parts(two)[-1]["Content-Disposition"]


def test_personal_and_new_headers_are_parsed_each_time_and_not_kept():
    one, two = _mail("ann@example.org", "d1"), _mail("ann@example.org", "d1")
    for name in ("To", "Subject", "Message-ID"):
        assert one[name] == two[name]
        assert one[name] is not two[name], name


def test_a_mail_has_its_own_boundaries_before_it_is_written():
    """The generator would make them, checking each against every line of the mail with
    a regular expression compiled for it: a fresh random token needs no check."""
    one, two = _mail("ann@example.org", "d1"), _mail("ann@example.org", "d1")
    boundaries = [m.get_boundary() for m in (one, two) for m in m.walk() if m.is_multipart()]
    assert len(boundaries) == 4 and None not in boundaries
    assert len(set(boundaries)) == 4 and all(len(b) >= 32 for b in boundaries)

"""Fixtures shared by the integration tests of this folder."""
import pytest

from tests.support import Inbox


@pytest.fixture
def inbox():
    """A local SMTP server on loopback (tests/support.py's Inbox), for the services' mail."""
    box = Inbox()
    box.start()
    yield box
    box.stop()

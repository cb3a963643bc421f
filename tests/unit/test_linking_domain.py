"""The date-of-birth rules alone."""
import datetime as dt

import pytest

from services.linking import domain

DOB = dt.date(2015, 3, 2)


def test_the_right_date_verifies_and_publishes_parent_verified():
    result = domain.answer("pending", 1, DOB, DOB)
    assert (result.status, result.event, result.correct) == ("verified", "ParentVerified",
                                                             True)


def test_three_wrong_answers_lock_and_tell_the_school():
    first = domain.answer("pending", 0, DOB, dt.date(2015, 3, 3))
    assert (first.status, first.attempts_left, first.event) == ("pending", 2, None)
    second = domain.answer(first.status, first.failed_attempts, DOB, dt.date(2014, 3, 2))
    third = domain.answer(second.status, second.failed_attempts, DOB, dt.date(2016, 3, 2))
    assert (third.status, third.attempts_left, third.event) == ("locked", 0, "LinkLocked")


def test_a_locked_link_takes_no_answer_not_even_the_right_one():
    with pytest.raises(domain.LinkLocked):
        domain.answer("locked", 3, DOB, DOB)


def test_a_verified_link_stays_verified_and_without_a_date_nothing_counts():
    assert domain.answer("verified", 0, DOB, dt.date(2000, 1, 1)).status == "verified"
    with pytest.raises(domain.LinkError):
        domain.answer("pending", 0, None, DOB)

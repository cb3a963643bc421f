import logging

from shared.logging_setup import RedactingFilter, redact


def test_emails_and_dates_never_reach_the_log(caplog):
    logger = logging.getLogger("pp.test.redact")
    logger.addFilter(RedactingFilter())
    with caplog.at_level(logging.INFO):
        logger.info("account %s email %s dob %s", "acc-1", "ann@example.org", "2015-03-02")
    assert "ann@example.org" not in caplog.text and "2015-03-02" not in caplog.text
    assert "acc-1" in caplog.text and "[email]" in caplog.text


def test_redact_leaves_ids_alone():
    text = "event_id=6f1c2a8e-0d4b-4f7e-9a51-8d2b4e5c6a7b"
    assert redact(text) == text


def test_tracebacks_are_redacted_too():
    import io

    from shared.logging_setup import RedactingFormatter
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(RedactingFormatter("%(message)s"))
    logger = logging.getLogger("pp.test.traceback")
    logger.addHandler(handler)
    try:
        raise ValueError('duplicate key\nDETAIL:  Key (name)=(Jane Doe) already exists.\n'
                         'for jane@example.org')
    except ValueError:
        logger.exception("unhandled error type=%s", "IntegrityError")
    logger.removeHandler(handler)
    text = stream.getvalue()
    assert "IntegrityError" in text and "Traceback" in text
    assert "Jane Doe" not in text and "jane@example.org" not in text

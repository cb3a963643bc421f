"""`make run`'s output as a person reads it in a terminal (issue 24): JSON log lines
without terminal colour codes, and what to open and how to sign in in a box."""
import json
import logging
import sys

from shared.embedded import boxed
from shared.logging_setup import JsonFormatter, RedactingFormatter


def _record(message: str, exc_info=None) -> logging.LogRecord:
    return logging.LogRecord("werkzeug", logging.INFO, __file__, 1, message, None, exc_info)


def test_json_log_lines_carry_no_terminal_colour_codes():
    coloured = '\x1b[1m\x1b[31m"GET /x HTTP/1.1" 500 -\x1b[0m\x1b[2K\x1b(B done'
    line = JsonFormatter("gateway").format(_record(coloured))
    assert "\x1b" not in line and "\\u001b" not in line
    assert json.loads(line)["message"] == '"GET /x HTTP/1.1" 500 - done'
    try:
        raise ValueError("\x1b[33mwarned\x1b[0m")
    except ValueError:
        with_trace = JsonFormatter().format(_record("failed", sys.exc_info()))
    assert "\\u001b" not in with_trace and "ValueError: warned" in json.loads(
        with_trace)["exception"]
    text = RedactingFormatter("%(message)s").format(_record(coloured))
    assert text == '"GET /x HTTP/1.1" 500 - done'


def test_the_box_holds_every_line_wrapped_and_aligned():
    long = "Staff sign in in two steps: add these authenticator keys to an app " * 3
    box = boxed(["Pupil Progress is running on http://127.0.0.1:8080", "", "  parent  p@x",
                 long]).splitlines()
    assert box[0] == box[-1] and set(box[0]) == {"+", "-"}
    assert len({len(line) for line in box}) == 1  # one width: the right edge lines up
    inside = [line[2:-2].rstrip() for line in box[1:-1]]
    assert inside[:3] == ["Pupil Progress is running on http://127.0.0.1:8080", "",
                          "  parent  p@x"]
    assert " ".join(part.strip() for part in inside[3:]) == long.strip()
    assert all(len(line) <= 88 for line in inside)

"""Words a parent understands (issue 24): no service names or internals in what the app
and its emails say to people, and invitations worded for the role they invite to.

The scan reads the web app's text (its JavaScript's string literals that are words, not
identifiers, and index.html's text and labels) and every string of the email templates.
A word on the list below in any of them fails the test, naming the file and the text."""
from __future__ import annotations

import ast
import html.parser
import pathlib
import re

import pytest

from services.notifications import templates

ROOT = pathlib.Path(__file__).resolve().parents[2]
WEB = ROOT / "web"
TEMPLATES = ROOT / "services" / "notifications" / "templates.py"

# Our internals: the services by name, how they talk and what they store.
INTERNAL = re.compile(
    r"\b(ingest|dsar|payloads?|outbox|broker|rabbitmq|postgres(ql)?|kombu|microservices?|"
    r"envelopes?|uuids?|webhooks?|stack ?trace|null|undefined|"
    r"(identity|linking|notifications|reports|subject-requests) service)\b", re.I)


def js_strings(source: str) -> list[str]:
    """The string and template literals of a script, comments left out (a small lexer:
    quotes, template literals with their `${…}` parts, comments and regular expression
    literals). A template's `${…}` reads as `${}`; the literals inside it are its own."""
    out: list[str] = []
    _lex(source, 0, out, in_braces=False)
    return out


def _lex(source: str, i: int, out: list[str], in_braces: bool) -> int:
    """Code from i, its literals to out; inside a `${…}`, up to its closing brace."""
    n, last, depth = len(source), "", 0
    while i < n:
        c = source[i]
        if source.startswith("//", i):
            i = source.find("\n", i)
            i = n if i < 0 else i
        elif source.startswith("/*", i):
            i = source.find("*/", i + 2) + 2
        elif c in "'\"`":
            j, text = i + 1, []
            while j < n and source[j] != c:
                if source[j] == "\\":
                    text.append(source[j:j + 2])
                    j += 2
                elif c == "`" and source.startswith("${", j):
                    text.append("${}")
                    j = _lex(source, j + 2, out, in_braces=True)
                else:
                    text.append(source[j])
                    j += 1
            out.append("".join(text))
            i, last = j + 1, c
        elif c == "/" and (last == "" or last in "(,=:[!&|?{};+-*%<>~^"):
            j, in_class = i + 1, False  # a regular expression literal
            while j < n and (source[j] != "/" or in_class):
                if source[j] == "\\":
                    j += 1
                elif source[j] == "[":
                    in_class = True
                elif source[j] == "]":
                    in_class = False
                j += 1
            i, last = j + 1, "/"
        else:
            if in_braces and c == "{":
                depth += 1
            elif in_braces and c == "}":
                if depth == 0:
                    return i + 1
                depth -= 1
            if not c.isspace():
                last = c
            i += 1
    return i


def words_of_js(source: str) -> list[str]:
    """What a script may show: its literals with a space in them (an identifier, a CSS
    class, a route or a field name has none)."""
    return [s for s in js_strings(source) if " " in s.strip()]


class _Text(html.parser.HTMLParser):
    SHOWN = {"alt", "title", "aria-label", "placeholder", "content", "value"}

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style"):
            self._skip += 1
        self.texts += [v for k, v in attrs if k in self.SHOWN and v]

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._skip -= 1

    def handle_data(self, data):
        if not self._skip and data.strip():
            self.texts.append(data.strip())


def words_of_html(source: str) -> list[str]:
    parser = _Text()
    parser.feed(source)
    return parser.texts


def words_of_python(source: str) -> list[str]:
    """Every string constant and f-string part, docstrings left out."""
    tree = ast.parse(source)
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    return [node.value for node in ast.walk(tree) if isinstance(node, ast.Constant)
            and isinstance(node.value, str) and id(node) not in docstrings]


def shown_texts() -> list[tuple[str, str]]:
    texts = []
    for path in sorted((WEB / "assets").glob("*.js")):
        texts += [(path.name, t) for t in words_of_js(path.read_text())]
    texts += [("index.html", t) for t in words_of_html((WEB / "index.html").read_text())]
    texts += [(TEMPLATES.name, t) for t in words_of_python(TEMPLATES.read_text())]
    return texts


def test_the_scan_reads_what_people_see_and_catches_an_internal_word():
    """The scan itself: it finds the words shown and skips comments and identifiers."""
    script = ('// the ingest service is called here\nconst re = /"x/;\n'
              'const a = "Data received from the school"; /* payload */\n'
              'const b = `Sent by the ingest service ${n}`; x[ "ingest" ] = 1;')
    assert words_of_js(script) == ["Data received from the school",
                                   "Sent by the ingest service ${}"]
    assert [t for t in words_of_js(script) if INTERNAL.search(t)] == [
        "Sent by the ingest service ${}"]
    assert words_of_js('`Due ${f(`a ${"in b"}`)} then`') == ["in b", "a ${}", "Due ${} then"]
    assert words_of_html('<p title="Your payload">Hi <b>there</b></p><script>x="a b"'
                         '</script>') == ["Your payload", "Hi", "there"]
    texts = shown_texts()
    files = {f for f, _ in texts}
    assert {"app.js", "admin.js", "operator.js", "index.html", "templates.py"} <= files
    assert ("templates.py", "Activate your account") in texts
    assert any(f == "admin.js" and "rejected on its own" in t for f, t in texts)


def test_no_service_names_or_internals_in_what_the_app_or_its_emails_say():
    found = [(f, t) for f, t in shown_texts() if INTERNAL.search(t)]
    assert found == [], "internal words shown to people:\n" + "\n".join(
        f"{f}: {t!r}" for f, t in found)


SCHOOL = templates.School("Demo Academy", "office@demo.example", "01632 960000")


@pytest.mark.parametrize("existing_login", [False, True])
def test_each_role_is_invited_in_its_own_words(existing_login):
    def invite(role, school=SCHOOL):
        return templates.invitation("https://pp.example", "Sam", "tok-1", role,
                                    existing_login, school).text
    student, parent, admin = invite("student"), invite("parent"), invite("school_admin")
    assert len({student, parent, admin}) == 3
    for text in (student, invite("student", templates.School())):
        assert "child" not in text and "parent" not in text.lower()
        assert "your own reports" in text
    for text in (parent, invite("parent", templates.School())):
        assert "your child" in text and "parent or carer" in text
    assert "school administrator" in admin and "child" not in admin
    assert "Demo Academy" in student and "Demo Academy" in parent and "Demo Academy" in admin
    assert "Your child's school" not in invite("student", templates.School())

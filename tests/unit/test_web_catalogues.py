"""Cymraeg and English in the web app (issue 29): one catalogue per language
(web/assets/i18n/en.json and cy.json), the key being the English text. Every key has its
Welsh, both catalogues have the same keys and the same {placeholders}, Welsh plural texts
have the six forms Intl.PluralRules("cy") names, every key the code asks for exists, and no
text a person reads is written in the JavaScript outside the catalogues."""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from shared.webapp import WEB_ROOT

ASSETS = WEB_ROOT / "assets"
CATALOGUES = {code: json.loads((ASSETS / "i18n" / f"{code}.json").read_text())
              for code in ("en", "cy")}
WELSH_PLURALS = {"zero", "one", "two", "few", "many", "other"}
ENGLISH_PLURALS = {"one", "other"}
# Texts that are the same in Welsh: the product's name, nothing but placeholders, or a word
# Welsh spells the same ("Problem", a column's heading).
SAME_IN_BOTH = {"Pupil Progress", "{title} – Pupil Progress", "{service}: {progress}",
                "{months}: {reason}", "{stage} ({percent}%)", "Problem"}
# Modules whose screens are still to move into the catalogues, with the line where the
# part still in English starts (None: the whole module). Issue 29's follow-up empties this.
NOT_YET: dict[str, str | None] = {}
# String literals that read like words but are code: header names, DOM API names, error
# names, locales.
CODE_STRINGS = {"Content-Type", "Content-Disposition", "Accept-Language", "Authorization",
                "NotAllowedError", "AbortError", "InvalidStateError", "serviceWorker",
                "en-GB", "Bearer",
                # each language named in itself, the same on every screen (lang="cy", "en")
                "Cymraeg", "English"}
# A translated call: t("key", …), tParts("key", …), and N_("key") marking a constant's key.
KEY_CALL = re.compile(r'(?<![\w.$])(?:t|tParts|N_)\(\s*"((?:[^"\\\n]|\\.)*)"')
LITERAL = re.compile(r'"((?:[^"\\\n]|\\.)*)"|\'((?:[^\'\\\n]|\\.)*)\'|`((?:[^`\\]|\\.)*)`',
                     re.S)
PLACEHOLDER = re.compile(r"\{(\w+)\}")


def _forms(entry: str | dict[str, str]) -> list[str]:
    return list(entry.values()) if isinstance(entry, dict) else [entry]


def _placeholders(entry: str | dict[str, str]) -> set[str]:
    return {name for form in _forms(entry) for name in PLACEHOLDER.findall(form)}


def _code(path: Path) -> str:
    """The module's code without its comments (a comment may quote a text) and, for a
    module in NOT_YET, only the part already in the catalogues."""
    text = path.read_text()
    if path.name in NOT_YET:
        marker = NOT_YET[path.name]
        text = text[:text.index(marker)] if marker else ""
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"(?m)(?:^|(?<=\s))// .*$|^\s*//.*$", "", text)


def _modules() -> list[Path]:
    return sorted(ASSETS.glob("*.js"))


def _is_words(text: str) -> bool:
    """Text a person reads: a capitalised word ("Sign in"), or two words with a space
    ("your child"); never a path, a URL, a selector, CSS classes or an id."""
    text = text.strip()
    if not re.search(r"[A-Za-z]{2}", text) or text in CODE_STRINGS:
        return False
    if re.match(r"^(/|\./|#|\.|[a-z]+:|application/|image/|text/)", text):
        return False
    if re.fullmatch(r"[a-z0-9_\-.\[\]=:\"' >*,()#^$+?|\\/]+", text) and not re.search(
            r"[a-z]{2,} [a-z]{2,} [a-z]{2,}", text):
        return False  # CSS classes, selectors, codes ("button button--secondary")
    return bool(re.search(r"[A-Z][a-z]+|[a-z]{2,} [a-z]{2,}", text))


def _untranslated(path: Path) -> list[str]:
    """The literals of `path` that read as words and are not a catalogue key."""
    code = _code(path)
    found = []
    for match in LITERAL.finditer(code):
        before = code[max(0, match.start() - 12):match.start()]
        if re.search(r"(?<![\w.$])(?:t|tParts|N_)\(\s*$|[!=]==\s*$", before):
            continue  # a catalogue key, or a value compared (data, not text)
        line = code[code.rfind("\n", 0, match.start()) + 1:match.start()]
        if re.match(r"\s*(import|export \{|} from)", line) or " from " in line[-8:]:
            continue
        double, single, template = match.groups()
        text = double if double is not None else single if single is not None else \
            re.sub(r"\$\{[^}]*\}", " ", template)
        if _is_words(text):
            found.append(f"{path.name}:{code.count(chr(10), 0, match.start()) + 1}: {text[:70]}")
    return found


def _keys_used() -> dict[str, str]:
    used = {}
    for path in _modules():
        for match in KEY_CALL.finditer(_code(path)):
            used[json.loads(f'"{match.group(1)}"')] = path.name
    page = (WEB_ROOT / "index.html").read_text()
    for match in re.finditer(r'data-i18n(?:-label)?="([^"]*)"', page):
        used[match.group(1)] = "index.html"
    return used


def test_both_catalogues_have_the_same_keys():
    english, welsh = CATALOGUES["en"], CATALOGUES["cy"]
    assert sorted(set(english) - set(welsh)) == [], "texts without their Welsh"
    assert sorted(set(welsh) - set(english)) == [], "Welsh texts no English key names"


def test_every_text_has_its_welsh_written():
    for key, entry in CATALOGUES["cy"].items():
        assert all(form.strip() for form in _forms(entry)), key
        if key not in SAME_IN_BOTH:
            assert _forms(entry) != _forms(CATALOGUES["en"][key]), f"not translated: {key}"


@pytest.mark.parametrize("code", ["en", "cy"])
def test_each_text_keeps_the_placeholders_of_its_key(code):
    for key, entry in CATALOGUES[code].items():
        assert _placeholders(entry) == set(PLACEHOLDER.findall(key)), (code, key, entry)


def test_plural_texts_have_every_form_of_the_language():
    for key, entry in CATALOGUES["cy"].items():
        english = CATALOGUES["en"][key]
        assert isinstance(entry, dict) == isinstance(english, dict), key
        if isinstance(entry, dict):
            assert set(entry) == WELSH_PLURALS, key
            assert set(english) == ENGLISH_PLURALS, key
            assert "count" in PLACEHOLDER.findall(key), key


def test_every_key_the_app_asks_for_is_in_the_catalogues():
    used = _keys_used()
    missing = {key: where for key, where in used.items() if key not in CATALOGUES["en"]}
    assert missing == {}
    assert len(used) > 300  # the scan finds the calls


def test_no_text_a_person_reads_is_written_outside_the_catalogues():
    found = [line for path in _modules() for line in _untranslated(path)]
    assert found == [], "put these in web/assets/i18n/*.json and call t():\n" + "\n".join(found)


def test_the_scan_would_catch_text_written_in_the_code(tmp_path):
    module = tmp_path / "screen.js"
    module.write_text('import { t } from "./i18n.js";\n'
                      'show(t("Sign in"), h("p", { class: "hint meta" }, "Enter your email."));\n'
                      'element.textContent = `Reports for ${name}`;\n'
                      'const ok = h("a", { href: "/reports" }, t("All reports"));\n')
    assert [line.split(": ", 1)[1] for line in _untranslated(module)] == [
        "Enter your email.", "Reports for  "]


def test_the_catalogues_are_kept_for_offline_use_and_marked_with_their_language():
    worker = (WEB_ROOT / "sw.js").read_text()
    for code in CATALOGUES:
        assert f'"/assets/i18n/{code}.json"' in worker
    assert '"/assets/i18n.js"' in worker
    page = (WEB_ROOT / "index.html").read_text()
    assert re.search(r'<button[^>]*lang="cy"[^>]*>Cymraeg</button>', page)
    assert re.search(r'<button[^>]*lang="en"[^>]*>English</button>', page)


def test_the_manifest_names_the_app_in_both_languages():
    """"Pupil Progress" is the product's name in both; the description has its Welsh
    (description_localized, the manifest's localisation members)."""
    manifest = json.loads((WEB_ROOT / "manifest.webmanifest").read_text())
    assert manifest["name"] == manifest["short_name"] == "Pupil Progress"
    assert manifest["description_localized"]["cy"].startswith("Adroddiadau cynnydd eich plant")

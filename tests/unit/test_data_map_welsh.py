"""Issue 29: the "How we keep your data safe" page in Welsh. The data map it reads (GET
/api/v1/data-map, built from every service's declaration) has the Welsh of every word a
person reads in shared/rights/locales/cy.po, and dsar answers in the language the web app
asks for (Accept-Language), the codes unchanged."""
from shared.i18n import missing
from shared.rights.datamap import LOCALES, data_map, data_map_in, readable_texts
from tests.unit.test_data_map_page import _runtime


def test_every_word_of_the_data_map_has_its_welsh():
    words = sorted({text for entry in data_map()["services"] for text in readable_texts(entry)})
    assert len(words) > 50  # the parts, whose, the tables, columns and purposes
    # "staff" is the same word in Welsh; any other untranslated word is missing.
    assert [word for word in missing(LOCALES, words) if word != "staff"] == []


def test_the_map_in_welsh_keeps_its_codes_and_translates_its_words():
    english, welsh = data_map(), data_map_in("cy")
    assert [s["service"] for s in welsh["services"]] == [s["service"] for s in english["services"]]
    reports = next(s for s in welsh["services"] if s["service"] == "reports")
    assert reports["title"] == "Adroddiadau"
    held = [(i["table"], i["columns"], i["whose"]) for s in welsh["services"] for i in s["held"]]
    assert held == [(i["table"], i["columns"], i["whose"])
                    for s in english["services"] for i in s["held"]]
    students = next(i for s in welsh["services"] for i in s["held"] if i["whose"] == "student")
    assert students["whose_text"] == "disgyblion"
    assert data_map_in("en") == english


def test_dsar_answers_the_data_map_in_the_language_asked_for(tmp_path):
    rt, client, _ = _runtime("dsar", tmp_path)
    try:
        welsh = client.get("/api/v1/data-map", headers={"Accept-Language": "cy"})
        english = client.get("/api/v1/data-map", headers={"Accept-Language": "en"})
    finally:
        rt.engine.dispose()
    assert welsh.status_code == 200 and welsh.headers["Content-Language"] == "cy"
    titles = [s["title"] for s in welsh.get_json()["services"]]
    assert "Ceisiadau am ddata personol" in titles
    assert english.get_json()["services"][0]["title"] == "Accounts and sign-in"

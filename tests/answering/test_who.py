""" "Who" questions over wire stories: the answer names a person the articles show acting, not the
story's keyword-rich opening sentence (its dateline, places and nationalities are capitalised
too), and "who … now" comes from the newest report that names one."""

from __future__ import annotations

import pytest

from bot.answering.factory import build_answerer
from bot.settings import Settings

ARTICLES = {
    "01_geneva_round.txt": (
        "Grain corridor talks open in Geneva",
        "North Wire",
        "2025-02-10",
        "GENEVA (North Wire) - Talks on the Black Sea grain corridor opened in Geneva on Monday, with "
        "Swiss diplomats hosting the Russian and Ukrainian delegations at a lakeside hotel.\n\n"
        "Ukraine's delegation is led by Deputy Foreign Minister Olena Marchuk, a former trade envoy. "
        "Moscow sent Igor Sedov, an official of the agriculture ministry.\n\n"
        "Both sides said the first session was about inspections of ships in Turkish waters.",
    ),
    "02_istanbul_round.txt": (
        "Grain corridor talks move to Istanbul",
        "East Ledger",
        "2025-06-02",
        "ISTANBUL (East Ledger) - The Black Sea grain corridor talks moved to Istanbul on Tuesday, where "
        "Turkish officials opened a new round between the Russian and Ukrainian delegations.\n\n"
        "Taras Hlushko, a former port authority chief, now leads Ukraine's delegation after Olena "
        "Marchuk stepped down last month. "
        "Igor Sedov said Moscow wanted inspections to be faster.\n\n"
        "The next round is planned for July.",
    ),
}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory, embed_model):
    corpus = tmp_path_factory.mktemp("grain")
    for name, (title, source, published, body) in ARTICLES.items():
        (corpus / name).write_text(
            f"Title: {title}\nSource: {source}\nPublished: {published}\n\n{body}\n", "utf-8"
        )
    settings = Settings(
        _env_file=None, corpus_dir=corpus, data_dir=tmp_path_factory.mktemp("grain-data"), today="2025-07-01"
    )
    answerer = build_answerer(settings, embed_model)
    answerer.library.warm()
    return answerer


def test_who_is_answered_by_the_sentence_naming_the_person_not_the_opening_sentence(answerer):
    answer = answerer.ask("Who led Ukraine's side at the grain corridor talks in Geneva?")
    assert not answer.refused, answer.answer
    assert "Olena Marchuk" in answer.citations[0].quote
    assert not any(c.quote.startswith("GENEVA (North Wire)") for c in answer.citations)


def test_who_now_comes_from_the_newest_report_naming_one(answerer):
    answer = answerer.ask("Who leads Ukraine's delegation at the grain corridor talks now?")
    assert not answer.refused, answer.answer
    assert answer.citations[0].doc == "02_istanbul_round.txt"
    assert "Taras Hlushko" in answer.citations[0].quote

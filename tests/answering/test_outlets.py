"""A question about what an outlet reported, when no indexed article is from that outlet: nothing
can be quoted from it, so it is refused with the outlet named — unless an article cites that
outlet, which can answer. Real models over a small written corpus."""

from __future__ import annotations

import pytest

from bot.answering.factory import build_answerer
from bot.settings import Settings
from index.query import outlet_mentions

ARTICLES = {
    "01_istanbul.txt": (
        "Title: Exchange talks move to Istanbul\nSource: Harbour Ledger\nPublished: 2025-03-04\n"
        "URL: https://harbour.example/1\n\n"
        "The prisoner exchange talks moved from Geneva to Istanbul on Tuesday, with Turkish officials "
        "hosting both delegations.\n\n"
        "According to the Daily Courant, the first exchange under the new host freed 150 prisoners."
    ),
    "02_corridor.txt": (
        "Title: Corridor truce suspended\nSource: Meridian Wire\nPublished: 2025-04-10\n"
        "URL: https://meridian.example/2\n\n"
        "The local truce around the Sumy crossing was suspended after shelling hit the buses' route.\n\n"
        "Mediators said the corridor could reopen once both sides guarantee safe passage."
    ),
}


@pytest.fixture(scope="module")
def answerer(tmp_path_factory, embed_model):
    corpus = tmp_path_factory.mktemp("outlets-corpus")
    for name, text in ARTICLES.items():
        (corpus / name).write_text(text, "utf-8")
    settings = Settings(_env_file=None, corpus_dir=corpus, data_dir=tmp_path_factory.mktemp("outlets-data"))
    built = build_answerer(settings, embed_model)
    built.library.warm()
    return built


@pytest.mark.parametrize(
    ("question", "names"),
    [
        ("According to a Bloomberg article, where did the exchange talks move?", ["Bloomberg"]),
        (
            "Considering a report by Reuters and an article in The Kyiv Independent, why was the truce suspended?",
            ["Reuters", "The Kyiv Independent"],
        ),
    ],
)
def test_a_report_from_an_outlet_no_article_is_from_is_refused_naming_it(answerer, question, names):
    answer = answerer.ask(question)
    assert answer.refused and not answer.citations
    assert all(name in answer.answer for name in names), answer.answer


@pytest.mark.parametrize(
    ("question", "quote"),
    [
        (
            "According to a Harbour Ledger article, where did the exchange talks move?",
            "moved from Geneva to Istanbul",
        ),
        # No article is from the Daily Courant, but one cites it: that sentence answers.
        ("How many prisoners were freed, according to a Daily Courant report?", "freed 150 prisoners"),
        ("Why was the truce suspended?", "suspended after shelling"),
    ],
)
def test_outlets_the_articles_are_from_or_cite_are_answered(answerer, question, quote):
    answer = answerer.ask(question)
    assert not answer.refused, answer.answer
    assert any(quote in c.quote for c in answer.citations), answer.answer


@pytest.mark.parametrize(
    ("question", "names"),
    [
        (
            "Considering a Bloomberg article and a report by Reuters, which minister resigned?",
            ["Bloomberg", "Reuters"],
        ),
        ("What did an article in The Astrophysical Journal say?", ["The Astrophysical Journal"]),
        ("Does the 'Music Business Worldwide' article agree?", ["Music Business Worldwide"]),
        # A speaker, a date and a feature of a product are not outlets.
        ("According to the Kremlin, what did Putin order?", []),
        ("Was the article published by TechCrunch in October wrong?", ["TechCrunch"]),
        ("Were the articles published in October 2023 wrong?", []),
        ("What did the articles from October say?", []),
        ("Who rolled out an AI-powered DJ feature?", []),
    ],
)
def test_outlets_a_question_attributes_a_report_to(question, names):
    assert [name for _, _, name in outlet_mentions(question)] == names


def test_each_candidate_knows_which_named_report_it_comes_from(answerer):
    # What the reports rule (bot/answering/scoring.reports_covered) reads: one flag per outlet
    # the question names, in the order it names them.
    context = answerer.retrieve(
        "Does the Meridian Wire report on the truce agree with the Harbour Ledger report on the talks?"
    )
    by_doc = {c.doc: c.reports for c in context.candidates}
    assert by_doc["02_corridor.txt"] == (True, False)
    assert by_doc["01_istanbul.txt"] == (False, True)
    plain = answerer.retrieve("Why was the truce suspended?")
    assert all(c.reports == () for c in plain.candidates)


def test_an_outlet_named_twice_is_a_column_per_mention(answerer):
    # "the TechCrunch report of October 2 and the one of October 7" names two reports of one
    # outlet (MultiHop asks this way): one sentence of that outlet then covers both columns.
    context = answerer.retrieve(
        "Did the Harbour Ledger report of March 4 and a later Harbour Ledger report agree on the talks?"
    )
    by_doc = {c.doc: c.reports for c in context.candidates}
    assert by_doc["01_istanbul.txt"] == (True, True)
    assert by_doc["02_corridor.txt"] == (False, False)

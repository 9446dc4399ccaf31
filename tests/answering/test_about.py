"""Questions about an article itself — which outlet put it out, where it was filed from — are
answered with the article's dateline, quoted verbatim (bot/answering/about.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.answering.about import Aspect, asked_aspect, without_dateline
from bot.answering.factory import build_answerer
from bot.settings import Settings

SEED = Path(__file__).resolve().parents[2] / "seeds" / "000_3b4e6e6ab3547b6d.txt"
TIMELINE = Path(__file__).resolve().parent.parent / "data" / "timeline2" / "corpus"


@pytest.mark.parametrize(
    ("question", "aspect"),
    [
        ("what city is this peice filed from?", Aspect.PLACE),  # a typo in the noun
        ("Where is this article from?", Aspect.PLACE),
        ("what city is this story from", Aspect.PLACE),
        ("wich news outlet put this story out? there's no byline", Aspect.OUTLET),
        ("who published this report?", Aspect.OUTLET),
        ("what's the source of this article?", Aspect.OUTLET),
        ("where was this written from?", Aspect.PLACE),  # a bare "this"
        ("which paper is this from?", Aspect.OUTLET),
        ("what news org published this", Aspect.OUTLET),
        ("who released it?", Aspect.OUTLET),
        ("Откуда эта статья?", Aspect.PLACE),
        ("Какое издание опубликовало эту статью?", Aspect.OUTLET),
        ("Звідки ця стаття?", Aspect.PLACE),
        ("Яке видання опублікувало цю статтю?", Aspect.OUTLET),
        # What the article reports, not the article itself:
        ("Where are the delegates from, according to this article?", None),
        ("what language is this article written in?", None),
        ("According to this report, which agency monitors the plant?", None),
        ("What is the source of the energy in this article?", None),
        ("which news outlet reported that Putin agreed?", None),  # no article pointed at
        ("which outlet ran this story and what did Putin agree to?", None),  # a further question
        ("who wrote this article?", None),  # an author: no article here names one
    ],
)
def test_what_a_question_asks_of_the_article_itself(question, aspect):
    assert asked_aspect(question) is aspect


def _exact(answer, corpus: Path):
    for c in answer.citations:
        assert (corpus / c.doc).read_text("utf-8")[c.start : c.end] == c.quote


@pytest.mark.parametrize(
    "question", ["what city is this peice filed from?", "which outlet put this story out?"]
)
def test_the_one_articles_dateline_answers(seed_answerer, question):
    answer = seed_answerer.ask(question)
    assert not answer.refused
    assert [c.quote for c in answer.citations] == ["News Country, Washington."]
    assert "[1]" in answer.answer
    _exact(answer, SEED.parent)


def test_a_russian_question_gets_the_dateline_in_a_russian_frame(seed_answerer):
    answer = seed_answerer.ask("Какое издание опубликовало эту статью?")
    assert not answer.refused
    assert answer.citations[0].quote == "News Country, Washington."
    assert "Строка с местом и изданием" in answer.answer


@pytest.fixture(scope="module")
def timeline(tmp_path_factory, embed_model):
    data = tmp_path_factory.mktemp("about-timeline")
    answerer = build_answerer(
        Settings(_env_file=None, corpus_dir=TIMELINE, data_dir=data, today="2025-12-01"), embed_model
    )
    answerer.library.warm()
    return answerer


def test_over_several_articles_the_user_is_asked_which(timeline):
    answer = timeline.ask("Which outlet put this story out?")
    assert answer.refused and not answer.citations
    assert "say which one" in answer.answer


def test_over_several_articles_the_topic_picks_the_article(timeline):
    answer = timeline.ask("which outlet published the story about the corridor truce being suspended?")
    assert not answer.refused
    (citation,) = answer.citations
    assert citation.doc == "04_corridor_truce_suspended.txt"
    _exact(answer, TIMELINE)
    text = (TIMELINE / citation.doc).read_text("utf-8").split("\n\n", 1)[1]
    assert text.startswith(citation.quote)  # the opening words, not a sentence of the report
    assert citation.source and citation.source in answer.answer  # the outlet, named


def test_the_topic_survives_two_overlapping_references_to_the_article(timeline):
    # "released this" and "this story" overlap; the word after them ("Keller") is the topic.
    answer = timeline.ask("who released this story? Keller")
    assert [c.doc for c in answer.citations] == ["06_vienna_new_mediator.txt"]


def test_a_follow_up_asks_of_the_article_the_thread_is_about(timeline):
    answer = timeline.ask(
        "what city was this story filed from?",
        history=["Who took over as mediator of the prisoner exchanges in Vienna?"],
    )
    assert not answer.refused
    assert answer.citations[0].doc == "06_vienna_new_mediator.txt"


def test_an_article_without_a_dateline_is_answered_the_ordinary_way(tmp_path, embed_model):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "plain.txt").write_text(
        "Title: Talks resume\nSource: Example Wire\nPublished: 2025-05-02\n\n"
        "The delegations met again on Friday to discuss a prisoner exchange. "
        "Both sides said the talks were constructive.\n",
        encoding="utf-8",
    )
    answerer = build_answerer(
        Settings(_env_file=None, corpus_dir=corpus, data_dir=tmp_path / "data"), embed_model
    )
    answer = answerer.ask("what city is this story filed from?")
    # No dateline to quote: nothing invented; the ordinary answer has no city to give.
    assert answer.refused and not answer.citations


@pytest.mark.parametrize(
    ("sentence", "rest"),
    [
        ("OSLO (Pinewood Times) - Russian and Ukrainian teams met.", "Russian and Ukrainian teams met."),
        ("News Country, Washington.", ""),
        # A short sentence with a comma is no dateline: its words were lost to the "who" names.
        ("Since July, Keller chairs the sessions.", "Since July, Keller chairs the sessions."),
        ("In Oslo, talks went on.", "In Oslo, talks went on."),
    ],
)
def test_only_a_dateline_is_taken_off_a_sentence(sentence, rest):
    assert without_dateline(sentence) == rest

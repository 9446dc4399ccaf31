"""Issue 2's answer contract, on the real seed index with the real embedding model."""

import json
import re

import pytest

from bot.answering import REFUSAL, QuestionError, clean_question, contextualize
from bot.answering.extractive import ExtractiveAnswerer
from tests.conftest import DEV_QUESTIONS, SEEDS

# The dev set from ../shared/seeds plus the team's own extra questions about the seed article
# (written after the thresholds were set and passed without retuning; kept as a regression set).
DEV = [
    json.loads(line)
    for path in (DEV_QUESTIONS, DEV_QUESTIONS.with_name("questions.extra.jsonl"))
    for line in path.read_text("utf-8").splitlines()
    if line.strip()
]
ANSWERABLE = [q for q in DEV if q["answer"] is not None]
UNANSWERABLE = [q for q in DEV if q["answer"] is None]


def _gold_spans(question):
    spans = []
    for evidence in question["evidence"]:
        text = (SEEDS / evidence["doc"]).read_text("utf-8")
        start = text.index(evidence["quote"])
        spans.append((evidence["doc"], start, start + len(evidence["quote"])))
    return spans


def _assert_well_formed(answer):
    for citation in answer.citations:
        text = (SEEDS / citation.doc).read_bytes().decode("utf-8")
        assert text[citation.start : citation.end] == citation.quote
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", answer.answer)}
    assert markers == {c.n for c in answer.citations}


def _cites_gold(answer, question) -> bool:
    return any(
        c.doc == doc and c.start < end and start < c.end
        for c in answer.citations
        for doc, start, end in _gold_spans(question)
    )


def test_dev_questions_cite_their_gold_span_and_unanswerable_ones_are_refused(seed_answerer):
    """The seed dev set and the team's extra questions, which the answer model was fitted on
    (bot/answering/calibration.json): the fitted figures must hold — 90% of the answerable
    questions cite the gold span, 80% of the others are refused, every answer well formed. (The
    held-out figures, lower, are in docs/EVAL.md.)"""
    answers = {q["id"]: seed_answerer.ask(q["question"]) for q in DEV}
    for answer in answers.values():
        _assert_well_formed(answer)
    cited = [q["id"] for q in ANSWERABLE if _cites_gold(answers[q["id"]], q)]
    refused = [q["id"] for q in UNANSWERABLE if answers[q["id"]].refused]
    assert len(cited) >= 0.9 * len(ANSWERABLE), sorted({q["id"] for q in ANSWERABLE} - set(cited))
    assert len(refused) >= 0.8 * len(UNANSWERABLE), sorted({q["id"] for q in UNANSWERABLE} - set(refused))
    for qid in refused:
        assert answers[qid].citations == []
        # A period the articles don't cover is refused naming their range (issue 13), e.g. "in 2024".
        assert answers[qid].answer == REFUSAL or answers[qid].answer.startswith(
            "The articles run from 2025-03-18 to 2025-03-18; none"
        )


def test_answer_sentences_each_carry_a_marker_and_no_duplicates(seed_answerer):
    answer = seed_answerer.ask("What did Putin agree to with Trump about energy infrastructure attacks?")
    assert not answer.refused
    _assert_well_formed(answer)
    sentences = [s for s in re.split(r"(?<=[.!?»])\s+(?=[A-Z«])", answer.answer) if s]
    assert all(re.search(r"\[\d+\]", s) for s in sentences)
    quotes = [c.quote for c in answer.citations]
    assert len(quotes) == len(set(quotes))
    assert answer.citations[0].title.startswith("Trump and Putin agree")
    assert answer.citations[0].source == "News Country" and answer.citations[0].published == "2025-03-18"


def test_json_shape(seed_answerer):
    data = seed_answerer.ask("Who called the call a historic moment?").to_json()
    assert set(data) >= {"question", "answer", "refused", "citations", "timings_ms"}
    assert set(data["citations"][0]) == {"n", "doc", "title", "source", "published", "quote", "start", "end"}
    assert data["timings_ms"]["total"] > 0


def test_persisted_index_answers_identically_after_reload(seed_answerer, embed_model):
    from index.library import Library

    reloaded = ExtractiveAnswerer(Library(seed_answerer.library.config, embed_model), seed_answerer.config)
    version = reloaded.library.store.load_current()
    assert version is not None and version.name == seed_answerer.library.version.name  # loaded, not rebuilt
    for question in DEV:
        a, b = seed_answerer.ask(question["question"]), reloaded.ask(question["question"])
        assert (a.answer, a.refused, a.citations) == (b.answer, b.refused, b.citations)


def test_follow_up_borrows_the_previous_question(seed_answerer):
    assert contextualize("and the Black Sea?", ["What does the ceasefire plan include?"]).startswith(
        "What does the ceasefire"
    )
    assert (
        contextualize("Who is leading the U.S. negotiations for Washington?", ["x"])
        == "Who is leading the U.S. negotiations for Washington?"
    )
    answer = seed_answerer.ask("and the Black Sea?", history=["What does the U.S. ceasefire plan include?"])
    assert any("Black Sea" in c.quote for c in answer.citations)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("", "empty"),
        ("   \n\t ", "empty"),
        ("x" * 1001, "1,001 characters long; the limit is 1,000"),
        ("What\x07 happened?", "control characters (U+0007)"),
        ("🕊️🇺🇦🇷🇺", "no words"),
        (
            "Τι δέχτηκε ο Πούτιν στην κλήση;",
            "Greek script; I can answer questions in English, Russian or Ukrainian",
        ),
        ("¿Qué aceptó Putin en la llamada?", "does not look like English, Russian or Ukrainian"),
        # with a function word English spells alike ("a", "was")
        ("Qu’est-ce que Poutine a accepté ?", "does not look like English, Russian or Ukrainian"),
        ("Was hat Putin akzeptiert?", "does not look like English, Russian or Ukrainian"),
    ],
)
def test_bad_questions_get_a_specific_message(raw, message):
    with pytest.raises(QuestionError, match=re.escape(message)):
        clean_question(raw)


def test_english_with_a_foreign_name_or_a_word_spelled_alike_is_english():
    for question in [
        "What did Le Monde and Die Zeit say?",
        "ha, what did putin accept?",
        "was it a call or a meeting?",
    ]:
        assert clean_question(question) == question


def test_zero_width_characters_are_dropped_not_fatal():
    assert clean_question("Who\u200b leads\u200d the talks?") == "Who leads the talks?"


def test_an_english_questions_query_embedding_starts_before_its_multilingual_vectors(
    seed_answerer, monkeypatch
):
    """The MiniLM query embedding runs beside the multilingual-e5 vectors (two cores), not after."""
    library = seed_answerer.library
    started: list[str] = []
    prefetch = type(library.retriever).prefetch
    monkeypatch.setattr(
        type(library.retriever), "prefetch", lambda self, q: (started.append(q), prefetch(self, q))
    )
    order: list[str] = []
    embed_sentence_query = library.embed_sentence_query
    monkeypatch.setattr(
        library,
        "embed_sentence_query",
        lambda t: (order.append("e5" if started else "e5 first"), embed_sentence_query(t))[1],
    )
    question = "Who briefed Trump on the call?"
    assert not seed_answerer.ask(question).refused
    assert started == [question] and order and order[0] == "e5"
    started.clear(), order.clear()
    seed_answerer.ask("Кто проинформировал Трампа о звонке?")  # no keyword search: nothing to start
    assert started == []

"""Question → extractive answer with exact-span citations, or a refusal.

The answer is made of whole sentences of the retrieved chunks, each followed by its marker
``[n]``; citation n quotes exactly ``article.text[start:end]`` of that sentence.

Every sentence of the retrieved chunks is a candidate. Each gets signals (bot/answering/
scoring.py): its multilingual similarity to the question and to the question's parts, the share
of the question's keywords it contains, its chunk's retrieval score. A logistic model fitted on dev
questions (``bot.tools.calibrate``, held-out folds; bot/answering/calibration.json) turns them into
one probability that the sentence answers the question. The best sentence is the answer if that
probability reaches the fitted threshold and it contains the kind of detail asked for (a date for
"when", a number for "how many"); further sentences that reach the second threshold are added (a
question in several parts, or one fact told in two sentences), in reading order.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

from bot.answering.asks import asked_detail, has_detail, not_a_question
from bot.answering.language import detect_language, framing, refusal
from bot.answering.model import DEFAULT_MAX_QUESTION_CHARS, Answer, Citation, with_markers
from bot.answering.question import clean_question, contextualize
from bot.answering.scoring import Calibration, Candidate, candidates_of, load_calibration, question_parts
from index.library import Library
from index.retrieval import Hit


@dataclass(frozen=True)
class AnswerConfig:
    max_sentences: int = 3
    chunks_considered: int = 8
    # Further sentences must be this similar or less to one already chosen (no near-repeats).
    max_repeat_similarity: float = 0.97


@dataclass
class Context:
    """One question on its way to an answer: everything retrieval found, on one index version."""

    question: str
    language: str
    query: str
    retriever: object
    hits: list[Hit]
    candidates: list[Candidate] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)

    @property
    def best(self) -> float:
        """The best candidate's probability of answering the question (0 with none)."""
        return max((c.probability for c in self.candidates), default=0.0)


class ExtractiveAnswerer:
    """Extractive answers from a Library."""

    def __init__(
        self,
        library: Library,
        config: AnswerConfig = AnswerConfig(),
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        calibration: Calibration | None = None,
    ):
        self.library = library
        self.config = config
        self.max_question_chars = max_question_chars
        self.calibration = calibration or load_calibration()

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        t0 = time.perf_counter()
        context = self.retrieve(question, history)
        t1 = time.perf_counter()
        answer = self.compose(context)
        answer.timings_ms = context.timings_ms | {
            "compose": round((time.perf_counter() - t1) * 1000, 1),
            "total": round((time.perf_counter() - t0) * 1000, 1),
        }
        answer.index_version = context.retriever.version.name
        return answer

    def retrieve(self, question: str, history: list[str] | None = None) -> Context:
        """Check the question, retrieve its chunks and score their sentences. Raises QuestionError."""
        question = clean_question(question, self.max_question_chars)
        language = detect_language(question)
        retriever = self.library.retriever  # one version for the whole answer
        query = contextualize(question, history or [])
        parts = question_parts(query)
        t1 = time.perf_counter()
        vectors = [self.library.embed_sentence_query(text) for text in [query, *parts]]
        t2 = time.perf_counter()
        top_k = max(self.config.chunks_considered, retriever.config.top_k)
        if language == "en":
            hits = retriever.search(query, top_k=top_k)
        else:
            # No English keyword matches a Russian or Ukrainian question: the multilingual
            # sentence vectors alone find its chunks.
            hits = retriever.semantic_search(vectors[0], top_k=top_k)
        hits = hits[: self.config.chunks_considered]
        t3 = time.perf_counter()
        context = Context(question, language, query, retriever, hits)
        context.candidates = candidates_of(
            query, language, hits, retriever, vectors[0], vectors[1:], self.calibration
        )
        detail = asked_detail(question)
        for cand in context.candidates:
            cand.has_detail = has_detail(cand.text, detail, question)
        context.timings_ms = {
            "embed_multilingual": round((t2 - t1) * 1000, 1),
            "retrieve": round((t3 - t2) * 1000, 1),
        }
        return context

    def choose(self, context: Context) -> list[Candidate]:
        """The answer's sentences (empty: refuse), in order of probability."""
        cal = self.calibration
        if not_a_question(context.question):
            return []
        ranked = sorted(
            (c for c in context.candidates if c.has_detail), key=lambda c: (-c.probability, c.rank)
        )
        if not ranked or ranked[0].probability < cal.answer_threshold:
            return []
        chosen = [ranked[0]]
        for cand in ranked[1:]:
            if len(chosen) >= self.config.max_sentences or cand.probability < cal.extra_threshold:
                break
            if any(
                cand.key == c.key or cand.similarity_to(c) > self.config.max_repeat_similarity for c in chosen
            ):
                continue
            chosen.append(cand)
        return chosen

    def compose(self, context: Context) -> Answer:
        chosen = self.choose(context)
        if not chosen:
            return Answer(question=context.question, answer=refusal(context.language), refused=True)
        return answer_from(context, chosen)


def answer_from(context: Context, chosen: list[Candidate]) -> Answer:
    """The answer quoting ``chosen``: read in article order within each article, articles in order
    of their best sentence; framed in the question's language when it is not English."""
    order: dict[str, int] = {}
    for cand in chosen:
        order.setdefault(cand.doc, len(order))
    chosen = sorted(chosen, key=lambda c: (order[c.doc], c.start))
    citations, parts = [], []
    for n, cand in enumerate(chosen, start=1):
        meta = cand.hit.node.metadata
        citations.append(
            Citation(
                n,
                cand.doc,
                meta.get("title"),
                meta.get("source"),
                meta.get("published"),
                cand.text,
                cand.start,
                cand.end,
            )
        )
        parts.append(with_markers(cand.text, [n]))
    lead = framing(context.language)
    text = " ".join(parts)
    return Answer(
        question=context.question,
        answer=f"{lead}\n{text}" if lead else text,
        refused=False,
        citations=citations,
    )


def top_sentences(context: Context, n: int) -> list[Candidate]:
    """The ``n`` candidates most likely to answer, whatever the thresholds (sources for a model)."""
    return sorted(context.candidates, key=lambda c: (-c.probability, c.rank))[:n]

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

import dataclasses
import re
import time
from dataclasses import dataclass, field
from functools import partial

import numpy as np

from bot.answering import spelling
from bot.answering.about import answer_about, asked_aspect
from bot.answering.asks import (
    Detail,
    asked_details,
    asks_decision,
    has_detail,
    not_a_question,
    reports_decision,
)
from bot.answering.dated import Timed, arrange
from bot.answering.language import detect_language, framing, refusal
from bot.answering.lexical import in_articles
from bot.answering.model import DEFAULT_MAX_QUESTION_CHARS, Answer, Citation, with_markers
from bot.answering.question import clean_question, contextualize
from bot.answering.roles import asked_person, titled
from bot.answering.scoring import (
    Calibration,
    Candidate,
    candidates_of,
    load_calibration,
    question_parts,
    select,
)
from bot.answering.who import (
    actors,
    asked_role,
    asked_side,
    asks_words,
    cyrillic_speakers,
    cyrillic_terms,
    leads_side,
    names_any,
    speakers,
    utters,
)
from index.library import Library
from index.retrieval import Hit


@dataclass(frozen=True)
class AnswerConfig:
    max_sentences: int = 3
    chunks_considered: int = 8
    # Further sentences must be this similar or less to one already chosen (no near-repeats).
    max_repeat_similarity: float = 0.97


@dataclass
class Support:
    """How one group of hits (an article, for date-aware answers) answers a question."""

    candidates: list[Candidate]
    chosen: list[Candidate]  # what the answer would quote (empty: it would refuse)
    relaxed: list[Candidate]  # ... at the model threshold (once a date has narrowed the articles)

    best: float  # the question model's probability that these candidates answer


@dataclass
class Context:
    """One question on its way to an answer: everything retrieval found, on one index version."""

    question: str  # as asked (shown with the answer)
    asked: str  # as searched: its typos corrected (bot/answering/spelling.py)
    language: str
    query: str
    retriever: object
    hits: list[Hit]
    candidates: list[Candidate] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    timed: Timed | None = None  # what the question's time decided (bot/answering/dated.py)
    best: float = 0.0  # the question model's probability that the candidates answer it
    missing_outlets: list[str] = field(default_factory=list)  # outlets it names that no article is from

    def refused_outright(self) -> bool:
        """Refused before any sentence is weighed: an instruction or an opinion request, or a
        question about what an outlet reported when no article is from that outlet."""
        return not_a_question(self.question) or bool(self.missing_outlets)


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

    today: str | None = None  # TODAY: relative dates ("last week") are read against it (None: the real date)

    def retrieve(self, question: str, history: list[str] | None = None) -> Context:
        """Check the question, retrieve its chunks (by what it says about time too) and score their
        sentences. Raises QuestionError."""
        question = clean_question(question, self.max_question_chars)
        self.__dict__["_vector_cache"] = {}  # vectors are reused within one answer, never across
        language = detect_language(question)
        retriever = self.library.retriever  # one version for the whole answer
        # What is searched and weighed has the typos corrected; the answer shows the question as asked.
        asked = spelling.correct(question, partial(in_articles, retriever)) if language == "en" else question
        query = contextualize(asked, history or [])
        if language == "en":  # the keyword/MiniLM search's query embedding, beside the e5 vectors
            retriever.prefetch(query)
        t1 = time.perf_counter()
        vectors = self._vectors(query)
        t2 = time.perf_counter()

        # Date-aware hits (bot/answering/dated.py): "latest", "in April", "how did it change", refusals.
        search = partial(self.search, language=language, retriever=retriever)
        timed = arrange(self, asked, query, retriever, today=self.today, language=language, search=search)
        t3 = time.perf_counter()
        context = Context(question, asked, language, timed.query, retriever, timed.hits, timed=timed)
        context.missing_outlets = missing_outlets(query, retriever)
        if timed.answer is None and (aspect := asked_aspect(asked)) is not None:  # "who put this story out?"
            timed.answer = answer_about(question, aspect, retriever, timed.hits, language, bool(history))
        if timed.answer is None:
            if timed.query != query:
                vectors = self._vectors(timed.query)
            context.candidates = self._candidates(
                asked, timed.query, language, timed.hits, retriever, vectors
            )
            context.best = self.calibration.answerable(context.candidates)
            self._prefer(asked, context.candidates)
        context.timings_ms = {
            "embed_multilingual": round((t2 - t1) * 1000, 1),
            "retrieve": round((t3 - t2) * 1000, 1),
        }
        return context

    def hits(self, question: str, top_k: int) -> list[Hit]:
        """The chunks the search finds for ``question``, by its language (no dates read, no
        answer made): what ``eval`` scores as retrieval."""
        self.__dict__["_vector_cache"] = {}
        return self.search(question, top_k, detect_language(question), self.library.retriever)

    def search(self, text: str, top_k: int, language: str, retriever) -> list[Hit]:
        """The chunks to answer ``text`` from, as its language allows."""
        if language == "en":
            return retriever.search(text, top_k=top_k)
        # Few English keywords match a Russian or Ukrainian question: the multilingual sentence
        # vectors find its chunks, and the names and numbers it shares with them ("тіктока" is
        # TikTok) rank them again.
        return retriever.semantic_search(
            self._vectors(text)[0], top_k=top_k, shared_words=partial(_shared_words, text)
        )

    def _vectors(self, query: str) -> list:
        """The multilingual vectors of the query and of its parts (when it asks several things);
        kept while one answer is made (a date-aware answer weighs each article with the same query)."""
        cache = self.__dict__.setdefault("_vector_cache", {})
        if query not in cache:
            cache[query] = [self.library.embed_sentence_query(t) for t in [query, *question_parts(query)]]
        return cache[query]

    def _candidates(self, question, query, language, hits, retriever, vectors) -> list[Candidate]:
        shared = None if language == "en" else _hit_terms(query, hits)
        candidates = candidates_of(
            query, language, hits, retriever, vectors[0], vectors[1:], self.calibration, shared
        )
        # A question in several parts asks for the detail of each ("who is taking over, and how
        # much are they paying?"): a sentence with any of them may answer its part.
        details = asked_details(question, question_parts(question))
        names = actors(c.text for c in candidates) if Detail.PERSON in details else frozenset()
        side = _leader_of(question, details)
        # Whoever the question asks the words of, outlets aside ("what did The Verge say" asks
        # what its article says).
        metadata = getattr(retriever, "metadata_index", None)
        asked = metadata.without_mentions(question) if metadata is not None else question
        texts = [c.text for c in candidates]
        if language == "en":
            who = speakers(asked, texts, partial(in_articles, retriever))
            words = bool(who) and asks_words(asked)  # "what did Zelensky say": his words, not his name
        else:
            who, words = cyrillic_speakers(asked, texts)
        # One column per mention: "the TechCrunch report of October 2 and the one of October 7"
        # names two reports of one outlet (then one sentence of that outlet covers both).
        outlets = metadata.mentioned_sources(query) if metadata is not None else []
        for cand in candidates:
            source = cand.hit.node.metadata.get("source") or ""
            cand.reports = tuple(source in sources for sources in outlets)
            cand.has_detail = (
                any(has_detail(cand.text, detail, question, names) for detail in details)
                and (not who or names_any(cand.text, who))
                and (not words or utters(cand.text))
                and (side is None or leads_side(cand.text, side))
            )
        return candidates

    @staticmethod
    def _prefer(question: str, candidates: list[Candidate]) -> None:
        """Only sentences of the kind the question asks for answer, when any does: for "what did
        they decide?", a sentence reporting a decision (when every part of the question asks one:
        "what did Putin sign up for, and did he tell his troops to follow it?" asks an order too);
        for «хто був посередником?», one naming the mediator. Applied once the question model has
        weighed the candidates: it decides what is quoted, not whether."""
        role = asked_role(question)
        if asks_decision(question) and all(map(asks_decision, question_parts(question))):
            wanted = reports_decision
        elif role is not None:
            wanted = role.search
        else:
            return
        if any(c.has_detail and wanted(c.text) for c in candidates):
            for cand in candidates:
                cand.has_detail = cand.has_detail and bool(wanted(cand.text))

    def support(self, question: str, query: str, hits: list[Hit], retriever, language: str = "en") -> Support:
        """How well ``hits`` alone answer (date-aware answers weigh articles one by one)."""
        cands = self._candidates(question, query, language, hits, retriever, self._vectors(query))
        cal = self.calibration
        best = cal.answerable(cands)
        self._prefer(question, cands)
        leaders = self.leaders(question, cands)
        return Support(
            cands,
            leaders or self._pick(cands, best, cal.answer_threshold),
            leaders or self._pick(cands, best, cal.llm_threshold),
            max(best, cal.answer_threshold) if leaders else best,
        )

    def choose(self, context: Context) -> list[Candidate]:
        """The answer's sentences (empty: refuse), in order of probability."""
        if context.refused_outright():
            return []
        if titles := self.titles(context):
            return titles
        if leaders := self.leaders(context.asked, context.candidates):
            return leaders
        chosen = self._pick(context.candidates, context.best, self.calibration.answer_threshold)
        if not chosen:
            return []
        # What the question explicitly asks for comes before further sentences of the ranking.
        ordered = chosen[:1] + self._covering(context, chosen) + chosen[1:]
        seen: set = set()
        unique = [c for c in ordered if not (c.key in seen or seen.add(c.key))]
        return unique[: self.config.max_sentences]

    def titles(self, context: Context) -> list[Candidate]:
        """For "what's Dmitriev's role?": every title the articles give the person, which the
        sentence model does not weigh (bot/answering/roles.py); [] for other questions."""
        if context.language != "en":
            return []
        person = asked_person(context.asked, [c.text for c in context.candidates])
        return titled(context.candidates, person, self.config.max_sentences) if person else []

    def leaders(self, question: str, candidates: list[Candidate]) -> list[Candidate]:
        """For "who heads Kyiv's team?": the sentence that puts that side beside a word of leading
        and a name the articles show acting (``has_detail`` for such a question), from an article
        with a sentence on the question's topic at the level a model would be given it. The
        sentence model does not weigh that: "Kyiv's technical team is headed by …" shares no word
        with "who was in charge of Ukraine's side at the Doha talks?", and the report's opening
        sentence, which shares them all, looked the likelier answer. [] for other questions."""
        if _leader_of(question, asked_details(question, question_parts(question))) is None:
            return []
        topical = {c.doc for c in candidates if c.probability >= self.calibration.llm_threshold}
        usable = [c for c in candidates if c.has_detail and c.doc in topical]
        return [max(usable, key=lambda c: c.probability)] if usable else []

    def _covering(self, context: Context, chosen: list[Candidate]) -> list[Candidate]:
        """Sentences the question itself asks for that the probability ranking may miss: one from
        each outlet it names ("as reported by Fortune and by The Verge": each report answers a
        part), and, for a follow-up, the sentence most like the follow-up's own words."""
        floor = self.calibration.llm_threshold
        usable = [c for c in context.candidates if c.has_detail and c.probability >= floor]
        extra: list[Candidate] = []
        named = len(chosen[0].reports) if chosen else 0  # the outlets named, as _candidates read them
        for j in range(named) if named >= 2 else []:
            if any(c.reports[j] for c in chosen + extra):
                continue
            own = [c for c in usable if c.reports[j]]
            if own:
                extra.append(max(own, key=lambda c: c.probability))
        if context.query != context.asked and usable:  # a follow-up read with the question before
            own_vector = self._vectors(context.asked)[0]
            best = max(usable, key=lambda c: float(c.vector @ own_vector))
            if all(best.key != c.key for c in chosen[:1] + extra):
                extra.append(best)
        return extra

    def _pick(self, candidates: list[Candidate], answerable: float, threshold: float) -> list[Candidate]:
        """The answer's sentences by the shared rule (bot.answering.scoring.select)."""
        if not candidates:
            return []
        indices = select(
            np.array([c.probability for c in candidates]),
            np.array([c.has_detail for c in candidates]),
            [c.doc for c in candidates],
            np.array([c.part_sims for c in candidates]),
            answerable,
            threshold,
            self.calibration,
            self.config.max_sentences,
            np.array([c.vector for c in candidates]),
            self.config.max_repeat_similarity,
            np.array([c.reports for c in candidates], dtype=bool),
        )
        return [candidates[i] for i in indices]

    def compose(self, context: Context) -> Answer:
        timed = context.timed
        if timed is not None and timed.answer is not None:  # a time refusal, a change list, a dateline
            answer = dataclasses.replace(timed.answer, question=context.question)  # as asked, typos kept
        else:
            chosen = self.choose(context)
            if not chosen:
                message = refusal(context.language, context.missing_outlets)
                return Answer(question=context.question, answer=message, refused=True)
            answer = answer_from(context, chosen)
            answer = timed.finish(answer) if timed is not None else answer
        lead = framing(context.language)
        if lead and not answer.refused:  # English quotes, introduced in the question's language
            answer = dataclasses.replace(answer, answer=f"{lead}\n{answer.answer}")
        return answer


def missing_outlets(query: str, retriever) -> list[str]:
    """The outlets ``query`` attributes a report to ("a Bloomberg article") that no indexed article
    is from, nor mentions: nothing could be quoted from them."""
    metadata = getattr(retriever, "metadata_index", None)
    if metadata is None:
        return []
    missing = []
    for name in metadata.unknown_outlets(query):
        phrase = re.sub(r"^the\s+", "", name, flags=re.I)
        # An article that cites the outlet ("Bloomberg reported …") can still answer.
        if not any(phrase in hit.node.get_content() for hit in retriever.search(phrase, top_k=5)):
            missing.append(name)
    return missing


def answer_from(context: Context, chosen: list[Candidate]) -> Answer:
    """The answer quoting ``chosen``: read in article order within each article, articles in order
    of their best sentence."""
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
    return Answer(question=context.question, answer=" ".join(parts), refused=False, citations=citations)


def top_sentences(context: Context, n: int) -> list[Candidate]:
    """The ``n`` candidates most likely to answer, whatever the thresholds (sources for a model)."""
    return sorted(context.candidates, key=lambda c: (-c.probability, c.rank))[:n]


def _leader_of(question: str, details: set) -> int | None:
    """The side of the war whose leader a "who" question asks for ("who heads Kyiv's team?"),
    given the details it asks; None for another question."""
    return asked_side(question) if Detail.PERSON in details else None


def _hit_terms(question: str, hits: list[Hit]) -> list[str]:
    """The words a Russian or Ukrainian question shares with these hits (who.cyrillic_terms)."""
    return cyrillic_terms(question, (hit.node.text for hit in hits))


def _shared_words(question: str, hits: list[Hit]) -> str:
    return " ".join(_hit_terms(question, hits))

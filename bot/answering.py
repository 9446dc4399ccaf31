"""Question → extractive answer with exact-span citations, or a refusal. No Discord here.

The answer is made of whole sentences of the retrieved chunks, each followed by its marker
``[n]``; citation n quotes exactly ``article.text[start:end]`` of that sentence.
"""

from __future__ import annotations

import math
import re
import time
import unicodedata
from dataclasses import asdict, dataclass, field

from functools import lru_cache

from index.chunking import node_sentences
from index.library import Library
from index.retrieval import Hit

REFUSAL = "The indexed articles don't say — I couldn't find an answer to that in them."
DEFAULT_MAX_QUESTION_CHARS = 1000  # room for long multi-part questions (MultiHop-RAG: up to 511)


class QuestionError(ValueError):
    """The question cannot be asked as given; the message tells the asker why and what to do."""


@dataclass(frozen=True)
class Citation:
    n: int
    doc: str
    title: str
    source: str | None
    published: str | None
    quote: str
    start: int
    end: int


@dataclass
class Answer:
    question: str
    answer: str
    refused: bool
    citations: list[Citation] = field(default_factory=list)
    timings_ms: dict[str, float] = field(default_factory=dict)
    backend: str = "extractive"
    fallback_reason: str | None = None
    index_version: str | None = None

    def to_json(self) -> dict:
        data = asdict(self)
        if data["fallback_reason"] is None:
            del data["fallback_reason"]
        return data


@dataclass(frozen=True)
class AnswerConfig:
    max_sentences: int = 3
    chunks_considered: int = 8
    # Refuse unless the best sentence alone matches question terms worth this much idf (about
    # two distinctive words: one shared name is not an answer)...
    min_first_weight: float = 4.5
    # ...the chosen sentences together cover this share of the question's idf-weighted terms...
    min_coverage: float = 0.2
    # ...and that coverage plus the best chunk's cosine similarity to the question reaches this:
    # a full lexical match needs little semantic support, a partial one needs more.
    min_support: float = 0.8
    # A further sentence must cover at least this share of the question's terms that the
    # sentences before it did not (a multi-part question gets one sentence per part).
    min_gain: float = 0.1
    # ...and score at least this share of the first sentence's score.
    relative_cutoff: float = 0.3
    # Free places then go to other sentences that answer as well as the first one on their own
    # (at least this share of its score): an alternative reading is better than none.
    alternative_cutoff: float = 0.6
    # A further sentence from an article not cited yet counts this much more (multi-hop
    # questions need several articles; the same article rarely answers every part).
    new_article_bonus: float = 0.5


# ---------------------------------------------------------------- question checks

_SCRIPT_NAMES = {"CYRILLIC": "Cyrillic", "ARABIC": "Arabic", "CJK": "Chinese/Japanese", "HIRAGANA": "Japanese",
                 "KATAKANA": "Japanese", "HANGUL": "Korean", "GREEK": "Greek", "HEBREW": "Hebrew", "DEVANAGARI": "Devanagari"}
_FOREIGN_FUNCTION_WORDS = frozenset("que qué quién cuál dónde cómo el los las der die das und ist wer wie was wo est le les qui quoi où comment une des il chi cosa dove".split())
_ENGLISH_WORDS = frozenset("the a an of to in on and is are was were did do does what who whom which where when why how will would can could should has have had about with from by for".split())


_DISCORD_MARKUP = re.compile(r"<@[!&]?\d+>|<#\d+>|<a?:\w+:\d+>|@(?:everyone|here)\b|[*_`~|]+|^\s*>+", re.M)


def _script(ch: str) -> str:
    name = unicodedata.name(ch, "")
    return next((label for key, label in _SCRIPT_NAMES.items() if name.startswith(key)), "LATIN" if ch.isascii() or "LATIN" in name else "OTHER")


def clean_question(raw: str, max_chars: int = DEFAULT_MAX_QUESTION_CHARS) -> str:
    """Normalise a question or raise QuestionError naming what is wrong with it."""
    if not isinstance(raw, str):
        raise QuestionError("The question must be text.")
    # Zero-width and other invisible format characters carry no meaning; drop them.
    text = "".join(ch for ch in raw if unicodedata.category(ch) != "Cf")
    bad = sorted({f"U+{ord(ch):04X}" for ch in text if unicodedata.category(ch) == "Cc" and ch not in "\t\n\r"})
    if bad:
        raise QuestionError(f"The question contains control characters ({', '.join(bad[:3])}); please send plain text.")
    # Discord mentions and markdown are how a question was typed, not what it asks.
    text = _DISCORD_MARKUP.sub(" ", text)
    text = " ".join(text.split())
    if not text:
        raise QuestionError("The question is empty. Ask something about the indexed articles, e.g. “What did Putin agree to?”")
    if len(text) > max_chars:
        raise QuestionError(f"The question is {len(text):,} characters long; the limit is {max_chars:,}. Please shorten it.")
    letters = [ch for ch in text if ch.isalpha()]
    if not letters and not any(ch.isdigit() for ch in text):
        raise QuestionError("The question has no words in it (only symbols or emoji). Please ask in words.")
    scripts = [_script(ch) for ch in letters]
    foreign = [s for s in scripts if s != "LATIN"]
    if len(foreign) > 0.3 * len(scripts):
        name = max(set(foreign), key=foreign.count)
        name = "a non-Latin" if name == "OTHER" else f"{name}"
        raise QuestionError(f"The question looks like it is written in {name} script; I can only answer questions in English (the articles and the search model are English).")
    words = re.findall(r"[^\W\d_]+", text.lower())
    if len(words) >= 3 and not _ENGLISH_WORDS.intersection(words) and _FOREIGN_FUNCTION_WORDS.intersection(words):
        raise QuestionError("The question does not look like English; I can only answer questions in English (the articles and the search model are English).")
    return text


# ---------------------------------------------------------------- follow-ups

_FOLLOW_UP = re.compile(r"^(and|but|also|what about|how about|and what|why|so)\b|\b(it|they|them|he|she|his|her|their|that|this|those|these|there)\b", re.I)


def contextualize(question: str, history: list[str]) -> str:
    """The retrieval query for a follow-up: short or pronoun-led questions borrow the previous question."""
    if not history:
        return question
    if len(question.split()) <= 6 or _FOLLOW_UP.search(question):
        return f"{history[-1]} {question}"
    return question


# ---------------------------------------------------------------- lexical matching

# Irregular past forms the stemmer cannot relate to their verb ("led" ~ "leading").
_IRREGULAR = dict(
    pair.split(":")
    for pair in """led:lead said:say says:say met:meet won:win took:take taken:take gave:give given:give made:make
    held:hold sought:seek told:tell began:begin begun:begin went:go gone:go came:come saw:see seen:see thought:think
    brought:bring left:leave struck:strike fought:fight spoke:speak spoken:speak wrote:write written:write
    chose:choose chosen:choose rose:rise fell:fall fallen:fall paid:pay sold:sell bought:buy sent:send spent:spend
    kept:keep lost:lose meant:mean felt:feel stood:stand ran:run grew:grow grown:grow drew:draw knew:know known:know
    threw:throw shown:show withdrew:withdraw withdrawn:withdraw agreed:agree""".split()
)
_QUESTION_WORDS = frozenset("what who whom whose which where when why how did does do is are was were according".split())
_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from llama_index.core.utils import globals_helper

    return frozenset(globals_helper.stopwords) | _QUESTION_WORDS


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def content_terms(text: str) -> list[str]:
    """Stemmed content words, in order of first appearance, without stop words."""
    stop = _stopwords()
    words = [_IRREGULAR.get(w, w) for w in _WORD.findall(text.lower()) if w not in stop]
    return list(dict.fromkeys(_stemmer().stemWords(words)))


def term_weights(terms: list[str], retriever, min_docs: int = 50) -> dict[str, float]:
    """BM25-style idf of each term over the chunks; the document count is floored so that a
    tiny corpus (one article, three chunks) still weighs rare and common words apart."""
    bm25 = retriever.version.bm25.bm25
    n = max(min_docs, int(bm25.scores["num_docs"]))
    indptr = bm25.scores["indptr"]
    weights = {}
    for term in terms:
        token_id = bm25.vocab_dict.get(term)
        df = int(indptr[token_id + 1] - indptr[token_id]) if token_id is not None and token_id + 1 < len(indptr) else 0
        weights[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return weights


# ---------------------------------------------------------------- composing


@dataclass
class _Candidate:
    hit: Hit
    start: int
    end: int
    terms: frozenset[str]
    weight: float  # relevance of its chunk, 0.5..1


@dataclass
class Support:
    """How well the chosen sentences support an answer (what the refusal decision looks at)."""

    chosen: list[_Candidate]
    coverage: float  # share of the question's term weight the chosen sentences cover together
    first_coverage: float  # ...that the first (best) sentence covers alone
    first_weight: float  # the idf weight of the question terms the first sentence contains
    best_dense: float  # best cosine similarity of the question and a retrieved chunk


class Answerer:
    """Extractive answers from a Library."""

    def __init__(self, library: Library, config: AnswerConfig = AnswerConfig(), max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS):
        self.library = library
        self.config = config
        self.max_question_chars = max_question_chars

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        t0 = time.perf_counter()
        question = clean_question(question, self.max_question_chars)
        retriever = self.library.retriever  # one version for the whole answer
        query = contextualize(question, history or [])
        t1 = time.perf_counter()
        hits = retriever.search(query, top_k=max(self.config.chunks_considered, retriever.config.top_k))
        t2 = time.perf_counter()
        answer = self.compose(question, query, hits[: self.config.chunks_considered], retriever)
        t3 = time.perf_counter()
        answer.timings_ms = {"retrieve": round((t2 - t1) * 1000, 1), "compose": round((t3 - t2) * 1000, 1), "total": round((t3 - t0) * 1000, 1)}
        answer.index_version = retriever.version.name
        return answer

    def select_support(self, query: str, hits: list[Hit], retriever) -> Support:
        """Choose the answer sentences: greedily, each one covering the most of the question's
        (idf-weighted) terms that the ones before it left uncovered, weighted by its chunk's
        relevance. Outlets and dates the question names are matched by retrieval against the
        articles' metadata, so they are not terms a sentence has to contain."""
        metadata = getattr(retriever, "metadata_index", None)
        terms = content_terms(metadata.without_mentions(query) if metadata is not None else query)
        idf = term_weights(terms, retriever)
        total = sum(idf.values()) or 1.0
        top_score = max((h.score for h in hits), default=0.0)
        candidates: list[_Candidate] = []
        seen: set[tuple[str, int, int]] = set()
        for hit in hits:
            text = hit.node.text
            base = hit.node.start_char_idx or 0
            weight = 0.5 + 0.5 * (hit.score / top_score if top_score > 0 else 0.0)
            doc = hit.node.metadata.get("doc")
            for start, end in node_sentences(hit.node):
                if (doc, start, end) in seen:  # the same sentence in two overlapping chunks
                    continue
                seen.add((doc, start, end))
                sentence_terms = frozenset(content_terms(text[start - base : end - base])) & idf.keys()
                candidates.append(_Candidate(hit, start, end, sentence_terms, weight))
        best_dense = max((h.dense for h in hits), default=0.0)
        chosen: list[_Candidate] = []
        covered: set[str] = set()
        first_value = 0.0
        seen_texts: set[str] = set()

        def take(cand: _Candidate) -> bool:
            candidates.remove(cand)
            key = " ".join(_quote(cand).lower().split())
            if key in seen_texts:
                return False
            seen_texts.add(key)
            chosen.append(cand)
            covered.update(cand.terms)
            return True

        # 1. Each sentence covers what the ones before left uncovered: the parts of the question.
        while len(chosen) < self.config.max_sentences:
            best, best_value, best_gain = None, 0.0, 0.0
            cited = {c.hit.node.metadata.get("doc") for c in chosen}
            for cand in candidates:
                gain = sum(idf[t] for t in cand.terms - covered) / total
                value = gain * cand.weight
                if chosen and cand.hit.node.metadata.get("doc") not in cited:
                    value *= 1 + self.config.new_article_bonus
                if value > best_value:
                    best, best_value, best_gain = cand, value, gain
            if best is None:
                break
            if chosen and (best_gain < self.config.min_gain or best_value < self.config.relative_cutoff * first_value):
                break
            if take(best) and len(chosen) == 1:
                first_value = best_value
        # 2. Sentences that answer about as well as the first one on their own.
        alone = sorted(candidates, key=lambda c: -sum(idf[t] for t in c.terms) / total * c.weight)
        for cand in alone:
            if len(chosen) >= self.config.max_sentences:
                break
            if sum(idf[t] for t in cand.terms) / total * cand.weight < self.config.alternative_cutoff * first_value:
                break
            take(cand)
        coverage = sum(idf[t] for t in covered) / total
        first = sum(idf[t] for t in chosen[0].terms) if chosen else 0.0
        return Support(chosen, coverage, first / total, first, best_dense)

    def refuses(self, support: Support) -> bool:
        return (
            not support.chosen
            or support.first_weight < self.config.min_first_weight
            or support.coverage < self.config.min_coverage
            or support.coverage + support.best_dense < self.config.min_support
        )

    def compose(self, question: str, query: str, hits: list[Hit], retriever) -> Answer:
        support = self.select_support(query, hits, retriever)
        if self.refuses(support):
            return Answer(question=question, answer=REFUSAL, refused=True)
        chosen = list(support.chosen)
        # Read in article order within each article, articles in order of their best sentence.
        order = {}
        for cand in chosen:
            order.setdefault(cand.hit.node.metadata.get("doc"), len(order))
        chosen.sort(key=lambda c: (order[c.hit.node.metadata.get("doc")], c.start))
        citations = []
        parts = []
        for n, cand in enumerate(chosen, start=1):
            meta = cand.hit.node.metadata
            quote = _quote(cand)
            citations.append(Citation(n, meta.get("doc"), meta.get("title"), meta.get("source"), meta.get("published"), quote, cand.start, cand.end))
            parts.append(_with_marker(quote, n))
        return Answer(question=question, answer=" ".join(parts), refused=False, citations=citations)


def _quote(cand: _Candidate) -> str:
    base = cand.hit.node.start_char_idx or 0
    return cand.hit.node.text[cand.start - base : cand.end - base]


_TRAILING = re.compile(r"([.!?…]+[»\"”’')\]]*)$")


def _with_marker(sentence: str, n: int) -> str:
    """``Putin accepted … proposal [1].`` — the marker goes before the closing punctuation."""
    match = _TRAILING.search(sentence)
    if match and match.group(1)[-1] in ".!?…":
        return f"{sentence[: match.start()]} [{n}]{match.group(1)}"
    return f"{sentence} [{n}]"


def answerer_from_settings(settings, embed_model=None) -> Answerer:
    """The one way the CLI, the bot and the tests build an answerer from Settings.

    With ANSWER_BACKEND=openai or llamacpp this is a ``bot.llm.GenerativeAnswerer`` (an Answerer
    whose answers a model writes, verified, with this extractive answerer as its fallback)."""
    config = AnswerConfig(
        max_sentences=settings.answer_max_sentences,
        min_first_weight=settings.refusal_min_first_weight,
        min_coverage=settings.refusal_min_coverage,
        min_support=settings.refusal_min_support,
    )
    answerer = Answerer(Library(settings.library_config(), embed_model), config, settings.max_question_chars)
    if getattr(settings, "answer_backend", "extractive") != "extractive":
        from bot.llm.answerer import GenerativeAnswerer

        return GenerativeAnswerer.from_settings(settings, answerer)
    return answerer

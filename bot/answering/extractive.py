"""Question → extractive answer with exact-span citations, or a refusal.

The answer is made of whole sentences of the retrieved chunks, each followed by its marker
``[n]``; citation n quotes exactly ``article.text[start:end]`` of that sentence.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from bot.answering.dated import arrange
from bot.answering.lexical import content_terms, term_weights
from bot.answering.model import DEFAULT_MAX_QUESTION_CHARS, REFUSAL, Answer, Citation, with_markers
from bot.answering.question import clean_question, contextualize
from index.chunking import node_sentences
from index.library import Library
from index.retrieval import Hit


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


class ExtractiveAnswerer:
    """Extractive answers from a Library."""

    def __init__(
        self,
        library: Library,
        config: AnswerConfig = AnswerConfig(),
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
    ):
        self.library = library
        self.config = config
        self.max_question_chars = max_question_chars

    today: str | None = None  # TODAY: relative dates ("last week") are read against it (None: the real date)

    def ask(self, question: str, history: list[str] | None = None, language: str = "en") -> Answer:
        t0 = time.perf_counter()
        question = clean_question(question, self.max_question_chars)
        retriever = self.library.retriever  # one version for the whole answer
        query = contextualize(question, history or [])
        t1 = time.perf_counter()
        # Date-aware hits (bot/answering/dated.py): "latest", "in April", "how did it change", refusals.
        timed = arrange(self, question, query, retriever, language=language)
        t2 = time.perf_counter()
        answer = timed.answer or timed.finish(self.compose(question, timed.query, timed.hits, retriever))
        t3 = time.perf_counter()
        answer.timings_ms = {
            "retrieve": round((t2 - t1) * 1000, 1),
            "compose": round((t3 - t2) * 1000, 1),
            "total": round((t3 - t0) * 1000, 1),
        }
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
            if chosen and (
                best_gain < self.config.min_gain or best_value < self.config.relative_cutoff * first_value
            ):
                break
            if take(best) and len(chosen) == 1:
                first_value = best_value
        # 2. Sentences that answer about as well as the first one on their own.
        alone = sorted(candidates, key=lambda c: -sum(idf[t] for t in c.terms) / total * c.weight)
        for cand in alone:
            if len(chosen) >= self.config.max_sentences:
                break
            if (
                sum(idf[t] for t in cand.terms) / total * cand.weight
                < self.config.alternative_cutoff * first_value
            ):
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
            citations.append(
                Citation(
                    n,
                    meta.get("doc"),
                    meta.get("title"),
                    meta.get("source"),
                    meta.get("published"),
                    quote,
                    cand.start,
                    cand.end,
                )
            )
            parts.append(with_markers(quote, [n]))
        return Answer(question=question, answer=" ".join(parts), refused=False, citations=citations)


def _quote(cand: _Candidate) -> str:
    base = cand.hit.node.start_char_idx or 0
    return cand.hit.node.text[cand.start - base : cand.end - base]

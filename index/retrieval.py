"""Hybrid retrieval over one index version: dense (MiniLM) + BM25 over chunks and over their
sentences, metadata-aware query understanding and diversity across articles.

Per question there is one query embedding; everything else is numpy over arrays of the version:

1. **scores of every chunk**: dense cosine (chunk text with its title/source/date header),
   BM25 of the chunk (header included), and the BM25 of its best-matching *sentence* — a news
   question usually paraphrases one sentence, which a whole-chunk score dilutes;
2. **clauses**: a multi-part question ("… according to 'Fortune', and … as reported by 'The
   Age'?") is cut at its outlet/date mentions and clause boundaries; each clause is matched
   against the sentences separately and a chunk keeps its best clause score, so the chunk that
   answers one part of the question is not outranked by chunks matching a bit of every part;
3. **fusion**: each list is scaled so that its best score is 1 and its ``candidates``-th best
   is 0 (a min-max over the head of the list; chunks below go negative instead of being
   dropped) and the lists are summed with weights. Reciprocal-rank fusion treats the weak dense
   list as an equal of the strong keyword lists and lost to BM25 alone on news, so the weights
   come from measurement (``negotiations-bot eval``, docs/EVAL.md);
4. **metadata**: outlets named in the question ("according to 'Fortune'", "reported by The
   Age") and dates ("published on October 5, 2023", "2023-11-24") are matched against the
   chunks' ``source``/``published`` metadata; chunks of matching articles get a boost;
5. **diversity**: picking the top-k greedily, each chunk already taken from an article lowers
   that article's other chunks by ``article_penalty`` (and ``max_per_article`` caps them), so a
   question that needs several articles sees several (multi-hop questions do).
"""

from __future__ import annotations

import functools
import logging
import threading
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from index.bm25 import tokenize
from index.query import MetadataIndex, question_clauses
from index.sentences import SentenceIndex
from index.versions import IndexVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RetrievalConfig:
    top_k: int = 10
    candidates: int = 50  # the head of each list that fusion scales to 0..1
    bm25_weight: float = 0.7  # BM25 of the whole chunk (header included)
    dense_weight: float = 0.2  # MiniLM cosine of question and chunk (header included)
    sentence_weight: float = 0.2  # BM25 of the chunk's best sentence against the whole question
    clause_weight: float = 0.3  # ...and against the question's best-matching clause
    source_boost: float = 0.3  # added to chunks of an article whose outlet the question names
    date_boost: float = 0.5  # added to chunks of an article published on a date the question names
    article_penalty: float = 0.1  # subtracted per chunk already taken from the same article
    max_per_article: int = 0  # hard cap of chunks of one article in the top-k (0: none)
    # A question in another language: BM25 of the words it shares with the articles (names,
    # numbers), beside its multilingual similarity (32 Russian/Ukrainian questions over 200
    # articles, as `eval` measures: MRR@10 0.42 → 0.53, Hits@10 0.59 → 0.78; 0.5 to 1.5 about equal).
    shared_words_weight: float = 0.5


@dataclass
class Hit:
    node: TextNode
    score: float  # fused (1 is the best of the chunk lists; other lists and boosts add to it)
    dense: float  # cosine similarity of question and chunk (with its header)
    bm25: float  # raw BM25 score of the chunk
    row: int = -1  # live row in its index version (-1: not from a version)


# ---------------------------------------------------------------- fusion


def _scale_head(values: np.ndarray, head: int) -> np.ndarray:
    """Scale so the best value is 1 and the ``head``-th best is 0 (lower ones go negative)."""
    if values.size == 0:
        return values.astype("float32")
    top = float(values.max())
    head = min(head, values.size)
    # The head-th largest, selected from the small end of the negated values: numpy's selection
    # is several times faster there on score arrays full of ties (mostly zeros), same result.
    floor = -float(np.partition(-values, head - 1)[head - 1])
    if top <= floor:
        return np.where(values >= top, 1.0 if top > 0 else 0.0, 0.0).astype("float32")
    return ((values - floor) / (top - floor)).astype("float32")


def select_diverse(
    rows: np.ndarray, scores: np.ndarray, doc_of_row: np.ndarray, top_k: int, penalty: float, cap: int
) -> list[int]:
    """Greedy top-k over candidate ``rows`` (with their ``scores``): each chunk already taken
    from an article lowers that article's other chunks by ``penalty``; at most ``cap`` per
    article (0: no cap) unless too few articles are left to fill the list."""
    rows = np.asarray(rows)
    if len(rows) == 0:
        return []
    _, doc_index = np.unique(doc_of_row[rows], return_inverse=True)
    taken_per_doc = np.zeros(doc_index.max() + 1, dtype=np.int64)
    available = np.ones(len(rows), dtype=bool)
    chosen: list[int] = []
    overflow: list[int] = []
    while len(chosen) < top_k and available.any():
        adjusted = np.where(available, scores - penalty * taken_per_doc[doc_index], -np.inf)
        j = int(np.argmax(adjusted))
        available[j] = False
        if cap and taken_per_doc[doc_index[j]] >= cap:
            overflow.append(j)
            continue
        taken_per_doc[doc_index[j]] += 1
        chosen.append(j)
    chosen += overflow[: top_k - len(chosen)]
    return [int(rows[j]) for j in chosen]


def top_rows(scores: np.ndarray, k: int, key: Callable[[int], tuple]) -> np.ndarray:
    """The ``k`` best rows, best first; ties are broken by ``key(row)`` (not by position), so
    the same chunks with the same scores rank the same however the rows are ordered."""
    n = len(scores)
    if k >= n:
        head = np.arange(n)
    else:
        # The k-th largest value, selected from the small end of the negated values: numpy's
        # selection is several times faster there on score arrays full of ties.
        threshold = -np.partition(-scores, k - 1)[k - 1]
        above = np.flatnonzero(scores > threshold)
        tied = np.flatnonzero(scores == threshold)
        if len(above) + len(tied) > k:
            tied = np.asarray(sorted(tied.tolist(), key=key)[: k - len(above)], dtype=np.int64)
        head = np.concatenate([above, tied])
    return np.asarray(sorted(head.tolist(), key=lambda r: (-float(scores[r]), key(r))), dtype=np.int64)


class QueryEmbeddings:
    """Query embeddings by text, the last ``keep`` of them. ``start`` computes one on its own
    thread, so a caller with other work first (the answerer's multilingual vectors) has it ready
    when the dense scan needs it; a text searched twice (a date-aware answer searches its query
    again) is embedded once."""

    def __init__(self, embed: Callable[[str], list[float]], keep: int = 16):
        self._embed = embed
        self._keep = keep
        self._futures: OrderedDict[str, Future] = OrderedDict()
        self._lock = threading.Lock()

    def start(self, text: str) -> Future:
        with self._lock:
            future = self._futures.get(text)
            if future is None:
                # Its own thread, not the dense scans': a scan waiting for an embedding queued
                # behind it would wait forever.
                future = self._futures[text] = _embedding_executor().submit(self._embed, text)
                while len(self._futures) > self._keep:
                    self._futures.popitem(last=False)
            else:
                self._futures.move_to_end(text)
            return future

    def __call__(self, text: str) -> list[float]:
        future = self.start(text)
        try:
            return future.result()
        except Exception:
            with self._lock:  # not kept: the next search of this text tries again
                if self._futures.get(text) is future:
                    del self._futures[text]
            raise


class HybridRetriever(BaseRetriever):
    def __init__(
        self,
        version: IndexVersion,
        embed_query: Callable[[str], list[float]],
        config: RetrievalConfig = RetrievalConfig(),
    ):
        super().__init__()
        self.version = version
        self.embed_query = QueryEmbeddings(embed_query)
        self.config = config
        # Build what the scoring needs now (at load or re-index), not during the first question:
        # per version that is a few passes over per-segment lists (segments keep their own).
        _ = self.metadata_index, version.chunk_bm25
        if config.sentence_weight or config.clause_weight:
            _ = self.sentence_index

    @property
    def metadata_index(self) -> MetadataIndex:
        return self.version.metadata_index

    @property
    def doc_of_row(self):
        return self.version.doc_of_row

    @property
    def sentence_index(self) -> SentenceIndex:
        return self.version.sentence_index

    def tokenize(self, text: str) -> list[str]:
        """The query's BM25 terms, exactly as bm25s tokenizes (lower case, English stop words out,
        stemmed)."""
        return tokenize(text)

    def bm25_scores(self, query: str, tokens: list[str] | None = None) -> np.ndarray:
        return self.version.bm25_scores(self.tokenize(query) if tokens is None else tokens)

    def prefetch(self, query: str) -> None:
        """Start embedding ``query`` now, for a search of it that comes later."""
        self.embed_query.start(query)

    def dense_scores(self, query: str, query_embedding=None) -> np.ndarray:
        q = query_embedding if query_embedding is not None else self.embed_query(query)
        return self.version.dense_scores(np.asarray(q, dtype="float32"))

    def scores(self, query: str, query_embedding=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fused, dense, bm25) scores of every (live) chunk."""
        config = self.config
        version = self.version
        head = config.candidates
        tokens = self.tokenize(query)
        # The query embedding and the dense scan (torch and faiss, both outside the GIL) run on
        # the other core while this thread scores BM25 and the sentences.
        dense_future = _dense_executor().submit(self.dense_scores, query, query_embedding)
        try:
            bm25 = self.bm25_scores(query, tokens)
            scored = []
            if config.sentence_weight or config.clause_weight:
                clauses = question_clauses(query, self.metadata_index) if config.clause_weight else []
                lists = [tokens] + ([self.tokenize(c) for c in clauses] if len(clauses) > 1 else [])
                scored = [version.gather(s) for s in self.sentence_index.chunk_scores_many(lists)]
        finally:
            dense = dense_future.result()
        fused = config.dense_weight * _scale_head(dense, head) + config.bm25_weight * _scale_head(bm25, head)
        if scored:
            if config.sentence_weight:
                fused += config.sentence_weight * _scale_head(scored[0], head)
            if len(scored) > 1:
                fused += config.clause_weight * np.max([_scale_head(s, head) for s in scored[1:]], axis=0)
        if config.source_boost:
            mask = self.metadata_index.source_mask(query)
            if mask is not None:
                fused += config.source_boost * version.gather(mask)
        if config.date_boost:
            mask = self.metadata_index.date_mask(query)
            if mask is not None:
                fused += config.date_boost * version.gather(mask)
        return fused, dense, bm25

    def search(self, query: str, top_k: int | None = None, query_embedding=None) -> list[Hit]:
        version = self.version
        n = version.n_chunks
        if n == 0:
            return []
        top_k = top_k or self.config.top_k
        fused, dense, bm25 = self.scores(query, query_embedding)
        diverse = self.config.article_penalty > 0 or self.config.max_per_article > 0
        pool = min(n, max(4 * top_k, 40) if diverse else top_k)
        head = top_rows(fused, pool, version.row_key)
        if diverse:
            rows = select_diverse(
                head,
                fused[head],
                self.doc_of_row,
                top_k,
                self.config.article_penalty,
                self.config.max_per_article,
            )
        else:
            rows = [int(r) for r in head[:top_k]]
        return [Hit(version.nodes[r], float(fused[r]), float(dense[r]), float(bm25[r]), r) for r in rows]

    def semantic_search(
        self, query_vector: np.ndarray, top_k: int | None = None, shared_words=None
    ) -> list[Hit]:
        """Chunks ranked by their best sentence's multilingual similarity: for questions in
        another language than the articles', whose words no keyword index can match. With
        ``shared_words`` (the hits → the question's words the articles use too, such as names),
        ranked again with the BM25 of those words added."""
        version = self.version
        if version.n_chunks == 0:
            return []
        top_k = top_k or self.config.top_k
        scores = version.best_sentence_scores(query_vector)
        hits = self._semantic_top(scores, scores, np.zeros_like(scores), top_k)
        words = shared_words(hits) if shared_words is not None and self.config.shared_words_weight else ""
        if not words:
            return hits
        bm25 = self.bm25_scores(words, self.tokenize(words))
        head = self.config.candidates
        fused = _scale_head(scores, head) + self.config.shared_words_weight * _scale_head(bm25, head)
        return self._semantic_top(fused, scores, bm25, top_k)

    def _semantic_top(self, ranked: np.ndarray, dense: np.ndarray, bm25: np.ndarray, top_k: int) -> list[Hit]:
        version = self.version
        head = top_rows(ranked, min(version.n_chunks, max(4 * top_k, 40)), version.row_key)
        rows = select_diverse(head, ranked[head], self.doc_of_row, top_k, self.config.article_penalty / 10, 0)
        return [Hit(version.nodes[r], float(ranked[r]), float(dense[r]), float(bm25[r]), r) for r in rows]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.search(query_bundle.query_str, query_embedding=query_bundle.embedding)
        return [NodeWithScore(node=hit.node, score=hit.score) for hit in hits]


@functools.cache
def _embedding_executor() -> ThreadPoolExecutor:
    """Threads for query embeddings started ahead of their search (``QueryEmbeddings.start``)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="query-embedding")


@functools.cache
def _dense_executor() -> ThreadPoolExecutor:
    """Threads for query embeddings and dense scans, beside the answering threads (one each)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="dense")

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
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from bm25s.stopwords import STOPWORDS_EN
import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from index.store import IndexVersion

log = logging.getLogger(__name__)

_STOPWORDS = frozenset(STOPWORDS_EN)  # what the BM25 indexes were built without (bm25s "en")


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


@dataclass
class Hit:
    node: TextNode
    score: float  # fused (1 is the best of the chunk lists; other lists and boosts add to it)
    dense: float  # cosine similarity of question and chunk (with its header)
    bm25: float  # raw BM25 score of the chunk


# ---------------------------------------------------------------- query understanding

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",), ("june", "jun"),
         ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"), ("october", "oct"),
         ("november", "nov"), ("december", "dec")]
    )
    for name in names
}
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), lambda m: (m[1], m[2], m[3])),
    (re.compile(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I), lambda m: (m[3], _MONTHS[m[1].lower()], m[2])),
    (re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r",?\s+(\d{4})\b", re.I), lambda m: (m[3], _MONTHS[m[2].lower()], m[1])),
]


def date_mentions(question: str) -> list[tuple[int, int, str]]:
    """(start, end, ISO date) of every date written in the question, in order."""
    found = []
    for pattern, parts in _DATE_PATTERNS:
        for match in pattern.finditer(question):
            year, month, day = parts(match)
            if 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
                found.append((match.start(), match.end(), f"{int(year):04d}-{int(month):02d}-{int(day):02d}"))
    return sorted(found)


def mentioned_dates(question: str) -> list[str]:
    """ISO dates (YYYY-MM-DD) written in the question, in order."""
    return list(dict.fromkeys(date for _, _, date in date_mentions(question)))


def _source_variants(name: str) -> str:
    """The regex for the ways a question may write an outlet."""
    if name.lower().startswith("the ") and len(name) > 4:
        rest = name[4:]
        # "The Verge" may be written "Verge"; "The Age" must keep its "The".
        optional = len(rest.split()) > 1 or len(rest) >= 5
        spelled = "|".join(dict.fromkeys([re.escape(rest), re.escape(rest.upper())]))
        return ("(?:[Tt]he\\s+)?" if optional else "[Tt]he\\s+") + f"(?:{spelled})"
    return "(?:" + "|".join(dict.fromkeys([re.escape(name), re.escape(name.upper())])) + ")"


class MetadataIndex:
    """The outlets and publication dates of a version's chunks, to match questions against.

    An outlet matches as written in the metadata (case-sensitive, so "fortune" the word is not
    "Fortune" the magazine), in capitals, without a leading "The" unless what is left is one
    short word ("The Age"), or by its short form ("The Independent" for "The Independent -
    Sports"); where mentions overlap the longest wins.
    """

    def __init__(self, nodes: list[TextNode]):
        self.n = len(nodes)
        by_source: dict[str, list[int]] = {}
        by_date: dict[str, list[int]] = {}
        for i, node in enumerate(nodes):
            source = (node.metadata.get("source") or "").strip()
            if source:
                by_source.setdefault(source, []).append(i)
            published = (node.metadata.get("published") or "").strip()
            if re.match(r"\d{4}-\d{2}-\d{2}", published):
                by_date.setdefault(published[:10], []).append(i)
        self.rows_by_source = {k: np.asarray(v) for k, v in by_source.items()}
        self.rows_by_date = {k: np.asarray(v) for k, v in by_date.items()}
        names: dict[str, set[str]] = {}
        for source in self.rows_by_source:
            names.setdefault(source, set()).add(source)
            short = re.split(r"\s+[|\-–—]\s+", source, maxsplit=1)[0].strip()
            if short != source and len(short) >= 3:
                names.setdefault(short, set()).add(source)
        # (sources, the literal spellings that must occur for a match, the pattern), longest first.
        self._names = []
        for name, sources in sorted(names.items(), key=lambda item: -len(item[0])):
            body = _source_variants(name)
            literals = {name[4:] if name.lower().startswith("the ") else name}
            literals |= {literal.upper() for literal in literals}
            self._names.append((sources, literals, re.compile(r"(?<!\w)" + body + r"(?!\w)")))

    def source_mentions(self, question: str) -> list[tuple[int, int, set[str]]]:
        """(start, end, matching sources) of every outlet the question names, in order; where
        mentions overlap, the longest wins."""
        taken: list[tuple[int, int, set[str]]] = []
        for sources, literals, pattern in self._names:
            if not any(literal in question for literal in literals):
                continue
            for match in pattern.finditer(question):
                start, end = match.span()
                if all(end <= a or start >= b for a, b, _ in taken):
                    taken.append((start, end, sources))
        return sorted(taken, key=lambda m: m[0])

    def mentioned_sources(self, question: str) -> list[set[str]]:
        return [sources for _, _, sources in self.source_mentions(question)]

    def source_mask(self, question: str) -> np.ndarray | None:
        mentions = self.source_mentions(question)
        if not mentions:
            return None
        mask = np.zeros(self.n, dtype="float32")
        for _, _, sources in mentions:
            for source in sources:
                mask[self.rows_by_source[source]] = 1.0
        return mask

    def date_mask(self, question: str) -> np.ndarray | None:
        dates = [d for d in mentioned_dates(question) if d in self.rows_by_date]
        if not dates:
            return None
        mask = np.zeros(self.n, dtype="float32")
        for date in dates:
            mask[self.rows_by_date[date]] = 1.0
        return mask

    def without_mentions(self, question: str) -> str:
        """The question with its outlet and date mentions blanked out."""
        chars = list(question)
        spans = [(a, b) for a, b, _ in self.source_mentions(question)] + [(a, b) for a, b, _ in date_mentions(question)]
        for a, b in spans:
            chars[a:b] = " " * (b - a)
        return "".join(chars)


# Clause boundaries: punctuation and the conjunctions that join the parts of a multi-hop question.
_CLAUSE_SPLIT = re.compile(
    r"[;,:?!]|\b(?:while|whereas|and also|and is also|and was also|as well as|compared to|in contrast to|"
    r"according to|as reported by|reported by|as mentioned by|as per)\b",
    re.I,
)
MIN_CLAUSE_WORDS = 4


def question_clauses(question: str, metadata: MetadataIndex | None = None) -> list[str]:
    """The parts of a question worth matching on their own (outlet/date mentions removed);
    one part (or none) means the question has no separate parts."""
    text = metadata.without_mentions(question) if metadata else question
    parts = [" ".join(p.split()) for p in _CLAUSE_SPLIT.split(text)]
    return [p for p in parts if len(p.split()) >= MIN_CLAUSE_WORDS]


# ---------------------------------------------------------------- sentence index


class SentenceIndex:
    """BM25 over the sentences of every chunk; a chunk's score is its best sentence's.

    Sentences are stored chunk by chunk (an overlap sentence belongs to both chunks), so the
    chunk maximum is one ``np.maximum.reduceat``. Terms are the BM25 index's (lower case,
    English stop words out, stemmed); weights are bm25s' "lucene" BM25 (k1 1.5, b 0.75), kept as
    one compressed sparse column per term: a query is a ``np.bincount`` over its terms' postings.
    Derived from the nodes alone (about 1 s per 25k sentences), so it is built when a version
    is first used and saved beside it.
    """

    K1, B = 1.5, 0.75

    def __init__(self, vocab: dict[str, int], indptr: np.ndarray, indices: np.ndarray, data: np.ndarray, starts: np.ndarray, n_sentences: int):
        self.vocab = vocab
        self.indptr = indptr  # postings of term t: indices/data[indptr[t]:indptr[t + 1]]
        self.indices = indices  # sentence rows (int32)
        self.data = data  # BM25 weight of the term in that sentence (float32)
        self.starts = starts  # first sentence row of each chunk (every chunk has at least one)
        self.n_sentences = n_sentences

    @property
    def n_chunks(self) -> int:
        return len(self.starts)

    @classmethod
    def build(cls, nodes: list[TextNode], stemmer, token_pattern: str = r"(?u)\b\w\w+\b") -> "SentenceIndex":
        from array import array

        from index.chunking import node_sentences

        split = re.compile(token_pattern).findall
        vocab: dict[str, int] = {}
        term_of_word: dict[str, int] = {}
        terms, rows, lengths = array("i"), array("i"), array("i")
        starts = np.zeros(len(nodes), dtype=np.int64)
        row = 0
        for i, node in enumerate(nodes):
            starts[i] = row
            base = node.start_char_idx or 0
            spans = node_sentences(node) or [(base, base + len(node.text))]
            for a, b in spans:
                count = 0
                for word in split(node.text[a - base : b - base].lower()):
                    if word in _STOPWORDS:
                        continue
                    term = term_of_word.get(word)
                    if term is None:
                        stem = stemmer.stemWord(word) if stemmer is not None else word
                        term = term_of_word[word] = vocab.setdefault(stem, len(vocab))
                    terms.append(term)
                    count += 1
                rows.append(row)
                lengths.append(count)
                row += 1
        n = row
        length = np.frombuffer(lengths, dtype=np.int32).astype(np.float32)
        term_ids = np.frombuffer(terms, dtype=np.int32).astype(np.int64)
        row_ids = np.repeat(np.arange(n, dtype=np.int64), np.frombuffer(lengths, dtype=np.int32))
        # One entry per (term, sentence) with its frequency, sorted by term then sentence.
        keys, tf = np.unique(term_ids * max(n, 1) + row_ids, return_counts=True)
        term_of, row_of = keys // max(n, 1), keys % max(n, 1)
        df = np.bincount(term_of, minlength=len(vocab))
        idf = np.log(1 + (n - df + 0.5) / (df + 0.5))
        avg = float(length.mean()) if n else 1.0
        norm = cls.K1 * (1 - cls.B + cls.B * length[row_of] / (avg or 1.0))
        data = (idf[term_of] * tf / (tf + norm)).astype(np.float32)
        indptr = np.concatenate([[0], np.cumsum(df)]).astype(np.int64)
        return cls(vocab, indptr, row_of.astype(np.int32), data, starts, n)

    def save(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        np.savez(path / "postings.npz", indptr=self.indptr, indices=self.indices, data=self.data, starts=self.starts,
                 n_sentences=np.int64(self.n_sentences))
        (path / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, path: Path, n_chunks: int) -> "SentenceIndex":
        with np.load(path / "postings.npz") as arrays:
            index = cls(json.loads((path / "vocab.json").read_text("utf-8")), arrays["indptr"], arrays["indices"],
                        arrays["data"], arrays["starts"], int(arrays["n_sentences"]))
        if index.n_chunks != n_chunks or len(index.indptr) != len(index.vocab) + 1:
            raise ValueError("sentence index does not match the chunks")
        return index

    def chunk_scores(self, tokens: list[str]) -> np.ndarray:
        """The best sentence score of every chunk for the query terms ``tokens`` (a repeated term
        counts again, as in bm25s)."""
        return self.chunk_scores_many([tokens])[0]

    def chunk_scores_many(self, token_lists: list[list[str]]) -> list[np.ndarray]:
        """``chunk_scores`` of several term lists (a question and its clauses) in one pass over
        the postings: the sentences that match any list are found once, then each list is
        scored on those alone."""
        vocab = self.vocab
        term_ids = sorted({vocab[t] for tokens in token_lists for t in tokens if t in vocab})
        if not term_ids or self.n_chunks == 0:
            return [np.zeros(self.n_chunks, dtype="float32") for _ in token_lists]
        local = {t: i for i, t in enumerate(term_ids)}
        counts = np.zeros((len(token_lists), len(term_ids)), dtype=np.float32)
        for i, tokens in enumerate(token_lists):
            for t in tokens:
                if t in vocab:
                    counts[i, local[vocab[t]]] += 1
        bounds = [(int(self.indptr[t]), int(self.indptr[t + 1])) for t in term_ids]
        rows = np.concatenate([self.indices[a:b] for a, b in bounds])
        data = np.concatenate([self.data[a:b] for a, b in bounds])
        term_of = np.repeat(np.arange(len(term_ids)), [b - a for a, b in bounds])
        matched = np.flatnonzero(np.bincount(rows, minlength=self.n_sentences))  # a few per cent
        index_of = np.empty(self.n_sentences, dtype=np.int32)  # only matched rows are read back
        index_of[matched] = np.arange(len(matched), dtype=np.int32)
        position = index_of[rows]
        chunks = self.chunk_of_sentence[matched]
        first = np.flatnonzero(np.concatenate([[True], chunks[1:] != chunks[:-1]]))
        results = []
        for i in range(len(token_lists)):
            sums = np.bincount(position, weights=data * counts[i][term_of], minlength=len(matched))
            out = np.zeros(self.n_chunks, dtype="float32")
            out[chunks[first]] = np.maximum.reduceat(sums, first)
            results.append(out)
        return results

    @cached_property
    def chunk_of_sentence(self) -> np.ndarray:
        counts = np.diff(np.append(self.starts, self.n_sentences))
        return np.repeat(np.arange(self.n_chunks, dtype=np.int32), counts)


SENTENCE_INDEX_DIR = "sentences"  # inside the version directory


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


def select_diverse(rows: np.ndarray, scores: np.ndarray, doc_of_row: np.ndarray, top_k: int, penalty: float, cap: int) -> list[int]:
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


class HybridRetriever(BaseRetriever):
    def __init__(
        self,
        version: IndexVersion,
        embed_query: Callable[[str], list[float]],
        config: RetrievalConfig = RetrievalConfig(),
    ):
        super().__init__()
        self.version = version
        self.embed_query = embed_query
        self.config = config
        # Build what the scoring needs now (at load or re-index), not during the first question.
        self.metadata_index
        self.doc_of_row
        if config.sentence_weight or config.clause_weight:
            self.sentence_index

    @property
    def metadata_index(self) -> MetadataIndex:
        return _derived(self.version, "metadata_index", lambda: MetadataIndex(self.version.nodes))

    @property
    def doc_of_row(self) -> np.ndarray:
        def build():
            ids: dict[str, int] = {}
            return np.asarray([ids.setdefault(n.metadata.get("doc"), len(ids)) for n in self.version.nodes], dtype=np.int64)

        return _derived(self.version, "doc_of_row", build)

    @property
    def sentence_index(self) -> SentenceIndex:
        return _derived(self.version, "sentence_index", lambda: _load_or_build_sentences(self.version))

    def tokenize(self, text: str) -> list[str]:
        """The query's BM25 terms, exactly as bm25s tokenizes (lower case, English stop words out,
        stemmed), without its per-call overhead."""
        retriever = self.version.bm25
        words = [w for w in re.findall(retriever.token_pattern, text.lower()) if w not in _STOPWORDS]
        return retriever.stemmer.stemWords(words) if retriever.stemmer is not None and words else words

    def bm25_scores(self, query: str, tokens: list[str] | None = None) -> np.ndarray:
        tokens = self.tokenize(query) if tokens is None else tokens
        bm25 = self.version.bm25.bm25
        ids = [bm25.vocab_dict[t] for t in tokens if t in bm25.vocab_dict]
        if not ids:
            return np.zeros(self.version.n_chunks, dtype="float32")
        return bm25.get_scores_from_ids(ids).astype("float32")

    def dense_scores(self, query: str, query_embedding=None) -> np.ndarray:
        q = np.ascontiguousarray(query_embedding if query_embedding is not None else self.embed_query(query), dtype="float32")
        vectors = self.version.vectors
        if not len(vectors) or q.shape != (vectors.shape[1],) or not vectors.flags.c_contiguous or vectors.dtype != np.float32:
            return vectors @ q
        # faiss's single-threaded SIMD dot products: numpy's matrix-vector product goes through
        # multi-threaded BLAS, which on a busy 2-core machine waits for its threads (10k
        # chunks: ~15 ms instead of <1 ms); it also releases the GIL.
        import faiss

        out = np.empty(len(vectors), dtype="float32")
        faiss.fvec_inner_products_ny(faiss.swig_ptr(out), faiss.swig_ptr(q), faiss.swig_ptr(vectors), vectors.shape[1], len(vectors))
        return out

    def scores(self, query: str, query_embedding=None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(fused, dense, bm25) scores of every chunk."""
        config = self.config
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
                scored = self.sentence_index.chunk_scores_many(lists)
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
                fused += config.source_boost * mask
        if config.date_boost:
            mask = self.metadata_index.date_mask(query)
            if mask is not None:
                fused += config.date_boost * mask
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
        head = np.argpartition(-fused, pool - 1)[:pool] if pool < n else np.arange(n)
        head = head[np.argsort(-fused[head], kind="stable")]
        if diverse:
            rows = select_diverse(head, fused[head], self.doc_of_row, top_k, self.config.article_penalty, self.config.max_per_article)
        else:
            rows = [int(r) for r in head[:top_k]]
        return [Hit(version.nodes[r], float(fused[r]), float(dense[r]), float(bm25[r])) for r in rows]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.search(query_bundle.query_str, query_embedding=query_bundle.embedding)
        return [NodeWithScore(node=hit.node, score=hit.score) for hit in hits]


@functools.cache
def _dense_executor() -> ThreadPoolExecutor:
    """Threads for query embeddings and dense scans, beside the answering threads (one each)."""
    return ThreadPoolExecutor(max_workers=2, thread_name_prefix="dense")


# ---------------------------------------------------------------- per-version derived data

_derived_lock = threading.Lock()


def _derived(version: IndexVersion, key: str, build: Callable):
    """A structure derived from an (immutable) version, computed once and kept on it."""
    store = version.__dict__.setdefault("_derived", {})
    if key not in store:
        with _derived_lock:
            if key not in store:
                store[key] = build()
    return store[key]


def _load_or_build_sentences(version: IndexVersion) -> SentenceIndex:
    """Load the version's sentence index, or build it and save it into the version directory
    (a derived file outside the version's checksummed manifest, so it never invalidates it;
    written to a temporary directory and renamed, so a reader never sees half of it)."""
    path = Path(version.path) / SENTENCE_INDEX_DIR if getattr(version, "path", None) else None
    if path is not None and path.exists():
        try:
            return SentenceIndex.load(path, version.n_chunks)
        except Exception as exc:  # damaged or from an older format: build it again
            log.warning("sentence index of %s unusable (%s); rebuilding it", getattr(version, "name", "?"), exc)
            shutil.rmtree(path, ignore_errors=True)
    started = time.perf_counter()
    index = SentenceIndex.build(version.nodes, version.bm25.stemmer, version.bm25.token_pattern)
    log.info("sentence index of %s built in %.1fs", getattr(version, "name", "?"), time.perf_counter() - started)
    if path is not None:
        tmp = path.with_name(f".{SENTENCE_INDEX_DIR}-{uuid.uuid4().hex[:8]}")
        try:
            index.save(tmp)
            os.rename(tmp, path)
        except OSError as exc:  # read-only data dir, or another process saved it first
            log.debug("sentence index of %s kept in memory only: %s", getattr(version, "name", "?"), exc)
            shutil.rmtree(tmp, ignore_errors=True)
    return index

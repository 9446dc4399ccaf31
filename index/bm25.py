"""BM25 over several segments, scored with the statistics of all their live documents.

A version of the index is a list of immutable segments minus deleted rows (index/segments.py).
For its scores to equal those of one index built from scratch, document frequencies and the
average document length must be those of every live document, whatever segment holds it. So a
segment stores term frequencies and document lengths (postings), never weights, and weights are
computed per query from global statistics.

The formula, tokenizer and arithmetic are bm25s's ``lucene`` BM25 as LlamaIndex's
``BM25Retriever`` builds it (k1 1.5, b 0.75; lower case, token pattern ``(?u)\\b\\w\\w+\\b``,
English stop words, PyStemmer's English stemmer; idf in float32, the term-frequency part in
float64, each term's weight stored in float32 and summed in float32 in query order), so that on
one segment the chunk scores equal bm25s's bit for bit (tests/index/test_bm25.py).
"""

from __future__ import annotations

import functools
import math
import re
import threading
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from bm25s.stopwords import STOPWORDS_EN

TOKEN_PATTERN = r"(?u)\b\w\w+\b"
K1, B = 1.5, 0.75
STOPWORDS = frozenset(STOPWORDS_EN)  # bm25s's "en" list, as BM25Retriever(language="en") uses
_split = re.compile(TOKEN_PATTERN).findall
_stems: dict[str, str] = {}
_MAX_CACHED_STEMS = 500_000


@functools.cache
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def tokenize(text: str) -> list[str]:
    """BM25 terms of ``text`` as bm25s makes them: lower case, split, stop words out, stemmed."""
    terms = []
    stems = _stems
    for word in _split(text.lower()):
        if word in STOPWORDS:
            continue
        stem = stems.get(word)
        if stem is None:
            if len(stems) > _MAX_CACHED_STEMS:
                stems.clear()
            stem = stems[word] = _stemmer().stemWord(word)
        terms.append(stem)
    return terms


# ---------------------------------------------------------------- one segment's postings

POSTINGS_PARTS = ("terms", "indptr", "rows", "tf")


def build_postings(token_lists: Iterable[Sequence[str]]) -> dict[str, np.ndarray]:
    """The postings of documents given as term lists: ``terms`` (the vocabulary, UTF-8, one per
    line), ``indptr`` (term t's entries are ``[indptr[t], indptr[t + 1])``), ``rows`` (document
    row of each entry, ascending within a term), ``tf`` (the term's count in that document) and
    ``lengths`` (terms per document)."""
    vocab: dict[str, int] = {}
    ids, lengths = array("i"), array("i")
    for tokens in token_lists:
        for term in tokens:
            term_id = vocab.get(term)
            if term_id is None:
                term_id = vocab[term] = len(vocab)
            ids.append(term_id)
        lengths.append(len(tokens))
    n = len(lengths)
    counts = np.frombuffer(lengths, dtype=np.int32) if n else np.zeros(0, np.int32)
    term_ids = np.frombuffer(ids, dtype=np.int32).astype(np.int64) if len(ids) else np.zeros(0, np.int64)
    docs = np.repeat(np.arange(n, dtype=np.int64), counts)
    keys, tf = np.unique(term_ids * max(n, 1) + docs, return_counts=True)
    df = np.bincount(keys // max(n, 1), minlength=len(vocab))
    return {
        "terms": _terms_blob(list(vocab)),
        "indptr": np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
        "rows": (keys % max(n, 1)).astype(np.int32),
        "tf": tf.astype(np.uint16),
        "lengths": counts.astype(np.int32),
    }


def _terms_blob(terms: list[str]) -> np.ndarray:
    # Terms match \w\w+, so they never contain a line break.
    return np.frombuffer("\n".join(terms).encode("utf-8"), dtype=np.uint8).copy()


class Postings:
    """One segment's postings (see ``build_postings``), read-only."""

    def __init__(self, arrays: dict[str, np.ndarray]):
        self.terms_blob = arrays["terms"]
        self.indptr = arrays["indptr"]
        self.rows = arrays["rows"]
        self.tf = arrays["tf"]
        self.lengths = arrays["lengths"]
        if len(self.indptr) != len(self.terms) + 1 or len(self.rows) != len(self.tf):
            raise ValueError("postings arrays disagree")

    @functools.cached_property
    def terms(self) -> list[str]:
        text = self.terms_blob.tobytes().decode("utf-8")
        return text.split("\n") if text else []

    @functools.cached_property
    def vocab(self) -> dict[str, int]:
        return {term: i for i, term in enumerate(self.terms)}

    @property
    def n_docs(self) -> int:
        return len(self.lengths)

    @functools.cached_property
    def total_length(self) -> int:
        return int(self.lengths.sum(dtype=np.int64))

    def entries(self, term: str) -> tuple[np.ndarray, np.ndarray] | None:
        term_id = self.vocab.get(term)
        if term_id is None:
            return None
        a, b = int(self.indptr[term_id]), int(self.indptr[term_id + 1])
        return self.rows[a:b], self.tf[a:b]


def merge_postings(parts: Sequence[tuple[Postings, np.ndarray | None]]) -> dict[str, np.ndarray]:
    """The postings of the kept documents of several segments, one after another: ``parts`` are
    (postings, boolean mask of the documents to keep or None for all), in the new row order.
    Numpy only (no text is tokenized again)."""
    vocab: dict[str, int] = {}
    terms_out, rows_out, tf_out, lengths_out = [], [], [], []
    offset = 0
    for postings, keep in parts:
        local_to_new = np.fromiter(
            (vocab.setdefault(t, len(vocab)) for t in postings.terms),
            dtype=np.int64,
            count=len(postings.terms),
        )
        term_of = np.repeat(np.arange(len(postings.terms), dtype=np.int64), np.diff(postings.indptr))
        rows, tf = postings.rows, postings.tf
        if keep is None:
            new_row = rows.astype(np.int64)
            kept_lengths = postings.lengths
        else:
            renumber = np.cumsum(keep, dtype=np.int64) - 1
            mask = keep[rows]
            rows, tf, term_of = rows[mask], tf[mask], term_of[mask]
            new_row = renumber[rows]
            kept_lengths = postings.lengths[keep]
        terms_out.append(local_to_new[term_of])
        rows_out.append(new_row + offset)
        tf_out.append(tf)
        lengths_out.append(kept_lengths)
        offset += len(kept_lengths)
    term_ids = np.concatenate(terms_out) if terms_out else np.zeros(0, np.int64)
    # Terms of dropped documents only leave the vocabulary.
    alive = np.bincount(term_ids, minlength=len(vocab)) > 0
    term_ids = (np.cumsum(alive) - 1)[term_ids]
    # Within a term, entries stay in part order and each part's rows ascend: a stable sort by
    # term keeps rows ascending.
    order = np.argsort(term_ids, kind="stable")
    df = np.bincount(term_ids, minlength=int(alive.sum()))
    return {
        "terms": _terms_blob([t for t, a in zip(vocab, alive) if a]),
        "indptr": np.concatenate([[0], np.cumsum(df)]).astype(np.int64),
        "rows": np.concatenate(rows_out)[order].astype(np.int32) if rows_out else np.zeros(0, np.int32),
        "tf": np.concatenate(tf_out)[order].astype(np.uint16) if tf_out else np.zeros(0, np.uint16),
        "lengths": np.concatenate(lengths_out).astype(np.int32) if lengths_out else np.zeros(0, np.int32),
    }


# ---------------------------------------------------------------- scoring over segments


@dataclass(frozen=True)
class Part:
    """One segment's postings within a version: where its rows start in the version's row space
    (segments one after another, deleted rows included) and which of its rows are deleted."""

    postings: Postings
    offset: int
    dead: np.ndarray | None = None  # boolean per document row, or None when nothing is deleted


@dataclass
class TermEntries:
    """A term's live entries in all parts, one after another: rows in the parts' common row
    space, the weights (float32), and where each part's entries are (with its local rows)."""

    df: int
    rows: np.ndarray  # int32, offset by each part's start
    weights: np.ndarray
    pieces: list[tuple[int, int, int, np.ndarray]]  # (part index, start, stop, local rows)
    chunks: np.ndarray | None = None  # the chunk of each entry (sentence postings; filled by its user)

    @property
    def size(self) -> int:
        return len(self.rows)


class SegmentedBM25:
    """BM25 over the live documents of several parts, with global df, N and average length.

    A term's weighed entries are kept for the next questions (least recently used out first, up
    to ``cache_entries`` entries): common words have the longest postings and come back in
    almost every question, and weighing them is most of a query's BM25 time."""

    CACHE_ENTRIES = 1_000_000  # ~8-12 MB

    def __init__(self, parts: Sequence[Part], cache_entries: int | None = None):
        self.parts = list(parts)
        self.cache_entries = self.CACHE_ENTRIES if cache_entries is None else cache_entries
        self._cache: OrderedDict[str, TermEntries | None] = OrderedDict()
        self._cached = 0
        self._lock = threading.Lock()
        total_length = 0
        n_docs = 0
        for part in self.parts:
            total_length += part.postings.total_length
            n_docs += part.postings.n_docs
            if part.dead is not None:
                total_length -= int(part.postings.lengths[part.dead].sum(dtype=np.int64))
                n_docs -= int(np.count_nonzero(part.dead))
        self.n_docs = n_docs
        # bm25s: np.array(lengths).mean(): an exact integer sum divided once.
        self.avg_length = total_length / n_docs if n_docs else 1.0

    def _norms(self, part: Part, rows: np.ndarray) -> np.ndarray:
        """k1 * (1 - b + b * length / avg) of some documents of a part, in bm25s's operation order
        (computed per query term, not per version: a new version costs nothing here)."""
        return K1 * ((1 - B) + B * part.postings.lengths[rows].astype(np.float64) / self.avg_length)

    def _live_entries(self, term: str) -> list[tuple[int, np.ndarray, np.ndarray]]:
        found = []
        for i, part in enumerate(self.parts):
            entries = part.postings.entries(term)
            if entries is None:
                continue
            rows, tf = entries
            if part.dead is not None:
                keep = ~part.dead[rows]
                rows, tf = rows[keep], tf[keep]
            if len(rows):
                found.append((i, rows, tf))
        return found

    def idf(self, df: int) -> np.float32:
        n = self.n_docs
        return np.float32(math.log(1 + (n - df + 0.5) / (df + 0.5)))

    def entries(self, terms: Iterable[str]) -> dict[str, TermEntries]:
        """Each distinct term's live entries and weights (terms nowhere live are left out).

        The parts' entries are put end to end first and weighed in one pass: with many small
        segments, per-part arithmetic would cost more in numpy calls than in the work itself."""
        out: dict[str, TermEntries] = {}
        for term in dict.fromkeys(terms):
            with self._lock:
                cached = self._cache.get(term, False)
                if cached is not False:
                    self._cache.move_to_end(term)
            entries = self._weigh(term) if cached is False else cached
            if cached is False:
                self._remember(term, entries)
            if entries is not None:
                out[term] = entries
        return out

    def _remember(self, term: str, entries: TermEntries | None) -> None:
        size = 1 if entries is None else entries.size
        if size > self.cache_entries:
            return
        with self._lock:
            if term in self._cache:
                return
            self._cache[term] = entries
            self._cached += size
            while self._cached > self.cache_entries:
                _, old = self._cache.popitem(last=False)
                self._cached -= 1 if old is None else old.size

    def _weigh(self, term: str) -> TermEntries | None:
        found = self._live_entries(term)
        if not found:
            return None
        pieces, start = [], 0
        for i, rows, _ in found:
            pieces.append((i, start, start + len(rows), rows))
            start += len(rows)
        if len(found) == 1:
            i, rows, tf = found[0]
            physical = rows + np.int32(self.parts[i].offset)
            norm = self._norms(self.parts[i], rows)
        else:
            physical = np.concatenate([rows + np.int32(self.parts[i].offset) for i, rows, _ in found])
            tf = np.concatenate([tf for _, _, tf in found])
            norm = np.concatenate([self._norms(self.parts[i], rows) for i, rows, _ in found])
        # bm25s: tf / (k1 * (1 - b + b * dl / avg) + tf) in float64 (tf is cast inside the
        # division), times the float32 idf, stored as float32.
        norm += tf
        np.divide(tf, norm, out=norm)
        norm *= self.idf(start)
        return TermEntries(start, physical, norm.astype(np.float32), pieces)

    def document_frequency(self, term: str) -> int:
        return sum(len(rows) for _, rows, _ in self._live_entries(term))

    def scores(self, tokens: Sequence[str], n_rows: int) -> np.ndarray:
        """Summed BM25 of each document of the row space (``n_rows`` long) for the query terms
        ``tokens``: a repeated term counts again, terms are added in query order (as bm25s)."""
        out = np.zeros(n_rows, dtype=np.float32)
        found = self.entries(tokens)
        for token in tokens:
            term = found.get(token)
            if term is not None:
                np.add.at(out, term.rows, term.weights)  # one pass (``out[rows] += w`` makes three)
        return out

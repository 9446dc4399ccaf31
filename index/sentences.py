"""BM25 over the sentences of every chunk: a news question usually paraphrases one sentence, which
a whole-chunk score dilutes. Derived from a version's nodes, saved beside the version."""

from __future__ import annotations

import json
import logging
import os
import re
import shutil
import time
import uuid
from functools import cached_property
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN
from llama_index.core.schema import TextNode

from index.versions import IndexVersion

log = logging.getLogger(__name__)

STOPWORDS = frozenset(STOPWORDS_EN)  # what the BM25 indexes were built without (bm25s "en")


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

    def __init__(
        self,
        vocab: dict[str, int],
        indptr: np.ndarray,
        indices: np.ndarray,
        data: np.ndarray,
        starts: np.ndarray,
        n_sentences: int,
    ):
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
    def build(cls, nodes: list[TextNode], stemmer, token_pattern: str = r"(?u)\b\w\w+\b") -> SentenceIndex:
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
                    if word in STOPWORDS:
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
        np.savez(
            path / "postings.npz",
            indptr=self.indptr,
            indices=self.indices,
            data=self.data,
            starts=self.starts,
            n_sentences=np.int64(self.n_sentences),
        )
        (path / "vocab.json").write_text(json.dumps(self.vocab, ensure_ascii=False), "utf-8")

    @classmethod
    def load(cls, path: Path, n_chunks: int) -> SentenceIndex:
        with np.load(path / "postings.npz") as arrays:
            index = cls(
                json.loads((path / "vocab.json").read_text("utf-8")),
                arrays["indptr"],
                arrays["indices"],
                arrays["data"],
                arrays["starts"],
                int(arrays["n_sentences"]),
            )
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


def load_or_build_sentences(version: IndexVersion) -> SentenceIndex:
    """Load the version's sentence index, or build it and save it into the version directory
    (a derived file outside the version's checksummed manifest, so it never invalidates it;
    written to a temporary directory and renamed, so a reader never sees half of it)."""
    path = Path(version.path) / SENTENCE_INDEX_DIR if getattr(version, "path", None) else None
    if path is not None and path.exists():
        try:
            return SentenceIndex.load(path, version.n_chunks)
        except Exception as exc:  # damaged or from an older format: build it again
            log.warning(
                "sentence index of %s unusable (%s); rebuilding it", getattr(version, "name", "?"), exc
            )
            shutil.rmtree(path, ignore_errors=True)
    started = time.perf_counter()
    index = SentenceIndex.build(version.nodes, version.bm25.stemmer, version.bm25.token_pattern)
    log.info(
        "sentence index of %s built in %.1fs", getattr(version, "name", "?"), time.perf_counter() - started
    )
    if path is not None:
        tmp = path.with_name(f".{SENTENCE_INDEX_DIR}-{uuid.uuid4().hex[:8]}")
        try:
            index.save(tmp)
            os.rename(tmp, path)
        except OSError as exc:  # read-only data dir, or another process saved it first
            log.debug("sentence index of %s kept in memory only: %s", getattr(version, "name", "?"), exc)
            shutil.rmtree(tmp, ignore_errors=True)
    return index

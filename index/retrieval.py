"""Hybrid retrieval over one index version: dense (faiss, MiniLM) + BM25, fused by weighted scores.

Each list's scores are min-max normalised over the union of candidates and summed with weights
(LlamaIndex's "relative score" fusion, weighted). Reciprocal-rank fusion treats a weak dense
list as an equal of a strong BM25 list; on news with many names and dates it lost to BM25 alone,
so the weights are set by measurement (``negotiations-bot eval``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import bm25s
import numpy as np
from llama_index.core.retrievers import BaseRetriever
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from index.store import IndexVersion


@dataclass(frozen=True)
class RetrievalConfig:
    top_k: int = 10
    candidates: int = 50  # taken from each list before fusion
    bm25_weight: float = 0.6
    dense_weight: float = 0.4


@dataclass
class Hit:
    node: TextNode
    score: float  # fused, 0..1
    dense: float  # cosine similarity of question and chunk (with its header)
    bm25: float  # raw BM25 score


def _min_max(values: np.ndarray) -> np.ndarray:
    low, high = float(values.min(initial=0.0)), float(values.max(initial=0.0))
    return (values - low) / (high - low) if high > low else np.ones_like(values) * (high > 0)


class HybridRetriever(BaseRetriever):
    def __init__(
        self,
        version: IndexVersion,
        embed_query: Callable[[str], list[float]],
        config: RetrievalConfig = RetrievalConfig(),
    ):
        super().__init__()
        self.version = version
        self.embed_query = embed_query
        self.config = config

    def bm25_scores(self, query: str) -> np.ndarray:
        retriever = self.version.bm25
        tokens = bm25s.tokenize(
            query,
            stemmer=retriever.stemmer,
            token_pattern=retriever.token_pattern,
            return_ids=False,
            show_progress=False,
        )[0]
        if not tokens:
            return np.zeros(self.version.n_chunks, dtype="float32")
        return retriever.bm25.get_scores(list(tokens))

    def search(self, query: str, top_k: int | None = None, query_embedding=None) -> list[Hit]:
        version = self.version
        n = version.n_chunks
        if n == 0:
            return []
        top_k = top_k or self.config.top_k
        k = min(self.config.candidates, n)
        q = np.asarray(query_embedding if query_embedding is not None else self.embed_query(query), dtype="float32")
        _, dense_rows = version.vector_store.client.search(q[None, :], k)
        bm25_all = self.bm25_scores(query)
        bm25_rows = np.argpartition(-bm25_all, k - 1)[:k] if k < n else np.arange(n)
        rows = np.unique(np.concatenate([dense_rows[0][dense_rows[0] >= 0], bm25_rows[bm25_all[bm25_rows] > 0]]))
        dense = version.vectors[rows] @ q
        bm25 = bm25_all[rows]
        fused = self.config.dense_weight * _min_max(dense) + self.config.bm25_weight * _min_max(bm25)
        order = np.argsort(-fused, kind="stable")[:top_k]
        return [Hit(version.nodes[rows[i]], float(fused[i]), float(dense[i]), float(bm25[i])) for i in order]

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        hits = self.search(query_bundle.query_str, query_embedding=query_bundle.embedding)
        return [NodeWithScore(node=hit.node, score=hit.score) for hit in hits]

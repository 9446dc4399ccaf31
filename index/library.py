"""The knowledge library as one object: the live index version, its retriever, re-indexing.

Readers take ``library.retriever`` once per question, so each answer comes from exactly one
version even while a re-index publishes the next one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from index.articles import DEFAULT_MAX_ARTICLE_BYTES
from index.chunking import ChunkingConfig
from index.retrieval import Hit, HybridRetriever, RetrievalConfig
from index.store import IndexBusyError, IndexStore, IndexVersion, Progress, ReindexReport

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryConfig:
    data_dir: Path = Path("data")
    corpus_dir: Path = Path("seeds")
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES


class Library:
    def __init__(self, config: LibraryConfig = LibraryConfig(), embed_model=None):
        self.config = config
        self.store = IndexStore(config.data_dir, config.corpus_dir, config.chunking, config.max_article_bytes)
        self._embed_model = embed_model
        self._retriever: HybridRetriever | None = None
        self._reindex_lock = threading.Lock()
        self.last_report: ReindexReport | None = None

    @cached_property
    def embed_model(self):
        if self._embed_model is None:
            from index.embedding import load_embed_model

            self._embed_model = load_embed_model()
        return self._embed_model

    def embed_query(self, text: str) -> list[float]:
        return self.embed_model.get_query_embedding(text)

    def embed_texts(self, texts: list[str]) -> list[list[float]]:
        return self.embed_model.get_text_embedding_batch(texts)

    @property
    def version(self) -> IndexVersion | None:
        return self._retriever.version if self._retriever else None

    @property
    def retriever(self) -> HybridRetriever:
        """The live retriever; loads the persisted index, or builds one if there is none usable."""
        if self._retriever is None:
            with self._reindex_lock:
                if self._retriever is None:
                    version = self.store.load_current()
                    if version is None:
                        log.info("no usable index in %s: building it from %s", self.store.root, self.config.corpus_dir)
                        version, self.last_report = self.store.build(self.embed_texts)
                    self._retriever = HybridRetriever(version, self.embed_query, self.config.retrieval)
        return self._retriever

    def warm(self) -> None:
        """Load the index (building it if needed) and the embedding model, so questions are fast."""
        self.retriever
        self.embed_query("warm-up")

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        return self.retriever.search(query, top_k)

    def reindex(self, progress: Progress | None = None, fail_after_stage: str | None = None) -> ReindexReport:
        """Bring the index up to date with the corpus dir; raises IndexBusyError if one is running."""
        if not self._reindex_lock.acquire(blocking=False):
            raise IndexBusyError(f"a re-index is already running ({self.store.building_status() or 'starting'})")
        try:
            previous = self.version or self.store.load_current()
            version, report = self.store.build(self.embed_texts, previous, progress, fail_after_stage)
            self._retriever = HybridRetriever(version, self.embed_query, self.config.retrieval)
            self.last_report = report
            return report
        finally:
            self._reindex_lock.release()

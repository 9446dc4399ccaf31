"""The knowledge library as one object: the live index version, its retriever, re-indexing.

Readers take ``library.retriever`` once per question, so each answer comes from exactly one
version even while a re-index publishes the next one.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from index.articles import DEFAULT_MAX_ARTICLE_BYTES
from index.chunking import ChunkingConfig
from index.lock import BuildStatus, IndexBusyError, Progress
from index.retrieval import Hit, HybridRetriever, RetrievalConfig
from index.store import IndexStore, ReindexReport
from index.versions import IndexVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LibraryConfig:
    data_dir: Path = Path("data")
    corpus_dir: Path = Path("seeds")
    chunking: ChunkingConfig = field(default_factory=ChunkingConfig)
    retrieval: RetrievalConfig = field(default_factory=RetrievalConfig)
    max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES


class Library:
    BUSY_WAIT_SECONDS = 600.0  # a first question waits this long for another process's build

    def __init__(self, config: LibraryConfig = LibraryConfig(), embed_model=None):
        self.config = config
        self.store = IndexStore(config.data_dir, config.corpus_dir, config.chunking, config.max_article_bytes)
        self._embed_model = embed_model
        self._retriever: HybridRetriever | None = None
        self._reindex_lock = threading.Lock()
        self.last_report: ReindexReport | None = self.store.last_report()

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
        retriever = self._retriever
        return retriever.version if retriever else None

    @property
    def retriever(self) -> HybridRetriever:
        """The live retriever; loads the persisted index, or builds one if there is none usable.

        Take it once per question: it stays the same object (one index version) while a
        re-index publishes the next version and swaps ``library.retriever``.
        """
        retriever = self._retriever
        if retriever is None:
            with self._reindex_lock:
                retriever = self._retriever
                if retriever is None:
                    retriever = self._retriever = HybridRetriever(
                        self._load_or_build(), self.embed_query, self.config.retrieval
                    )
        return retriever

    def _load_or_build(self) -> IndexVersion:
        version = self.store.load_current()
        if version is not None:
            return version
        deadline = time.monotonic() + self.BUSY_WAIT_SECONDS
        while True:
            try:
                log.info(
                    "no usable index in %s: building it from %s", self.store.root, self.config.corpus_dir
                )
                version, self.last_report = self.store.build(self.embed_texts, need_version=True)
                return version
            except IndexBusyError:
                # Another process is building it: wait for it to publish, then load that.
                if time.monotonic() > deadline:
                    raise
                while self.store.building_status() is not None and time.monotonic() < deadline:
                    time.sleep(0.2)
                version = self.store.load_current()
                if version is not None:
                    return version

    def warm(self) -> None:
        """Load the index (building it if needed) and the embedding model, so questions are fast."""
        _ = self.retriever
        self.embed_query("warm-up")

    def search(self, query: str, top_k: int | None = None) -> list[Hit]:
        return self.retriever.search(query, top_k)

    def reindex(
        self,
        progress: Progress | None = None,
        fail_after_stage: str | None = None,
        deadline: float | None = None,
    ) -> ReindexReport:
        """Bring the index up to date with the corpus dir and switch to it.

        Raises IndexBusyError (with the running one's progress) if a re-index is running, in
        this process or another. Questions keep being answered from the old version meanwhile.
        A no-op re-index keeps the loaded version (nothing is rebuilt or reloaded). Past
        ``deadline`` (``time.monotonic()``) it stops with index.lock.ReindexTimeout.
        """
        if not self._reindex_lock.acquire(blocking=False):
            raise IndexBusyError(self.store.building_status())
        try:
            current = self.version
            version, report = self.store.build(
                self.embed_texts, current, progress, fail_after_stage, deadline=deadline
            )
            if version is None and current is not None and current.name != report.version:
                # Nothing to do, but another process published a newer version: switch to it.
                version = self.store.load_current()
            if version is not None and version is not current:
                self._retriever = HybridRetriever(version, self.embed_query, self.config.retrieval)
            self.last_report = report
            return report
        finally:
            self._reindex_lock.release()

    def pending_changes(self) -> ReindexReport | None:
        """What a re-index would change (None: nothing), without building or locking anything.
        Raises index.articles.CorpusError when the corpus cannot be read."""
        return self.store.changes(self.version)

    def status(self) -> BuildStatus | None:
        """The running re-index's progress (in any process), or None."""
        return self.store.building_status()

    def refresh(self) -> bool:
        """Switch to the live version if another process (the CLI) published a newer one.

        Cheap when nothing changed (reads the small CURRENT file). Skipped while a re-index runs
        here (it publishes and switches itself). Returns True if it switched.
        """
        current = self.version
        if current is None or self.store.current_name() in (None, current.name):
            return False
        if not self._reindex_lock.acquire(blocking=False):
            return False
        try:
            if self.version is not current:
                return False  # switched meanwhile
            version = self.store.load_current()
            if version is None or version.name == current.name:
                return False
            self._retriever = HybridRetriever(version, self.embed_query, self.config.retrieval)
            log.info("switched to index version %s (published by another process)", version.name)
            return True
        finally:
            self._reindex_lock.release()

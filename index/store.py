"""Re-indexing: bring the index up to date with the corpus directory and publish a new version.

A re-index compares the corpus with the live version's articles by content hash, reading only
files whose size or modification time changed (index/scan.py). Nothing changed: nothing is
built or written (a no-op), and a fresh process does not even load the version (its manifests
and checksums are enough). Otherwise the added and changed articles are chunked into **one new
segment**, and the new version lists the live version's segments, the new one, and the rows it
deletes (the old copies of changed articles, removed articles): the cost is that of what
changed, not of the corpus. Chunks whose embedded text equals an indexed chunk's (a renamed
article with the same title, an article with a paragraph appended) keep its vector; only the
rest is embedded. Without a usable previous version (none, or another chunking or model), one
segment with every article is built.

The storage (index/filestore.py for the embedded store) writes the segment and the version
beside the live one and publishes it in one atomic step, so readers see the old or the new
version and a crash at any point leaves the last good version serving. A live version that is
missing or does not load (damaged files) is not fatal: the newest version that loads is
re-published, or the index is rebuilt from the corpus if none does. Segments are compacted by
merges (index/merge.py), which change no answer.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from llama_index.core.schema import TextNode

from index.articles import DEFAULT_MAX_ARTICLE_BYTES, Article, read_article
from index.chunking import ChunkingConfig, chunk_article
from index.filestore import FileStorage
from index.lock import BuildStatus, Progress, ReindexTimeout
from index.merge import MergePolicy
from index.scan import STAT_CACHE_NAME, CorpusScan, StatCache, scan_corpus
from index.segments import (
    DIM,
    FORMAT_VERSION,
    MODEL_ID,
    ROW_ARRAYS,
    IndexCorruptError,
    Segment,
    derived_arrays,
    embed_text,
    new_segment_id,
    segment_meta,
)
from index.versions import IndexVersion

log = logging.getLogger(__name__)

EMBED_BATCH = 128


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
    partial: bool = False  # only named files were looked at (the others are not listed)
    files_read: int = 0  # article files read (the others' size and time were unchanged)
    segments: int = 0  # segments of the version now live

    @property
    def no_op(self) -> bool:
        return not (self.added or self.changed or self.removed)

    def counts(self) -> dict[str, int]:
        """How many articles were added, changed and removed."""
        return {k: len(getattr(self, k)) for k in ("added", "changed", "removed")}

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
        # Not dataclasses.asdict: it deep-copies every name one by one (15,000 unchanged articles).
        data = {name: getattr(self, name) for name in self.__dataclass_fields__}
        for name in ("added", "changed", "removed", "unchanged"):
            data[name] = list(data[name])
        data["skipped"] = [list(s) for s in self.skipped]
        return data | {"no_op": self.no_op}

    @classmethod
    def from_json(cls, data: dict) -> ReindexReport:
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        known["skipped"] = [tuple(s) for s in known.get("skipped", [])]
        return cls(**known)


def _diff(scan: CorpusScan, old_articles: dict[str, dict]) -> ReindexReport:
    """Added / changed / unchanged / removed articles of a scan against a version's articles."""
    report = ReindexReport(skipped=list(scan.skipped), partial=scan.partial, files_read=scan.read)
    for file in scan.files:
        old = old_articles.get(file.doc_id)
        if old is None:
            report.added.append(file.doc_id)
        elif old.get("hash") != file.content_hash:
            report.changed.append(file.doc_id)
        else:
            report.unchanged.append(file.doc_id)
    if scan.partial:
        report.removed = sorted(d for d in scan.missing if d in old_articles)
    else:
        present = {f.doc_id for f in scan.files}
        report.removed = sorted(set(old_articles) - present)
    return report


def _article_entry(article: Article) -> dict:
    return {
        "hash": article.content_hash,
        "title": article.title,
        "source": article.source,
        "published": article.published,
    }


class IndexStore:
    """The index of one corpus in one storage: load the live version, build and publish new ones."""

    def __init__(
        self,
        data_dir: Path,
        corpus_dir: Path,
        chunking: ChunkingConfig = ChunkingConfig(),
        max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
        storage=None,
        merge_policy: MergePolicy = MergePolicy(),
    ):
        self.storage = storage if storage is not None else FileStorage(Path(data_dir) / "index")
        self.merge_policy = merge_policy
        # Local to this machine, like the corpus directory it describes (index/scan.py).
        self.stat_cache_path = Path(data_dir) / "index" / STAT_CACHE_NAME
        self.corpus_dir = Path(corpus_dir)
        self.chunking = chunking
        self.max_article_bytes = max_article_bytes

    # ------------------------------------------------------------ reading

    @property
    def root(self) -> Path:
        return self.storage.root

    @property
    def pointer(self) -> Path:
        return self.storage.pointer

    def current_name(self) -> str | None:
        return self.storage.current_name()

    def version_names(self) -> list[str]:
        return self.storage.version_names()

    def load_current(self, attempts: int = 3) -> IndexVersion | None:
        """The live version, or None when there is none or it cannot be read (logged)."""
        for _ in range(attempts):
            name = self.storage.current_name()
            if not name:
                problem = self.storage.pointer_problem()
                if problem:
                    log.warning("%s; the index will be repaired", problem)
                return None
            try:
                return self.storage.load_version(name)
            except IndexCorruptError as exc:
                if self.storage.current_name() != name:
                    continue  # a re-index published (and cleaned up) meanwhile: read the new one
                log.warning("persisted index unusable, it will be repaired or rebuilt: %s", exc)
                return None
        return None

    def load_newest_good(self, exclude: str | None = None) -> IndexVersion | None:
        """The newest version that loads, for recovery when the live one is unusable."""
        for name in reversed(self.storage.version_names()):
            if name == exclude:
                continue
            try:
                return self.storage.load_version(name)
            except IndexCorruptError as exc:
                log.warning("version %s unusable: %s", name, exc)
        return None

    def building_status(self) -> BuildStatus | None:
        """How far the running re-index (in any process) got; None if none is running."""
        return self.storage.building_status()

    def last_report(self) -> ReindexReport | None:
        data = self.storage.last_report()
        try:
            return ReindexReport.from_json(data) if data else None
        except (TypeError, ValueError):
            return None

    def _compatible(self, manifest: dict | None) -> bool:
        return (
            bool(manifest)
            and manifest.get("chunking") == asdict(self.chunking)
            and manifest.get("model") == MODEL_ID
        )

    # ------------------------------------------------------------ building

    def build(
        self,
        embed_texts: Callable[[list[str]], list[list[float]]],
        previous: IndexVersion | None = None,
        progress: Progress | None = None,
        fail_after_stage: str | None = None,
        need_version: bool = False,
        deadline: float | None = None,
        only: list[str] | None = None,
    ) -> tuple[IndexVersion | None, ReindexReport]:
        """Bring the index up to date with the corpus dir; publish a new version if anything changed.

        ``previous`` is the caller's loaded copy of the live version (saves loading it again).
        ``only`` limits the re-index to those corpus files (paths relative to the corpus dir; a
        missing one is removed from the index). Returns the version now live and the report. For
        a no-op the version is ``previous`` if that is the live one; otherwise the live version is
        not loaded at all and None is returned, unless ``need_version``. Raises IndexBusyError
        when a re-index is running, index.articles.CorpusError when the corpus cannot be used
        (the live version keeps serving). ``fail_after_stage`` raises inside the build, for
        crash tests. Past ``deadline`` (``time.monotonic()``) the build stops at its next step
        with ReindexTimeout, publishing nothing.
        """
        started = time.perf_counter()
        self.storage.ensure()
        lock = self.storage.build_lock()
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

            self.storage.cleanup()
            name, manifest, known = self._known(previous, need_version)
            if not self._compatible(manifest):
                manifest, known = None, {}
            # A scan of named files reads them (they are few): the stat cache is for whole scans.
            cache = self._stat_cache() if only is None else None
            scan = scan_corpus(self.corpus_dir, cache, self.max_article_bytes, only)
            report_progress("reading", len(scan.files), len(scan.files))
            if manifest is not None:
                report = _diff(scan, known)
                if report.no_op:
                    # Nothing to do: no chunking, no embedding, nothing written, CURRENT untouched.
                    report.chunks = manifest.get("n_chunks", 0)
                    report.version = name
                    report.segments = len(manifest.get("segments", []))
                    version = previous if previous is not None and previous.name == name else None
                    return version, self._finish(report, started)
            live, recovered = self._live_version(previous)
            if scan.partial and (live is None or not self._compatible(live.manifest)):
                # Nothing usable to add the named files to: index the whole corpus.
                scan = scan_corpus(self.corpus_dir, self._stat_cache(), self.max_article_bytes)
            version, report = self._build_locked(embed_texts, live, scan, report_progress)
            report.recovered = recovered
            return version, self._finish(report, started)
        finally:
            lock.release()

    def _stat_cache(self) -> StatCache:
        return StatCache(self.stat_cache_path, self.corpus_dir)

    def _finish(self, report: ReindexReport, started: float) -> ReindexReport:
        report.seconds = time.perf_counter() - started
        report.finished = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
        self.storage.save_report(report.to_json())
        return report

    def _known(
        self, previous: IndexVersion | None, need_version: bool = False
    ) -> tuple[str | None, dict | None, dict]:
        """(live name, its manifest if usable for an incremental re-index, its articles), from
        ``previous`` when it is the live version, else from the checked manifests (no loading)."""
        name = self.storage.current_name()
        manifest, known = None, {}
        if previous is not None and previous.name == name:
            manifest, known = previous.manifest, previous.articles
        elif name and not need_version:
            verified = self.storage.verified_articles(name)
            if verified is not None:
                manifest, known = verified
        return name, manifest, known

    def changes(self, previous: IndexVersion | None = None) -> ReindexReport | None:
        """What differs between the corpus dir and the live version, without building anything
        or taking the lock: None when a re-index would be a no-op, else the diff (added, changed,
        removed; all unchanged when only the chunking or the model differs). Raises CorpusError."""
        _, manifest, known = self._known(previous)
        report = _diff(scan_corpus(self.corpus_dir, self._stat_cache(), self.max_article_bytes), known)
        return None if report.no_op and self._compatible(manifest) else report

    def _live_version(self, previous: IndexVersion | None) -> tuple[IndexVersion | None, str | None]:
        """The live version (loaded), repairing the pointer from the newest good version if needed."""
        name = self.storage.current_name()
        if previous is not None and name == previous.name:
            return previous, None
        live = self.load_current()
        if live is not None:
            return live, None
        problem = self.storage.pointer_problem() or (
            f"the live version {name} did not load" if name else None
        )
        fallback = self.load_newest_good(exclude=name)
        if fallback is None:
            return None, (problem + "; rebuilt from the corpus") if problem else None
        log.warning("%s: re-publishing %s", problem, fallback.name)
        self.storage.publish(fallback.name)
        return fallback, f"{problem}; re-published {fallback.name}"

    def _read_all(self, scan: CorpusScan, docs: list[str]) -> dict[str, Article]:
        """The articles ``docs`` of a scan (read now if the scan only checked their stat)."""
        by_doc = {f.doc_id: f for f in scan.files}
        out = {}
        for doc_id in docs:
            file = by_doc[doc_id]
            if file.article is None:
                file.article = read_article(self.corpus_dir / doc_id, self.corpus_dir, self.max_article_bytes)
            out[doc_id] = file.article
        return out

    def _build_locked(
        self, embed_texts, live: IndexVersion | None, scan: CorpusScan, progress: Progress
    ) -> tuple[IndexVersion, ReindexReport]:
        reusable = live if live is not None and self._compatible(live.manifest) else None
        report = _diff(scan, live.articles if live is not None else {})
        report.rebuilt_from_scratch = reusable is None
        if reusable is not None and report.no_op:  # e.g. the live version was just repaired
            report.chunks, report.version = reusable.n_chunks, reusable.name
            report.segments = len(reusable.segments)
            return reusable, report

        if reusable is not None:
            new_docs = sorted(report.added + report.changed)
            report.reused_chunks = sum(reusable.articles[d]["chunks"] for d in report.unchanged)
        else:
            new_docs = [f.doc_id for f in scan.files]
        articles = self._read_all(scan, new_docs)
        nodes: list[TextNode] = []
        entries: dict[str, dict] = {}
        for i, doc_id in enumerate(new_docs):
            article = articles[doc_id]
            nodes.extend(chunk_article(article, self.chunking))
            entries[doc_id] = _article_entry(article)
            progress("chunking", i + 1, len(new_docs))

        arrays = derived_arrays(nodes)
        vectors = np.zeros((len(nodes), DIM), dtype=np.float32)
        pending = np.ones(len(nodes), dtype=bool)
        source = reusable if reusable is not None else self.storage.legacy_vectors()
        if source is not None and nodes:
            # Chunks whose embedded text (title, source, date and chunk text) is identical to an
            # indexed chunk's keep its vector.
            found, old_vectors = source.find_vectors(arrays["embed_keys"])
            vectors[found] = old_vectors[found]
            pending &= ~found
            report.reused_chunks += int(found.sum())
        self._embed(embed_texts, nodes, vectors, np.flatnonzero(pending), report, progress)
        arrays["vectors"] = vectors
        for spec in ROW_ARRAYS:
            if spec.name not in arrays:
                raise ValueError(f"array {spec.name} has no compute function and was not filled")

        progress("writing", 0, 1)
        chunking = asdict(self.chunking)
        segments = list(reusable.segments) if reusable is not None else []
        deleted = {k: set(v) for k, v in (reusable.manifest.get("deleted") or {}).items()} if reusable else {}
        for doc_id in report.changed + report.removed:
            holder = reusable.segment_of(doc_id) if reusable is not None else None
            if holder is not None:
                deleted.setdefault(holder.id, set()).add(doc_id)
        new_segment = None
        if nodes:
            segment_id = new_segment_id()
            meta = segment_meta(segment_id, entries, nodes, MODEL_ID, chunking)
            new_segment = Segment(segment_id, meta, nodes, arrays)
            segments.append(new_segment)
        # A segment whose every article is deleted leaves the version (a merge in passing).
        segments = [s for s in segments if len(deleted.get(s.id, ())) < len(s.articles)]
        kept = {s.id for s in segments}
        deleted = {k: sorted(v) for k, v in deleted.items() if k in kept and v}
        name = self.storage.new_version_name()
        entries_by_id = {e["id"]: e for e in (reusable.manifest["segments"] if reusable else [])}
        if new_segment is not None:
            entries_by_id[new_segment.id] = self.storage.write_segment(new_segment)
            self.storage.commit_segment(new_segment)
        manifest = self._manifest(segments, entries_by_id, deleted)
        self.storage.write_version(name, manifest)
        progress("writing", 1, 1)

        version = self.storage.load_version(name)  # checks what was written before it goes live
        progress("publishing", 0, 1)
        self.storage.publish(name)
        report.published = True
        report.chunks = version.n_chunks
        report.version = name
        report.segments = len(version.segments)
        progress("publishing", 1, 1)
        self.storage.cleanup()
        return version, report

    def _manifest(self, segments: list[Segment], entries: dict[str, dict], deleted: dict) -> dict:
        n_chunks = sum(s.n_chunks for s in segments) - sum(
            s.articles[d]["chunks"] for s in segments for d in deleted.get(s.id, ())
        )
        return {
            "format": FORMAT_VERSION,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "model": MODEL_ID,
            "chunking": asdict(self.chunking),
            "corpus_dir": str(self.corpus_dir),
            "segments": [entries[s.id] for s in segments],
            "deleted": deleted,
            "n_chunks": n_chunks,
            "n_articles": sum(len(s.articles) - len(deleted.get(s.id, ())) for s in segments),
        }

    def _embed(self, embed_texts, nodes, vectors, pending, report, progress) -> None:
        texts = {int(p): embed_text(nodes[p]) for p in pending}
        # Longest first in large batches: less padding per batch than article order.
        order = sorted(texts, key=lambda p: -len(texts[p]))
        report.embedded_chunks = len(order)
        progress("embedding", 0, len(order))
        for start in range(0, len(order), EMBED_BATCH):
            batch = order[start : start + EMBED_BATCH]
            embedded = np.asarray(embed_texts([texts[p] for p in batch]), dtype="float32")
            if embedded.shape != (len(batch), DIM):
                raise ValueError(
                    f"the embedding model returned shape {embedded.shape}, expected ({len(batch)}, {DIM})"
                )
            vectors[batch] = embedded
            progress("embedding", start + len(batch), len(order))

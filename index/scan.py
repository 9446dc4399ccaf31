"""Finding what changed in the corpus directory without reading what did not.

A stat cache (``stat-cache.json`` in the data dir's index directory) remembers, per article file,
the size and modification time (ns) of the file and of its sidecar when it was last read, with
its content hash. A re-index lists the corpus directory, stats every article file, and reads (and
hashes) only files that are new or whose stat differs, so re-indexing 10,000 unchanged files
costs their directory listing, not reading them. Like git's index, a file changed within the
clock's granularity of being read could keep its stat: a file modified less than
``RACY_SECONDS`` before it was read is not cached, so it is read again next time. A missing or
unreadable cache only means reading every file once.

``only`` restricts a scan to named files (a feed or an upload knows what it wrote): the cost is
then that of those files, whatever the size of the corpus.
"""

from __future__ import annotations

import json
import logging
import os
import stat
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from index.articles import (
    ARTICLE_SUFFIXES,
    DEFAULT_MAX_ARTICLE_BYTES,
    SIDECAR_SUFFIX,
    Article,
    ArticleError,
    CorpusError,
    read_article,
)
from index.files import write_atomic

log = logging.getLogger(__name__)

RACY_SECONDS = 2.0
STAT_CACHE_NAME = "stat-cache.json"


class StatCache:
    """doc id → [size, mtime_ns, sidecar size, sidecar mtime_ns, content hash] of one corpus dir."""

    def __init__(self, path: Path | None, corpus_dir: Path):
        self.path = path
        self.corpus = str(Path(corpus_dir).resolve())
        self.entries: dict[str, list] = {}
        self.dirty = False
        if path is not None:
            try:
                data = json.loads(path.read_text("utf-8"))
                if data.get("corpus") == self.corpus and isinstance(data.get("files"), dict):
                    self.entries = data["files"]
            except (OSError, ValueError, AttributeError):
                pass

    def hash_for(self, doc_id: str, key: list[int]) -> str | None:
        entry = self.entries.get(doc_id)
        return entry[4] if isinstance(entry, list) and len(entry) == 5 and entry[:4] == key else None

    def put(self, doc_id: str, key: list[int], content_hash: str) -> None:
        self.entries[doc_id] = [*key, content_hash]
        self.dirty = True

    def keep_only(self, doc_ids: set[str]) -> None:
        gone = [d for d in self.entries if d not in doc_ids]
        for doc_id in gone:
            del self.entries[doc_id]
        self.dirty |= bool(gone)

    def save(self) -> None:
        if self.dirty and self.path is not None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(self.path, json.dumps({"corpus": self.corpus, "files": self.entries}))
                self.dirty = False
            except OSError as exc:
                log.debug("stat cache not saved: %s", exc)


@dataclass
class ScannedFile:
    doc_id: str
    content_hash: str
    article: Article | None = None  # None: not read, its stat matched the cached one


@dataclass
class CorpusScan:
    files: list[ScannedFile] = field(default_factory=list)  # by doc id
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, reason)
    missing: list[str] = field(default_factory=list)  # ``only`` files that do not exist (removed)
    partial: bool = False  # only some files were looked at (``only``)

    @property
    def read(self) -> int:
        return sum(f.article is not None for f in self.files)


def _stat_key(st: os.stat_result, sidecar: str | None) -> list[int]:
    key = [st.st_size, st.st_mtime_ns, -1, -1]
    if sidecar is not None:
        try:
            side = os.stat(sidecar)
            key[2:] = [side.st_size, side.st_mtime_ns]
        except OSError:
            pass
    return key


def _walk(corpus_dir: Path) -> list[tuple[str, str, list[int] | None]]:
    """(doc id, path, stat key) of every candidate article: .txt/.md names, not hidden, in real
    directories (symlinked directories are not entered, as ``rglob``); links and special files
    have no key (they are read every time, and ``read_article`` refuses what it must, with a
    reason). Strings, not Path objects: at 15,000 files, making Paths cost more than the stats."""
    found = []
    stack = [(str(corpus_dir), "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            with os.scandir(directory) as it:
                entries = list(it)
        except OSError as exc:
            log.warning("cannot list %s: %s", directory, exc)
            continue
        names = {e.name for e in entries}
        for entry in entries:
            name = entry.name
            if name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((entry.path, f"{prefix}{name}/"))
            elif os.path.splitext(name)[1].lower() in ARTICLE_SUFFIXES:
                try:
                    st = entry.stat()
                except OSError:
                    st = None  # a dangling link: reading it says why it is skipped
                if st is None or not stat.S_ISREG(st.st_mode) or entry.is_symlink():
                    # Links and special files are read (and refused with a reason, or checked to
                    # stay inside the corpus) every time: never cached, never silently dropped.
                    found.append((prefix + name, entry.path, None))
                    continue
                sidecar = entry.path + SIDECAR_SUFFIX if name + SIDECAR_SUFFIX in names else None
                found.append((prefix + name, entry.path, _stat_key(st, sidecar)))
    found.sort()
    return found


def _named(corpus_dir: Path, only: list[str], scan: CorpusScan) -> list[tuple[str, str, list[int] | None]]:
    found = []
    for name in dict.fromkeys(only):
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or any(p.startswith(".") for p in pure.parts):
            scan.skipped.append((name, "not a path inside the corpus directory"))
            continue
        if pure.suffix.lower() not in ARTICLE_SUFFIXES:
            scan.skipped.append((name, "not a .txt or .md file"))
            continue
        path = str(corpus_dir / pure)
        if not os.path.lexists(path):
            scan.missing.append(pure.as_posix())
            continue
        try:
            st = os.stat(path)
        except OSError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode) or os.path.islink(path):
            found.append((pure.as_posix(), path, None))  # read, and refused with a reason
            continue
        sidecar = path + SIDECAR_SUFFIX
        found.append((pure.as_posix(), path, _stat_key(st, sidecar if os.path.isfile(sidecar) else None)))
    return found


def scan_corpus(
    corpus_dir: Path,
    cache: StatCache | None = None,
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    only: list[str] | None = None,
) -> CorpusScan:
    """The corpus's article files, reading only those whose stat differs from the cache's. Bad
    files are skipped with a reason; a corpus (not an ``only`` scan) without one readable article
    raises CorpusError. A whole-corpus scan updates and saves the cache."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist (set CORPUS_DIR or create it)")
    cache = cache if cache is not None else StatCache(None, corpus_dir)
    scan = CorpusScan(partial=only is not None)
    candidates = _walk(corpus_dir) if only is None else _named(corpus_dir, only, scan)
    for doc_id, path, key in candidates:
        known = cache.hash_for(doc_id, key) if key is not None else None
        if known is not None:
            scan.files.append(ScannedFile(doc_id, known))
            continue
        try:
            article = read_article(Path(path), corpus_dir, max_bytes)
        except ArticleError as exc:
            log.warning("skipping %s: %s", doc_id, exc)
            scan.skipped.append((doc_id, str(exc)))
            continue
        if key is not None and time.time() - max(key[1], key[3]) / 1e9 >= RACY_SECONDS:
            cache.put(doc_id, key, article.content_hash)
        scan.files.append(ScannedFile(doc_id, article.content_hash, article))
    if only is None:
        if not scan.files:
            detail = f"; skipped: {', '.join(f'{d} ({r})' for d, r in scan.skipped)}" if scan.skipped else ""
            raise CorpusError(f"no readable .txt/.md articles in {corpus_dir}{detail}")
        cache.keep_only({f.doc_id for f in scan.files})
        cache.save()
    return scan

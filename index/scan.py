"""Finding what changed in the corpus directory without reading what did not.

Each indexed article keeps the ``stat`` of its file (and sidecar) from when it was read: size
and modification time in nanoseconds. A re-index lists the corpus directory, stats every article
file, and reads (and hashes) only the files whose stat differs or that are new, so re-indexing
10,000 unchanged files costs their directory listing, not reading them. Like git's index, a file
changed within the clock's granularity of being read could keep its stat: a file modified less
than ``RACY_SECONDS`` before it was read records no stat, so it is read again next time.

``only`` restricts a scan to named files (a feed or an upload knows what it wrote): the cost is
then that of those files, whatever the size of the corpus.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
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

log = logging.getLogger(__name__)

RACY_SECONDS = 2.0


@dataclass
class ScannedFile:
    doc_id: str
    content_hash: str
    stat: list[int] | None  # [size, mtime_ns, sidecar size, sidecar mtime_ns] (-1: no sidecar)
    article: Article | None = None  # None: not read, its stat matched the indexed one


@dataclass
class CorpusScan:
    files: list[ScannedFile] = field(default_factory=list)  # by doc id
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (doc_id, reason)
    missing: list[str] = field(default_factory=list)  # ``only`` files that do not exist (removed)
    partial: bool = False  # only some files were looked at (``only``)

    @property
    def read(self) -> int:
        return sum(f.article is not None for f in self.files)


def _stat_key(path: Path, sidecar_present: bool) -> list[int]:
    st = path.stat()
    key = [st.st_size, st.st_mtime_ns, -1, -1]
    if sidecar_present:
        try:
            side = path.with_name(path.name + SIDECAR_SUFFIX).stat()
            key[2:] = [side.st_size, side.st_mtime_ns]
        except OSError:
            pass
    return key


def _walk(corpus_dir: Path) -> list[tuple[str, Path, bool]]:
    """(doc id, path, has a sidecar) of every article file: .txt/.md, not hidden, in real
    directories (symlinked files count, symlinked directories are not entered, as ``rglob``)."""
    found = []
    stack = [(corpus_dir, "")]
    while stack:
        directory, prefix = stack.pop()
        try:
            entries = list(os.scandir(directory))
        except OSError as exc:
            log.warning("cannot list %s: %s", directory, exc)
            continue
        names = {e.name for e in entries}
        for entry in entries:
            if entry.name.startswith("."):
                continue
            if entry.is_dir(follow_symlinks=False):
                stack.append((Path(entry.path), f"{prefix}{entry.name}/"))
            elif os.path.splitext(entry.name)[1].lower() in ARTICLE_SUFFIXES and entry.is_file():
                found.append((prefix + entry.name, Path(entry.path), entry.name + SIDECAR_SUFFIX in names))
    return sorted(found)


def _named(corpus_dir: Path, only: list[str], scan: CorpusScan) -> list[tuple[str, Path, bool]]:
    found = []
    for name in dict.fromkeys(only):
        pure = PurePosixPath(name)
        if pure.is_absolute() or ".." in pure.parts or any(p.startswith(".") for p in pure.parts):
            scan.skipped.append((name, "not a path inside the corpus directory"))
            continue
        if pure.suffix.lower() not in ARTICLE_SUFFIXES:
            scan.skipped.append((name, "not a .txt or .md file"))
            continue
        path = corpus_dir / pure
        if not path.is_file():
            scan.missing.append(pure.as_posix())
            continue
        found.append((pure.as_posix(), path, path.with_name(path.name + SIDECAR_SUFFIX).is_file()))
    return found


def scan_corpus(
    corpus_dir: Path,
    known: Mapping[str, dict],
    max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES,
    only: list[str] | None = None,
) -> CorpusScan:
    """The corpus's article files, reading only those whose stat differs from ``known`` (the
    index's articles: doc id → entry with ``hash`` and ``stat``). Bad files are skipped with a
    reason; a corpus (not an ``only`` scan) without one readable article raises CorpusError."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus directory {corpus_dir} does not exist (set CORPUS_DIR or create it)")
    scan = CorpusScan(partial=only is not None)
    candidates = _walk(corpus_dir) if only is None else _named(corpus_dir, only, scan)
    for doc_id, path, has_sidecar in candidates:
        try:
            key = _stat_key(path, has_sidecar)
        except OSError:
            scan.missing.append(doc_id)  # removed between listing and stat
            continue
        entry = known.get(doc_id)
        if entry is not None and entry.get("stat") == key:
            scan.files.append(ScannedFile(doc_id, entry["hash"], key))
            continue
        try:
            article = read_article(path, corpus_dir, max_bytes)
        except ArticleError as exc:
            log.warning("skipping %s: %s", doc_id, exc)
            scan.skipped.append((doc_id, str(exc)))
            continue
        racy = time.time() - max(key[1], key[3]) / 1e9 < RACY_SECONDS
        scan.files.append(ScannedFile(doc_id, article.content_hash, None if racy else key, article))
    if only is None and not scan.files:
        detail = f"; skipped: {', '.join(f'{d} ({r})' for d, r in scan.skipped)}" if scan.skipped else ""
        raise CorpusError(f"no readable .txt/.md articles in {corpus_dir}{detail}")
    return scan

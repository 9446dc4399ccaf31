"""The index on disk (the embedded store): immutable segments and versions under ``data/index/``,
an atomic ``CURRENT`` pointer, and file locks.

Layout::

    CURRENT                  name of the live version, replaced atomically (os.replace)
    v-<seq>-<time>-<id>/     a version: manifest.json (its segments with the sha256 of their
                             segment.json, the articles it deletes from them, counts, model,
                             chunking); never modified after it is written
    segments/s-<time>-<id>/  a segment (index/segments.py), never modified:
        segment.json         articles, counts, model, chunking; where each array is in arrays.bin
                             (offset, dtype, shape) and that file's size and sha256
        arrays.bin           the named arrays end to end (64-byte aligned): vectors, postings,
                             lengths, and the chunks' ids, texts and sentence offsets
    .build-<id>/             a segment or version being written; left over only by a crash
    .merge-<id>/             a segment a merge is writing (removed when no merge is running)
    .lock                    flock held while a re-index (or a merge's publication) runs; holds
                             its progress as JSON
    .merge-lock              flock held while a merge writes its segment
    last-reindex.json        the report of the last finished re-index (for /stats)

Every file is fsynced before the rename that makes it visible, and the pointer is replaced in one
step, so a crash or kill at any point leaves the last published version intact. Segments are
loaded once per process and kept by id while any loaded version uses them; a segment found in
that cache is used again only if its files' size, modification time and inode are unchanged.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
import shutil
import threading
import time
import uuid
import weakref
from pathlib import Path

from index.files import fsync_dir, write_atomic
from index.legacy import legacy_vectors
from index.lock import LOCK_NAME, BuildLock, BuildStatus, read_status
from index.segment_io import map_segment, segment_bytes
from index.segments import FORMAT_VERSION, IndexCorruptError, Segment, valid_segment_id
from index.versions import IndexVersion

log = logging.getLogger(__name__)

SEGMENTS_DIR = "segments"
MERGE_LOCK_NAME = ".merge-lock"
LAST_REPORT_NAME = "last-reindex.json"
SEGMENT_FILES = ("segment.json", "arrays.bin")
# v-<seq>-<time>-<id> (and the older v-<time>-<id>): never a path separator or "..".
_VERSION_NAME = re.compile(r"^v-[0-9A-Za-z]+(?:-[0-9A-Za-z]+){1,3}$")

# Loaded segments, by directory: kept while a loaded version refers to them.
_loaded: weakref.WeakValueDictionary[str, Segment] = weakref.WeakValueDictionary()


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def version_order(name: str) -> tuple[int, str]:
    """Sort key: the publication sequence number; versions from before it came first."""
    parts = name.split("-")
    if len(parts) >= 3 and len(parts[1]) == 6 and parts[1].isdigit():
        return int(parts[1]), name
    return -1, name


def _signature(path: Path) -> tuple:
    out = []
    for name in SEGMENT_FILES:
        st = (path / name).stat()
        out.append((st.st_size, st.st_mtime_ns, st.st_ino))
    return tuple(out)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


class FileStorage:
    """Versions, segments, pointer and locks of one data dir's index."""

    def __init__(self, root: Path):
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FileStorage({self.root})"

    @property
    def pointer(self) -> Path:
        return self.root / "CURRENT"

    @property
    def segments_dir(self) -> Path:
        return self.root / SEGMENTS_DIR

    def ensure(self) -> None:
        self.segments_dir.mkdir(parents=True, exist_ok=True)

    # ---------------------------------------------------------------- locks

    def build_lock(self) -> BuildLock:
        return BuildLock(self.root / LOCK_NAME)

    def merge_lock(self) -> BuildLock:
        return BuildLock(self.root / MERGE_LOCK_NAME)

    def building_status(self) -> BuildStatus | None:
        return read_status(self.root / LOCK_NAME)

    # ---------------------------------------------------------------- versions

    def current_name(self) -> str | None:
        """The live version's name; None if CURRENT is missing, unreadable or nonsense."""
        try:
            name = self.pointer.read_bytes().decode("utf-8").strip()
        except (OSError, UnicodeDecodeError):
            return None
        return name if _VERSION_NAME.match(name) else None

    def pointer_problem(self) -> str | None:
        """Why there is no usable pointer although versions exist (for the repair message)."""
        if not self.pointer.exists():
            return None if not self.version_names() else "the index pointer CURRENT was missing"
        if self.current_name() is None:
            return "the index pointer CURRENT was unreadable"
        return None

    def version_names(self) -> list[str]:
        """Every version directory, oldest first."""
        try:
            names = [p.name for p in self.root.iterdir() if _VERSION_NAME.match(p.name)]
        except OSError:
            return []
        return sorted((n for n in names if (self.root / n).is_dir()), key=version_order)

    def new_version_name(self) -> str:
        seqs = [version_order(n)[0] for n in self.version_names()]
        current = self.current_name()
        if current:
            seqs.append(version_order(current)[0])
        seq = max(seqs, default=0) + 1
        return f"v-{seq:06d}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"

    def read_manifest(self, name: str) -> dict:
        try:
            manifest = json.loads((self.root / name / "manifest.json").read_text("utf-8"))
        except (OSError, ValueError) as exc:
            raise IndexCorruptError(f"{name}: manifest unreadable ({exc})") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(f"{name}: index format is not {FORMAT_VERSION}")
        if not isinstance(manifest.get("segments"), list) or not isinstance(
            manifest.get("deleted", {}), dict
        ):
            raise IndexCorruptError(f"{name}: manifest lists no segments")
        return manifest

    def load_version(self, name: str) -> IndexVersion:
        """The version ``name`` with its segments (loaded ones reused); IndexCorruptError if any
        part is missing, damaged (size or sha256) or inconsistent."""
        manifest = self.read_manifest(name)
        try:
            segments = [self.load_segment(entry) for entry in manifest["segments"]]
            for segment in segments:
                if segment.meta.get("model") != manifest.get("model") or segment.meta.get(
                    "chunking"
                ) != manifest.get("chunking"):
                    raise IndexCorruptError(f"{name}: segment {segment.id} has another model or chunking")
            return IndexVersion(name, manifest, segments, self.root / name)
        except IndexCorruptError as exc:
            raise IndexCorruptError(f"{name}: {exc}") from exc
        except Exception as exc:  # any unreadable part means the version cannot serve
            raise IndexCorruptError(f"{name}: {type(exc).__name__}: {exc}") from exc

    def write_version(self, name: str, manifest: dict) -> None:
        """Write a version durably (not yet live: ``publish`` makes it so)."""
        build = self.root / f".build-{name.rsplit('-', 1)[1]}"
        build.mkdir(parents=True)
        _write_synced(build / "manifest.json", json.dumps(manifest, ensure_ascii=False, indent=1).encode())
        fsync_dir(build)
        os.rename(build, self.root / name)
        fsync_dir(self.root)

    def publish(self, name: str) -> None:
        write_atomic(self.pointer, name + "\n")

    def wait_for_change(
        self, current: str | None, timeout: float, stop: threading.Event | None = None
    ) -> bool:
        """Whether the live version stopped being ``current`` within ``timeout`` seconds (files
        cannot notify: the small pointer file is read every half second)."""
        deadline = time.monotonic() + timeout
        while True:
            name = self.current_name()
            if name is not None and name != current:
                return True
            left = deadline - time.monotonic()
            if left <= 0 or (stop is not None and stop.wait(min(0.5, left))):
                return False
            if stop is None:
                time.sleep(min(0.5, left))

    # ---------------------------------------------------------------- segments

    def _segment_path(self, segment_id: str) -> Path:
        if not valid_segment_id(segment_id):
            raise IndexCorruptError(f"bad segment id {segment_id!r}")
        return self.segments_dir / segment_id

    def load_segment(self, entry: dict) -> Segment:
        path = self._segment_path(entry.get("id"))
        try:
            cached = _loaded.get(str(path))
            if cached is not None and cached.file_signature == _signature(path):
                return cached
            raw = (path / "segment.json").read_bytes()
            if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
                raise IndexCorruptError(f"segment {entry['id']}: segment.json is damaged (checksum differs)")
            with open(path / "arrays.bin", "rb") as f:
                segment = map_segment(entry["id"], json.loads(raw), f)  # the mapping outlives f
            segment.file_signature = _signature(path)
        except OSError as exc:
            raise IndexCorruptError(f"segment {entry.get('id')} unreadable ({exc})") from exc
        _loaded[str(path)] = segment
        return segment

    def write_segment(self, segment: Segment, merging: bool = False) -> dict:
        """Write a segment into a hidden staging directory (fsynced; its checksum is that of what
        reads back from the disk); returns its entry for a version manifest. ``commit_segment``
        moves it into place."""
        staging = self.root / f"{'.merge' if merging else '.build'}-{segment.id}"
        staging.mkdir(parents=True)
        layout, pieces = segment_bytes(segment)
        with open(staging / "arrays.bin", "wb") as f:
            for piece in pieces:
                f.write(piece)
            f.flush()
            os.fsync(f.fileno())
        file = {
            "size": (staging / "arrays.bin").stat().st_size,
            "sha256": file_digest(staging / "arrays.bin"),
        }
        raw = json.dumps(segment.meta | {"arrays": layout, "file": file}, ensure_ascii=False).encode()
        _write_synced(staging / "segment.json", raw)
        fsync_dir(staging)
        return {"id": segment.id, "sha256": hashlib.sha256(raw).hexdigest(), "chunks": segment.n_chunks}

    def commit_segment(self, segment: Segment) -> None:
        """Move a written segment into ``segments/`` (under the build lock) and remember it loaded."""
        for prefix in (".build", ".merge"):
            staging = self.root / f"{prefix}-{segment.id}"
            if staging.exists():
                break
        else:
            raise FileNotFoundError(f"segment {segment.id} was not written")
        self.ensure()
        final = self._segment_path(segment.id)
        os.rename(staging, final)
        fsync_dir(self.segments_dir)
        segment.file_signature = _signature(final)
        _loaded[str(final)] = segment

    def discard_segment(self, segment: Segment) -> None:
        for prefix in (".build", ".merge"):
            shutil.rmtree(self.root / f"{prefix}-{segment.id}", ignore_errors=True)

    def legacy_vectors(self):
        """Embeddings of a live version written before segments (index/legacy.py), or None."""
        return legacy_vectors(self.root, self.current_name())

    # ---------------------------------------------------------------- the no-op check

    def verified_articles(self, name: str) -> tuple[dict, dict[str, dict]] | None:
        """(manifest, live articles) of version ``name`` if every file it uses is intact (size and
        sha256; segments loaded in this process are known intact), else None."""
        try:
            manifest = self.read_manifest(name)
            deleted = manifest.get("deleted") or {}
            articles: dict[str, dict] = {}
            for entry in manifest["segments"]:
                path = self._segment_path(entry["id"])
                cached = _loaded.get(str(path))
                if cached is not None and cached.file_signature == _signature(path):
                    meta = cached.meta
                else:
                    raw = (path / "segment.json").read_bytes()
                    if hashlib.sha256(raw).hexdigest() != entry.get("sha256"):
                        return None
                    meta = json.loads(raw)
                    file, expected = path / "arrays.bin", meta["file"]
                    if file.stat().st_size != expected["size"] or file_digest(file) != expected["sha256"]:
                        return None
                gone = set(deleted.get(entry["id"]) or ())
                articles.update((d, e) for d, e in meta["articles"].items() if d not in gone)
        except (OSError, ValueError, TypeError, KeyError, AttributeError, IndexCorruptError):
            return None
        return manifest, articles

    # ---------------------------------------------------------------- reports

    def last_report(self) -> dict | None:
        try:
            return json.loads((self.root / LAST_REPORT_NAME).read_text("utf-8"))
        except (OSError, ValueError):
            return None

    def save_report(self, report: dict) -> None:
        try:
            write_atomic(self.root / LAST_REPORT_NAME, json.dumps(report, ensure_ascii=False))
        except OSError as exc:
            log.warning("could not record the re-index report: %s", exc)

    # ---------------------------------------------------------------- cleaning up

    def cleanup(self) -> None:
        """Remove unfinished builds, pointer temp files, versions nobody can reach and segments no
        kept version uses. Kept: the live version and the newest one before it (a process that
        read CURRENT just before a switch may still be loading it). Called with the build lock."""
        for path in self.root.glob(".build-*"):
            log.info("removing unfinished build %s", path.name)
            shutil.rmtree(path, ignore_errors=True)
        for path in self.root.glob("*.tmp"):
            path.unlink(missing_ok=True)
        merge_lock = self.merge_lock()
        try:
            merge_lock.acquire()
        except Exception:
            pass  # a merge is writing: its staging directory stays
        else:
            try:
                for path in self.root.glob(".merge-*"):
                    if path.name != MERGE_LOCK_NAME:
                        shutil.rmtree(path, ignore_errors=True)
            finally:
                merge_lock.release()
        live = self.current_name()
        names = self.version_names()
        if live not in names:
            return  # nothing is live: leave every version (and segment) for recovery
        older = [n for n in names if version_order(n) < version_order(live)]
        keep = {live, *older[-1:]}
        for name in names:
            if name not in keep:
                log.info("removing old or unpublished version %s", name)
                shutil.rmtree(self.root / name, ignore_errors=True)
        used: set[str] = set()
        for name in keep:
            try:
                used |= {entry["id"] for entry in self.read_manifest(name)["segments"]}
            except (IndexCorruptError, KeyError, TypeError):
                if name == live:
                    return  # the live manifest is unreadable: remove no segment
        try:
            present = [p for p in self.segments_dir.iterdir() if p.is_dir()]
        except OSError:
            return
        for path in present:
            if path.name not in used:
                log.info("removing segment %s (no kept version uses it)", path.name)
                shutil.rmtree(path, ignore_errors=True)

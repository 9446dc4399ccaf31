"""One re-index at a time, across threads and processes: an exclusive ``flock`` on
``data/index/.lock``, with the running re-index's progress written into the same file so that
anyone refused can say how far it got."""

from __future__ import annotations

import errno
import fcntl
import json
import os
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

LOCK_NAME = ".lock"
_STATUS_INTERVAL = 0.25  # seconds between progress writes into the lock file

# progress(stage, done, total). Stages, in order: "reading" (articles), "chunking" (articles),
# "embedding" (chunks), "writing" (0/1 then 1/1), "publishing" (0/1 then 1/1). A merge of
# segments (index/merge.py) reports "merging" while it holds the lock to publish.
Progress = Callable[[str, int, int], None]
STAGES = ("reading", "chunking", "embedding", "writing", "publishing")
MERGING = "merging"
_STAGE_UNITS = {"reading": "articles", "chunking": "articles", "embedding": "chunks"}


@dataclass
class BuildStatus:
    """How far a running re-index got (what it last wrote into the lock file)."""

    pid: int
    started: float  # time.time()
    stage: str = "starting"
    done: int = 0
    total: int = 0

    def describe(self, now: float | None = None) -> str:
        elapsed = max(0.0, (now or time.time()) - self.started)
        unit = _STAGE_UNITS.get(self.stage)
        if unit and self.total:
            where = f"{self.stage} {self.done}/{self.total} {unit}"
        else:
            where = self.stage
        return f"{where}, running for {elapsed:.0f}s"


class IndexBusyError(Exception):
    """Another re-index holds the lock; the message says how far it got."""

    def __init__(self, status: BuildStatus | None):
        self.status = status
        super().__init__(f"a re-index is already running ({status.describe() if status else 'starting'})")


class ReindexTimeout(TimeoutError):
    """A re-index ran past its deadline and was stopped (between two steps); nothing was published."""


class BuildLock:
    """The re-index lock: an exclusive flock on ``.lock`` plus the progress written into it."""

    def __init__(self, path: Path):
        self.path = path
        self.fd: int | None = None
        self.status: BuildStatus | None = None
        self._written = 0.0

    def acquire(self, wait: float = 0.0) -> None:
        """Take the lock, or raise IndexBusyError with the holder's progress; ``wait`` seconds
        are spent retrying first (a merge waits for a re-index to finish before publishing)."""
        deadline = time.monotonic() + wait
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except OSError as exc:
                os.close(fd)
                if exc.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                    raise
                if time.monotonic() >= deadline:
                    raise IndexBusyError(read_status(self.path)) from None
                time.sleep(0.05)
        self.fd = fd
        self.status = BuildStatus(pid=os.getpid(), started=time.time())
        self.write(force=True)

    def update(self, stage: str, done: int, total: int) -> None:
        status = self.status
        assert status is not None
        stage_changed = stage != status.stage
        status.stage, status.done, status.total = stage, done, total
        self.write(force=stage_changed or done >= total)

    def write(self, force: bool = False) -> None:
        now = time.monotonic()
        if self.fd is None or (not force and now - self._written < _STATUS_INTERVAL):
            return
        self._written = now
        data = json.dumps(asdict(self.status)).encode()
        # One pwrite of a short record, then cut off any longer previous record: a reader
        # sees either the old or the new JSON, or (rarely) something it cannot parse.
        os.pwrite(self.fd, data, 0)
        os.ftruncate(self.fd, len(data))

    def release(self) -> None:
        if self.fd is not None:
            try:
                os.ftruncate(self.fd, 0)
            finally:
                os.close(self.fd)  # closing releases the flock
                self.fd = None


def read_status(lock_path: Path) -> BuildStatus | None:
    """The progress a running re-index last wrote, or None when no re-index holds the lock."""
    try:
        fd = os.open(lock_path, os.O_RDONLY)
    except OSError:
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except OSError:
            held = True  # someone holds it exclusively: a re-index is running
        else:
            held = False
            fcntl.flock(fd, fcntl.LOCK_UN)
        if not held:
            return None
        raw = os.pread(fd, 4096, 0)
    finally:
        os.close(fd)
    try:
        data = json.loads(raw)
        return BuildStatus(**{k: data[k] for k in ("pid", "started", "stage", "done", "total")})
    except (ValueError, KeyError, TypeError):
        return BuildStatus(pid=0, started=time.time())

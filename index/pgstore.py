"""The index in PostgreSQL (``DATABASE_URL``): the same segments and versions as the files store
(index/filestore.py), so several processes on several machines share one index.

Tables (``INDEX_MIGRATIONS``): ``index_segments`` (a segment's meta as JSON text, its checksum,
whether it is committed) and ``index_segment_data`` (its arrays as ``bytea`` parts: vectors,
postings, the chunks' texts: what every process loads), ``index_chunks`` (one row per chunk with
its text and a pgvector ``vector(384)`` embedding under an HNSW index: the chunks queryable in
SQL), ``index_versions`` (manifests), ``index_live`` (the live version: one row),
``index_status`` (the running re-index's progress) and ``index_reports`` (the last report).

Publishing is one transaction that points ``index_live`` at the new version and sends
``NOTIFY index_version``; processes listening switch within a moment, and poll as a fallback.
One re-index at a time across all processes: a session advisory lock, released by the server if
the process holding it dies. Merges write their segment uncommitted under a second advisory lock
and commit it when they publish. Every statement that the database interrupts (a restart) is
retried on a fresh connection or reported; nothing is live until its publishing transaction
commits, so an interruption never leaves a half-written version serving.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import socket
import threading
import time
import uuid
import weakref
import zlib
from collections.abc import Iterator

from index.lock import BuildStatus, IndexBusyError
from index.pg import DatabaseUnavailable, connect, describe_url, explain, migrate, retrying
from index.segment_io import read_segment, segment_bytes
from index.segments import DIM, FORMAT_VERSION, IndexCorruptError, Segment
from index.versions import IndexVersion

log = logging.getLogger(__name__)

PART_BYTES = 32 * 2**20
CHANNEL = "index_version"
_STATUS_INTERVAL = 0.25
INDEX_MIGRATIONS: list[str] = [
    # 1: segments, their bytes and chunks (pgvector, HNSW), versions, the live pointer, status.
    f"""
    CREATE EXTENSION IF NOT EXISTS vector;
    CREATE TABLE index_segments (
        id text PRIMARY KEY,
        meta text NOT NULL,               -- JSON: articles, counts, model, chunking, array layout
        meta_sha256 text NOT NULL,
        committed boolean NOT NULL DEFAULT false,
        created timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE index_segment_data (
        segment_id text NOT NULL REFERENCES index_segments(id) ON DELETE CASCADE,
        part integer NOT NULL,
        data bytea NOT NULL,
        sha256 text NOT NULL,
        PRIMARY KEY (segment_id, part)
    );
    CREATE TABLE index_chunks (
        segment_id text NOT NULL REFERENCES index_segments(id) ON DELETE CASCADE,
        row integer NOT NULL,
        node_id text NOT NULL,
        doc text NOT NULL,
        text text NOT NULL,
        embedding vector({DIM}) NOT NULL,
        PRIMARY KEY (segment_id, row)
    );
    CREATE INDEX index_chunks_embedding ON index_chunks USING hnsw (embedding vector_ip_ops);
    CREATE TABLE index_versions (
        name text PRIMARY KEY,
        seq bigint NOT NULL UNIQUE,
        manifest jsonb NOT NULL,
        created timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE index_live (
        id integer PRIMARY KEY CHECK (id = 1),
        version text NOT NULL REFERENCES index_versions(name),
        published timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE index_status (
        id integer PRIMARY KEY CHECK (id = 1),
        status jsonb NOT NULL
    );
    CREATE TABLE index_reports (
        id integer PRIMARY KEY CHECK (id = 1),
        report jsonb NOT NULL
    );
    """,
]

# Loaded segments, by database and id: kept while a loaded version refers to them.
_loaded: weakref.WeakValueDictionary[tuple[str, str], Segment] = weakref.WeakValueDictionary()


def _lock_key(name: str) -> int:
    return zlib.crc32(f"negotiations-bot {name}".encode())


BUILD_LOCK, MERGE_LOCK = _lock_key("index build"), _lock_key("index merge")


class PgLock:
    """A session advisory lock held on its own connection, with the holder's progress (for the
    re-index lock) in ``index_status``: the same interface as the files store's ``BuildLock``."""

    def __init__(self, storage: PgStorage, key: int, with_status: bool):
        self.storage, self.key, self.with_status = storage, key, with_status
        self.conn = None
        self.status: BuildStatus | None = None
        self._written = 0.0

    def acquire(self, wait: float = 0.0) -> None:
        conn = connect(self.storage.url)
        deadline = time.monotonic() + wait
        try:
            while not conn.execute("SELECT pg_try_advisory_lock(%s)", (self.key,)).fetchone()[0]:
                if time.monotonic() >= deadline:
                    raise IndexBusyError(self.storage.building_status() if self.with_status else None)
                time.sleep(0.05)
        except BaseException:
            conn.close()
            raise
        self.conn = conn
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
        if (
            not self.with_status
            or self.conn is None
            or (not force and now - self._written < _STATUS_INTERVAL)
        ):
            return
        self._written = now
        data = {"pid": self.status.pid, "host": socket.gethostname()} | {
            k: getattr(self.status, k) for k in ("started", "stage", "done", "total")
        }
        self.conn.execute(
            "INSERT INTO index_status (id, status) VALUES (1, %s)"
            " ON CONFLICT (id) DO UPDATE SET status = excluded.status",
            (json.dumps(data),),
        )

    def release(self) -> None:
        conn, self.conn = self.conn, None
        if conn is None:
            return
        try:
            if self.with_status:
                conn.execute("DELETE FROM index_status")
            conn.execute("SELECT pg_advisory_unlock(%s)", (self.key,))
        except Exception as exc:  # the server dropped the connection: the lock went with it
            log.debug("releasing the index lock: %s", exc)
        finally:
            conn.close()


class PgStorage:
    """Versions, segments, the live pointer and locks of the index in one PostgreSQL database."""

    root = None  # no directory: nothing of the index is on this machine's disk

    def __init__(self, url: str):
        self.url = url
        self._local = threading.local()
        with connect(url) as conn:
            available = conn.execute("SELECT 1 FROM pg_available_extensions WHERE name = 'vector'").fetchone()
            if available is None:
                raise DatabaseUnavailable(
                    f"PostgreSQL at {self.where} has no pgvector extension (the 'vector' extension is not "
                    "installed on the server): install pgvector (https://github.com/pgvector/pgvector) or use "
                    "a server that has it"
                )
            try:
                migrate(conn, "index", INDEX_MIGRATIONS)
            except DatabaseUnavailable:
                raise
            except Exception as exc:
                raise DatabaseUnavailable(explain(exc, url)) from None

    def __repr__(self) -> str:
        return f"PgStorage({self.where})"

    @property
    def where(self) -> str:
        return describe_url(self.url)

    def ensure(self) -> None:
        pass  # the tables are made by the migrations when the storage opens

    # ---------------------------------------------------------------- connections

    def _conn(self):
        """This thread's connection (made again if the server dropped it)."""
        conn = getattr(self._local, "conn", None)
        if conn is None or conn.closed or conn.broken:
            conn = self._local.conn = connect(self.url)
        return conn

    def _run(self, what: str, func):
        """``func(conn)``, retried on a fresh connection if the server dropped this one."""

        def attempt():
            conn = self._conn()
            try:
                return func(conn)
            except Exception:
                if conn.broken or conn.closed:
                    self._local.conn = None
                raise

        return retrying(what, attempt)

    def _one(self, sql: str, params: tuple = ()):
        return self._run("reading the index", lambda c: c.execute(sql, params).fetchone())

    # ---------------------------------------------------------------- locks

    def build_lock(self) -> PgLock:
        return PgLock(self, BUILD_LOCK, with_status=True)

    def merge_lock(self) -> PgLock:
        return PgLock(self, MERGE_LOCK, with_status=False)

    def _held(self, key: int) -> bool:
        def check(conn) -> bool:
            if conn.execute("SELECT pg_try_advisory_lock(%s)", (key,)).fetchone()[0]:
                conn.execute("SELECT pg_advisory_unlock(%s)", (key,))
                return False
            return True

        return self._run("checking the index lock", check)

    def building_status(self) -> BuildStatus | None:
        if not self._held(BUILD_LOCK):
            return None
        row = self._one("SELECT status FROM index_status WHERE id = 1")
        data = row[0] if row else {}
        try:
            return BuildStatus(**{k: data[k] for k in ("pid", "started", "stage", "done", "total")})
        except (KeyError, TypeError):
            return BuildStatus(pid=0, started=time.time())

    # ---------------------------------------------------------------- versions

    def current_name(self) -> str | None:
        row = self._one("SELECT version FROM index_live WHERE id = 1")
        return row[0] if row else None

    def pointer_problem(self) -> str | None:
        return None  # the pointer is a foreign key: it always names a stored version

    def version_names(self) -> list[str]:
        return self._run(
            "reading the index",
            lambda c: [r[0] for r in c.execute("SELECT name FROM index_versions ORDER BY seq")],
        )

    def new_version_name(self) -> str:
        row = self._one("SELECT COALESCE(MAX(seq), 0) + 1 FROM index_versions")
        return f"v-{row[0]:06d}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:8]}"

    def read_manifest(self, name: str) -> dict:
        row = self._one("SELECT manifest FROM index_versions WHERE name = %s", (name,))
        manifest = row[0] if row else None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT_VERSION:
            raise IndexCorruptError(f"{name}: no version of index format {FORMAT_VERSION} by that name")
        return manifest

    def load_version(self, name: str) -> IndexVersion:
        manifest = self.read_manifest(name)
        try:
            segments = [self.load_segment(entry) for entry in manifest["segments"]]
            return IndexVersion(name, manifest, segments)
        except IndexCorruptError as exc:
            raise IndexCorruptError(f"{name}: {exc}") from exc

    def write_version(self, name: str, manifest: dict) -> None:
        seq = int(name.split("-")[1])
        self._run(
            "writing the index version",
            lambda c: c.execute(
                "INSERT INTO index_versions (name, seq, manifest) VALUES (%s, %s, %s)",
                (name, seq, json.dumps(manifest, ensure_ascii=False)),
            ),
        )

    def publish(self, name: str) -> None:
        def run(conn):
            with conn.transaction():
                conn.execute(
                    "INSERT INTO index_live (id, version, published) VALUES (1, %s, now())"
                    " ON CONFLICT (id) DO UPDATE SET version = excluded.version, published = now()",
                    (name,),
                )
                conn.execute("SELECT pg_notify(%s, %s)", (CHANNEL, name))

        self._run("publishing the index version", run)

    def wait_for_change(
        self, current: str | None, timeout: float, stop: threading.Event | None = None
    ) -> bool:
        """Whether the live version stopped being ``current`` within ``timeout`` seconds: woken by
        the publisher's NOTIFY, and checked at least every ``timeout`` (a lost notification, a
        reconnect)."""
        deadline = time.monotonic() + timeout
        listener = getattr(self, "_listener", None)
        try:
            if listener is None or listener.closed or listener.broken:
                listener = self._listener = connect(self.url)
                listener.execute(f"LISTEN {CHANNEL}")
            if self.current_name() not in (None, current):
                return True
            while (left := deadline - time.monotonic()) > 0 and not (stop is not None and stop.is_set()):
                for notify in listener.notifies(timeout=min(left, 1.0), stop_after=1):
                    if notify.payload != current:
                        return True
        except Exception as exc:
            self._listener = None
            log.warning("waiting for index versions: %s", explain(exc, self.url))
            if stop is not None:
                stop.wait(max(0.0, deadline - time.monotonic()))
            return False
        return self.current_name() not in (None, current)

    # ---------------------------------------------------------------- segments

    def load_segment(self, entry: dict) -> Segment:
        segment_id = entry.get("id")
        cached = _loaded.get((self.url, segment_id))
        if cached is not None:
            return cached

        def run(conn):
            row = conn.execute(
                "SELECT meta, meta_sha256 FROM index_segments WHERE id = %s AND committed", (segment_id,)
            ).fetchone()
            if row is None:
                raise IndexCorruptError(f"segment {segment_id} is missing")
            meta_text, sha = row
            if hashlib.sha256(meta_text.encode()).hexdigest() != entry.get("sha256") or sha != entry.get(
                "sha256"
            ):
                raise IndexCorruptError(f"segment {segment_id}: its meta is damaged (checksum differs)")
            with conn.transaction():  # a server-side cursor: one part in memory at a time
                parts = conn.cursor(name=f"parts_{uuid.uuid4().hex[:8]}")
                parts.itersize = 1
                parts.execute(
                    "SELECT data FROM index_segment_data WHERE segment_id = %s ORDER BY part", (segment_id,)
                )
                return read_segment(segment_id, json.loads(meta_text), _PartsReader(row[0] for row in parts))

        segment = self._run(f"loading index segment {segment_id}", run)
        _loaded[(self.url, segment_id)] = segment
        return segment

    def write_segment(self, segment: Segment, merging: bool = False) -> dict:
        """Write a segment uncommitted (no version may use it before ``commit_segment``): its
        meta, its bytes in parts, and its chunks with their embeddings."""

        def run(conn):
            from pgvector.psycopg import register_vector

            register_vector(conn)
            with conn.transaction():
                conn.execute("DELETE FROM index_segments WHERE id = %s", (segment.id,))  # a retried attempt
                # The meta (with the bytes' checksum) is known once the parts are written.
                conn.execute(
                    "INSERT INTO index_segments (id, meta, meta_sha256) VALUES (%s, '', '')", (segment.id,)
                )
                layout, pieces = segment_bytes(segment)
                digest, size = hashlib.sha256(), 0
                for part, chunk in enumerate(_in_parts(pieces)):
                    digest.update(chunk)
                    size += len(chunk)
                    conn.execute(
                        "INSERT INTO index_segment_data (segment_id, part, data, sha256) VALUES (%s, %s, %s, %s)",
                        (segment.id, part, chunk, hashlib.sha256(chunk).hexdigest()),
                    )
                meta = segment.meta | {"arrays": layout, "file": {"size": size, "sha256": digest.hexdigest()}}
                meta_text = json.dumps(meta, ensure_ascii=False)
                sha = hashlib.sha256(meta_text.encode()).hexdigest()
                conn.execute(
                    "UPDATE index_segments SET meta = %s, meta_sha256 = %s WHERE id = %s",
                    (meta_text, sha, segment.id),
                )
                vectors = segment.vectors
                with conn.cursor().copy(
                    "COPY index_chunks (segment_id, row, node_id, doc, text, embedding) FROM STDIN (FORMAT BINARY)"
                ) as copy:
                    copy.set_types(["text", "int4", "text", "text", "text", "vector"])
                    for row, node in enumerate(segment.nodes):
                        copy.write_row(
                            (
                                segment.id,
                                row,
                                node.node_id,
                                node.metadata.get("doc") or "",
                                node.text,
                                vectors[row],
                            )
                        )

            return sha

        sha = self._run(f"writing index segment {segment.id}", run)
        return {"id": segment.id, "sha256": sha, "chunks": segment.n_chunks}

    def commit_segment(self, segment: Segment) -> None:
        self._run(
            "committing an index segment",
            lambda c: c.execute("UPDATE index_segments SET committed = true WHERE id = %s", (segment.id,)),
        )
        _loaded[(self.url, segment.id)] = segment

    def discard_segment(self, segment: Segment) -> None:
        self._run(
            "discarding an index segment",
            lambda c: c.execute("DELETE FROM index_segments WHERE id = %s AND NOT committed", (segment.id,)),
        )

    # ---------------------------------------------------------------- the no-op check

    def verified_articles(self, name: str) -> tuple[dict, dict[str, dict]] | None:
        """(manifest, live articles) if every segment of version ``name`` is intact (its meta's
        checksum here, its parts' checksums computed by the server: nothing large is sent)."""
        try:
            manifest = self.read_manifest(name)
            deleted = manifest.get("deleted") or {}
            articles: dict[str, dict] = {}
            for entry in manifest["segments"]:
                cached = _loaded.get((self.url, entry["id"]))
                if cached is not None:
                    meta = cached.meta
                else:
                    row = self._one(
                        "SELECT meta, meta_sha256, (SELECT bool_and(encode(sha256(data), 'hex') = sha256)"
                        " FROM index_segment_data WHERE segment_id = s.id) FROM index_segments s"
                        " WHERE id = %s AND committed",
                        (entry["id"],),
                    )
                    if (
                        row is None
                        or not row[2]
                        or hashlib.sha256(row[0].encode()).hexdigest() != entry["sha256"]
                    ):
                        return None
                    meta = json.loads(row[0])
                gone = set(deleted.get(entry["id"]) or ())
                articles.update((d, e) for d, e in meta["articles"].items() if d not in gone)
        except (IndexCorruptError, KeyError, TypeError, ValueError):
            return None
        return manifest, articles

    def legacy_vectors(self):
        return None  # nothing was stored in PostgreSQL before segments

    # ---------------------------------------------------------------- reports

    def last_report(self) -> dict | None:
        row = self._one("SELECT report FROM index_reports WHERE id = 1")
        return row[0] if row else None

    def save_report(self, report: dict) -> None:
        try:
            self._run(
                "recording the re-index report",
                lambda c: c.execute(
                    "INSERT INTO index_reports (id, report) VALUES (1, %s)"
                    " ON CONFLICT (id) DO UPDATE SET report = excluded.report",
                    (json.dumps(report, ensure_ascii=False),),
                ),
            )
        except Exception as exc:
            log.warning("could not record the re-index report: %s", exc)

    # ---------------------------------------------------------------- cleaning up

    def cleanup(self) -> None:
        """Remove versions nobody can reach (kept: the live one and the newest before it) and
        segments no kept version uses; uncommitted segments only when no merge is writing one.
        Called with the build lock."""
        merging = self._held(MERGE_LOCK)

        def run(conn):
            with conn.transaction():
                live = conn.execute("SELECT version FROM index_live WHERE id = 1").fetchone()
                if live is None:
                    return
                conn.execute(
                    "DELETE FROM index_versions WHERE name <> %s AND seq <> COALESCE((SELECT MAX(seq) FROM"
                    " index_versions WHERE seq < (SELECT seq FROM index_versions WHERE name = %s)), -1)",
                    (live[0], live[0]),
                )
                conn.execute(
                    "DELETE FROM index_segments s WHERE (committed OR NOT %s) AND NOT EXISTS ("
                    " SELECT 1 FROM index_versions v, jsonb_array_elements(v.manifest -> 'segments') e"
                    " WHERE e ->> 'id' = s.id)",
                    (merging,),
                )

        self._run("cleaning up the index", run)


def _in_parts(pieces) -> Iterator[bytes]:
    """Byte pieces regrouped into parts of PART_BYTES (the last one shorter; one empty part for
    nothing at all)."""
    current, size, yielded = [], 0, False
    for piece in pieces:
        view = memoryview(piece)
        while len(view):
            take = min(len(view), PART_BYTES - size)
            current.append(bytes(view[:take]))
            size += take
            view = view[take:]
            if size == PART_BYTES:
                yield b"".join(current)
                current, size, yielded = [], 0, True
    if current or not yielded:
        yield b"".join(current)


class _PartsReader:
    """``readinto`` over a sequence of byte strings (a segment's parts, in order)."""

    def __init__(self, parts):
        self.parts = iter(parts)
        self.current = memoryview(b"")

    def __call__(self, buffer: bytearray) -> int:
        view, filled = memoryview(buffer), 0
        while filled < len(view):
            if not len(self.current):
                try:
                    self.current = memoryview(next(self.parts))
                except StopIteration:
                    break
            n = min(len(self.current), len(view) - filled)
            view[filled : filled + n] = self.current[:n]
            self.current = self.current[n:]
            filled += n
        return filled

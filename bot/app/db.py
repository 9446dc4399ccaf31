"""The bot's state in SQLite (aiosqlite): answers and their citations, feedback votes, rate-limit
events, thread history, admin actions and re-index runs; news feeds in ``bot.app.db_feeds``.

The schema is versioned with ``PRAGMA user_version``; ``MIGRATIONS`` are applied in order, each
in its own transaction, so an older database file is upgraded in place on open.

Writes are serialised: one coroutine's transaction at a time (an asyncio lock around an explicit
``BEGIN IMMEDIATE … COMMIT`` on the one connection), so a failing write's rollback can never undo
another coroutine's rows — whose id it may already have handed out (feedback buttons carry it).
Old rows are pruned by ``prune`` (the bot runs it periodically; retention in settings).

Persistence is best effort: if the file cannot be opened or written (locked by another process,
read-only file or directory, disk full) the cause is logged once, ``Database.available`` /
``Database.last_error`` say so, writes return ``None`` and reads return empty results, and the
bot keeps answering. Nothing here raises ``sqlite3`` errors at its callers.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiosqlite

from bot.app.db_feeds import FeedTables
from bot.app.db_retention import Retention
from bot.app.db_stats import COUNT_DOWN, COUNT_UP, Stats, StatsQueries
from bot.app.migrations import MIGRATIONS, SCHEMA_VERSION

log = logging.getLogger(__name__)

T = TypeVar("T")


class DatabaseError(Exception):
    """The database file is newer than this code (a downgrade): refuse rather than guess."""


def _describe(exc: BaseException) -> str:
    text = str(exc)
    if "locked" in text or "busy" in text:
        return f"the database file is locked by another process ({text})"
    if "readonly" in text or "read-only" in text:
        return f"the database file or its directory is read-only ({text})"
    if "unable to open" in text:
        return f"the database file cannot be opened ({text})"
    return text or type(exc).__name__


__all__ = ["Database", "DatabaseError", "Stats"]

STARTED = "started"  # an admin action's outcome until it finishes (left by a crash: see mark_interrupted)
RUNNING = "running"  # a re-index run's outcome until it finishes
INTERRUPTED = "interrupted: the bot stopped before it finished"


class Database(StatsQueries, Retention, FeedTables):
    """One aiosqlite connection; every method is safe to call when the database is unavailable."""

    def __init__(
        self, path: Path | str, *, busy_timeout_s: float = 2.0, clock: Callable[[], float] = time.time
    ):
        self.path = Path(path)
        self.busy_timeout_s = busy_timeout_s
        self.clock = clock
        self.conn: aiosqlite.Connection | None = None
        self.last_error: str | None = None
        self._warned: set[str] = set()
        self._write_lock = asyncio.Lock()  # one transaction at a time on the one connection

    @property
    def available(self) -> bool:
        return self.conn is not None

    # ---------------------------------------------------------------- lifecycle

    async def open(self, target_version: int = SCHEMA_VERSION) -> bool:
        """Open (creating and migrating if needed). Returns False, logging why, if it cannot;
        raises DatabaseError only for a file written by a newer version of this program."""
        if self.conn is not None:
            return True
        pending = None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # isolation_level=None: no implicit transactions; _write opens and ends each one itself
            pending = aiosqlite.connect(self.path, timeout=self.busy_timeout_s, isolation_level=None)
            conn = await pending
        except (sqlite3.Error, OSError) as exc:
            # aiosqlite stops its worker thread without waiting; wait for it here so it does not
            # outlive the event loop and report to a closed one.
            thread = getattr(pending, "_thread", None)
            if thread is not None and thread.is_alive():
                await asyncio.to_thread(thread.join, 2.0)
            self._fail("open", exc)
            return False
        try:
            conn.row_factory = aiosqlite.Row
            await conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            await conn.execute("PRAGMA foreign_keys = ON")
            mode = (await (await conn.execute("PRAGMA journal_mode = WAL")).fetchone())[0]
            if str(mode).lower() != "wal":
                log.warning("database %s: journal mode is %s, not WAL", self.path, mode)
            await conn.execute("PRAGMA synchronous = NORMAL")
            await self._migrate(conn, target_version)
        except DatabaseError:
            await conn.close()
            raise
        except sqlite3.Error as exc:
            await conn.close()
            self._fail("open", exc)
            return False
        self.conn = conn
        self.last_error = None
        return True

    async def _migrate(self, conn: aiosqlite.Connection, target_version: int) -> None:
        version = (await (await conn.execute("PRAGMA user_version")).fetchone())[0]
        if version > len(MIGRATIONS):
            raise DatabaseError(
                f"{self.path} has schema version {version}, newer than this program's {len(MIGRATIONS)}; "
                "upgrade the bot or point DATA_DIR elsewhere"
            )
        for number in range(version, target_version):
            # executescript commits first; run the migration and the version bump as one transaction.
            await conn.executescript(
                f"BEGIN;\n{MIGRATIONS[number]}\nPRAGMA user_version = {number + 1};\nCOMMIT;"
            )
            log.info("database %s migrated to schema version %d", self.path, number + 1)

    async def schema_version(self) -> int | None:
        return await self._read(lambda c: self._scalar(c, "PRAGMA user_version"), None)

    async def close(self) -> None:
        if self.conn is not None:
            async with self._write_lock:  # let the transaction under way finish
                conn, self.conn = self.conn, None
                if conn is None:
                    return
                try:
                    await conn.close()
                except sqlite3.Error as exc:
                    log.warning("closing database %s: %s", self.path, exc)

    async def __aenter__(self) -> Database:
        await self.open()
        return self

    async def __aexit__(self, *exc) -> None:
        await self.close()

    # ---------------------------------------------------------------- error handling

    def _fail(self, what: str, exc: BaseException) -> None:
        self.last_error = _describe(exc)
        key = f"{what}:{type(exc).__name__}:{self.last_error[:60]}"
        if key not in self._warned:  # once per kind of failure, not once per question
            self._warned.add(key)
            log.error(
                "database %s: cannot %s, continuing without saving it: %s", self.path, what, self.last_error
            )

    async def _write(self, what: str, func: Callable[[aiosqlite.Connection], Awaitable[T]]) -> T | None:
        """Run ``func`` as one transaction, alone: other writers wait for the lock, so nothing
        of theirs is inside this transaction when it commits or rolls back."""
        async with self._write_lock:
            conn = self.conn
            if conn is None:
                return None
            try:
                await conn.execute("BEGIN IMMEDIATE")
                result = await func(conn)
                await conn.execute("COMMIT")
                return result
            except (sqlite3.Error, ValueError) as exc:  # ValueError: closed meanwhile (shutdown)
                await self._rollback(conn)
                self._fail(what, exc)
                return None
            except BaseException:  # cancelled (or a bug) mid-transaction: leave no transaction open
                await self._rollback(conn)
                raise

    @staticmethod
    async def _rollback(conn: aiosqlite.Connection) -> None:
        try:
            if conn.in_transaction:
                await conn.execute("ROLLBACK")
        except (sqlite3.Error, ValueError):
            pass

    async def _read(self, func: Callable[[aiosqlite.Connection], Awaitable[T]], default: T) -> T:
        conn = self.conn
        if conn is None:
            return default
        try:
            return await func(conn)
        except (sqlite3.Error, ValueError) as exc:
            self._fail("read", exc)
            return default

    @staticmethod
    async def _scalar(conn: aiosqlite.Connection, sql: str, params: tuple = ()) -> Any:
        row = await (await conn.execute(sql, params)).fetchone()
        return row[0] if row is not None else None

    # ---------------------------------------------------------------- answers

    async def record_answer(
        self,
        answer,
        *,
        user_id: int | None,
        guild_id: int | None = None,
        channel_id: int | None = None,
        thread_id: int | None = None,
        query: str | None = None,
        latency_ms: float | None = None,
    ) -> int | None:
        """Store a ``bot.answering.Answer`` with its citations; returns the answer id."""

        async def run(conn):
            cursor = await conn.execute(
                "INSERT INTO answers (created, user_id, guild_id, channel_id, thread_id, question, query, answer, refused,"
                " backend, fallback_reason, latency_ms, index_version) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?) RETURNING id",
                (
                    self.clock(),
                    user_id,
                    guild_id,
                    channel_id,
                    thread_id,
                    answer.question,
                    query or answer.question,
                    answer.answer,
                    int(answer.refused),
                    answer.backend,
                    answer.fallback_reason,
                    latency_ms,
                    answer.index_version,
                ),
            )
            answer_id = (await cursor.fetchone())[0]
            await conn.executemany(
                'INSERT INTO citations (answer_id, n, doc, title, source, published, quote, start, "end") VALUES (?,?,?,?,?,?,?,?,?)',
                [
                    (answer_id, c.n, c.doc, c.title, c.source, c.published, c.quote, c.start, c.end)
                    for c in answer.citations
                ],
            )
            return answer_id

        return await self._write("save the answer", run)

    async def set_answer_message(self, answer_id: int, message_id: int) -> None:
        await self._write(
            "save the answer's message id",
            lambda c: c.execute("UPDATE answers SET message_id = ? WHERE id = ?", (message_id, answer_id)),
        )

    async def get_answer(self, answer_id: int) -> dict | None:
        async def run(conn):
            row = await (await conn.execute("SELECT * FROM answers WHERE id = ?", (answer_id,))).fetchone()
            if row is None:
                return None
            result = dict(row)
            cites = await (
                await conn.execute("SELECT * FROM citations WHERE answer_id = ? ORDER BY n", (answer_id,))
            ).fetchall()
            result["citations"] = [dict(c) for c in cites]
            return result

        return await self._read(run, None)

    async def answer_for_message(self, message_id: int) -> dict | None:
        """The answer the bot sent as ``message_id`` (to answer a reply in its context)."""

        async def run(conn):
            row = await (
                await conn.execute(
                    "SELECT id FROM answers WHERE message_id = ? ORDER BY id DESC LIMIT 1", (message_id,)
                )
            ).fetchone()
            return row[0] if row else None

        answer_id = await self._read(run, None)
        return await self.get_answer(answer_id) if answer_id is not None else None

    # ---------------------------------------------------------------- feedback

    async def record_vote(self, answer_id: int, user_id: int, vote: int) -> str | None:
        """One vote per user per answer, changeable. Returns "new", "changed", "same", "unknown
        answer", or None when it could not be saved."""
        if vote not in (-1, 1):
            raise ValueError("vote must be -1 or 1")

        async def run(conn):
            if await self._scalar(conn, "SELECT 1 FROM answers WHERE id = ?", (answer_id,)) is None:
                return "unknown answer"
            previous = await self._scalar(
                conn, "SELECT vote FROM feedback WHERE answer_id = ? AND user_id = ?", (answer_id, user_id)
            )
            await conn.execute(
                "INSERT INTO feedback (answer_id, user_id, vote, updated) VALUES (?,?,?,?)"
                " ON CONFLICT(answer_id, user_id) DO UPDATE SET vote = excluded.vote, updated = excluded.updated",
                (answer_id, user_id, vote, self.clock()),
            )
            return "new" if previous is None else ("same" if previous == vote else "changed")

        return await self._write("save the vote", run)

    async def vote_counts(self, answer_id: int) -> tuple[int, int]:
        async def run(conn):
            row = await (
                await conn.execute(
                    f"SELECT {COUNT_UP}, {COUNT_DOWN} FROM feedback WHERE answer_id = ?",
                    (answer_id,),
                )
            ).fetchone()
            return int(row[0]), int(row[1])

        return await self._read(run, (0, 0))

    # ---------------------------------------------------------------- rate limits

    async def add_rate_event(self, user_id: int, at: float, scope: str = "user") -> None:
        """One question by ``user_id`` (or, with scope "guild", in server ``user_id``)."""
        await self._write(
            "save the rate-limit event",
            lambda c: c.execute(
                "INSERT INTO rate_events (user_id, at, scope) VALUES (?, ?, ?)", (user_id, at, scope)
            ),
        )

    async def rate_events(self, user_id: int, since: float, scope: str = "user") -> list[float] | None:
        """Times of ``user_id``'s questions after ``since``, oldest first; None if unreadable."""

        async def run(conn):
            rows = await (
                await conn.execute(
                    "SELECT at FROM rate_events WHERE scope = ? AND user_id = ? AND at > ? ORDER BY at",
                    (scope, user_id, since),
                )
            ).fetchall()
            return [r[0] for r in rows]

        return await self._read(run, None)

    async def prune_rate_events(self, before: float, scope: str | None = None) -> None:
        sql, params = "DELETE FROM rate_events WHERE at <= ?", (before,)
        if scope is not None:
            sql, params = sql + " AND scope = ?", (before, scope)
        await self._write("prune rate-limit events", lambda c: c.execute(sql, params))

    async def take_rate_slot(
        self, user_id: int, now: float, window: float, limit: int, scope: str = "user"
    ) -> float | None:
        """Check and use one of ``user_id``'s ``limit`` events per ``window`` in one transaction:
        0.0 if allowed (the event is recorded), else the seconds to wait; None if the database
        could not be used. What a store shared by several processes needs: each check sees
        every process's events (see ``_serialize``)."""

        async def run(conn):
            await self._serialize(conn, f"rate:{scope}:{user_id}")
            rows = await (
                await conn.execute(
                    "SELECT at FROM rate_events WHERE scope = ? AND user_id = ? AND at > ? ORDER BY at DESC LIMIT ?",
                    (scope, user_id, now - window, limit),
                )
            ).fetchall()
            if len(rows) >= limit:
                return max(0.0, rows[limit - 1][0] + window - now)
            await conn.execute(
                "INSERT INTO rate_events (user_id, at, scope) VALUES (?, ?, ?)", (user_id, now, scope)
            )
            return 0.0

        return await self._write("check the rate limit", run)

    @staticmethod
    async def _serialize(conn, key: str) -> None:
        """Inside a write: make concurrent writes about ``key`` wait for each other. SQLite's
        writes already do (``BEGIN IMMEDIATE`` takes the file's write lock); PostgreSQL's store
        takes an advisory lock."""

    # ---------------------------------------------------------------- threads

    async def add_bot_thread(self, thread_id: int, channel_id: int | None, user_id: int | None) -> None:
        await self._write(
            "save the thread",
            lambda c: c.execute(
                "INSERT INTO threads (thread_id, channel_id, user_id, created) VALUES (?,?,?,?)"
                " ON CONFLICT DO NOTHING",
                (thread_id, channel_id, user_id, self.clock()),
            ),
        )

    async def is_bot_thread(self, thread_id: int) -> bool:
        return (
            await self._read(
                lambda c: self._scalar(c, "SELECT 1 FROM threads WHERE thread_id = ?", (thread_id,)), None
            )
            is not None
        )

    async def add_thread_question(
        self, thread_id: int, question: str, query: str, answer_id: int | None = None
    ) -> None:
        await self._write(
            "save the thread history",
            lambda c: c.execute(
                "INSERT INTO thread_history (thread_id, position, question, query, answer_id, created)"
                " VALUES (?, (SELECT COALESCE(MAX(position), 0) + 1 FROM thread_history WHERE thread_id = ?), ?, ?, ?, ?)",
                (thread_id, thread_id, question, query, answer_id, self.clock()),
            ),
        )

    async def thread_history(self, thread_id: int, limit: int = 10) -> list[str]:
        """The thread's earlier retrieval queries, oldest first (at most the last ``limit``)."""

        async def run(conn):
            rows = await (
                await conn.execute(
                    "SELECT query FROM thread_history WHERE thread_id = ? ORDER BY position DESC LIMIT ?",
                    (thread_id, limit),
                )
            ).fetchall()
            return [r[0] for r in reversed(rows)]

        return await self._read(run, [])

    # ---------------------------------------------------------------- admin (issue 4)

    async def record_admin_action(
        self, user_id: int | None, action: str, detail: str | dict | None, outcome: str
    ) -> int | None:
        """Who did what, when, and how it went. ``detail`` may be a dict (stored as JSON)."""
        if isinstance(detail, dict):
            detail = json.dumps(detail, ensure_ascii=False, sort_keys=True)

        async def run(conn):
            cursor = await conn.execute(
                "INSERT INTO admin_actions (created, user_id, action, detail, outcome) VALUES (?,?,?,?,?) RETURNING id",
                (self.clock(), user_id, action, detail, outcome),
            )
            return (await cursor.fetchone())[0]

        return await self._write("record the admin action", run)

    async def update_admin_action(
        self, action_id: int, outcome: str, detail: str | dict | None = None
    ) -> bool:
        """Record how an action recorded as ``STARTED`` ended (and its final detail, if given)."""
        if isinstance(detail, dict):
            detail = json.dumps(detail, ensure_ascii=False, sort_keys=True)
        sql, params = "UPDATE admin_actions SET outcome = ? WHERE id = ?", (outcome, action_id)
        if detail is not None:
            sql, params = (
                "UPDATE admin_actions SET outcome = ?, detail = ? WHERE id = ?",
                (outcome, detail, action_id),
            )
        return await self._write("record the admin action", lambda c: c.execute(sql, params)) is not None

    async def mark_interrupted(self, before: float) -> int:
        """Admin actions still ``STARTED`` and re-index runs still ``RUNNING`` from before ``before``
        (a previous run of the bot that stopped mid-way): say so. Returns how many."""

        async def run(conn):
            actions = await conn.execute(
                "UPDATE admin_actions SET outcome = ? WHERE outcome = ? AND created < ?",
                (INTERRUPTED, STARTED, before),
            )
            runs = await conn.execute(
                "UPDATE reindex_runs SET outcome = ? WHERE outcome = ? AND finished IS NULL AND started < ?",
                (INTERRUPTED, RUNNING, before),
            )
            return actions.rowcount + runs.rowcount

        return await self._write("mark interrupted admin actions", run) or 0

    async def admin_actions(self, limit: int = 20, action: str | None = None) -> list[dict]:
        async def run(conn):
            sql = (
                "SELECT * FROM admin_actions"
                + (" WHERE action = ?" if action else "")
                + " ORDER BY id DESC LIMIT ?"
            )
            rows = await (await conn.execute(sql, ((action, limit) if action else (limit,)))).fetchall()
            return [dict(r) for r in rows]

        return await self._read(run, [])

    async def record_reindex(
        self,
        *,
        started: float,
        finished: float | None,
        user_id: int | None,
        outcome: str,
        report: dict | str | None,
    ) -> int | None:
        """A re-index run: ``report`` is ``ReindexReport.to_json()`` or an error message."""
        text = json.dumps(report, ensure_ascii=False) if isinstance(report, dict) else report

        async def run(conn):
            cursor = await conn.execute(
                "INSERT INTO reindex_runs (started, finished, user_id, outcome, report) VALUES (?,?,?,?,?) RETURNING id",
                (started, finished, user_id, outcome, text),
            )
            return (await cursor.fetchone())[0]

        return await self._write("record the re-index", run)

    async def finish_reindex(
        self,
        run_id: int | None,
        *,
        started: float,
        finished: float,
        user_id: int | None,
        outcome: str,
        report: dict | str | None,
    ) -> int | None:
        """End the run recorded as ``RUNNING`` when it started (recorded anew if that failed)."""
        if run_id is None:
            return await self.record_reindex(
                started=started, finished=finished, user_id=user_id, outcome=outcome, report=report
            )
        text = json.dumps(report, ensure_ascii=False) if isinstance(report, dict) else report
        done = await self._write(
            "record the re-index",
            lambda c: c.execute(
                "UPDATE reindex_runs SET finished = ?, outcome = ?, report = ? WHERE id = ?",
                (finished, outcome, text, run_id),
            ),
        )
        return run_id if done is not None else None

    async def last_reindex(self) -> dict | None:
        async def run(conn):
            row = await (await conn.execute("SELECT * FROM reindex_runs ORDER BY id DESC LIMIT 1")).fetchone()
            if row is None:
                return None
            result = dict(row)
            try:
                result["report"] = json.loads(result["report"]) if result["report"] else None
            except ValueError:
                pass
            return result

        return await self._read(run, None)

    # ---------------------------------------------------------------- key/value

    async def get_meta(self, key: str) -> str | None:
        return await self._read(
            lambda c: self._scalar(c, "SELECT value FROM meta WHERE key = ?", (key,)), None
        )

    async def set_meta(self, key: str, value: str) -> bool:
        done = await self._write(
            f"save {key}",
            lambda c: c.execute(
                "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                (key, value),
            ),
        )
        return done is not None

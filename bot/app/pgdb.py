"""The bot's state in PostgreSQL (``DATABASE_URL``): ``PgDatabase`` has every method of
``bot.app.db.Database`` — the same code, run on PostgreSQL — so several bot processes share
answers, votes, rate limits, threads, the admin audit and feeds.

Only what differs is here: connecting (a small psycopg async pool), the schema
(``bot.app.pg_migrations``, versioned and applied under an advisory lock: two processes starting at
once apply each migration once), transactions, and a connection adapter that runs the
``Database`` methods' SQL — written to be portable — with psycopg: ``?`` placeholders become
``%s``, rows answer to both ``row[0]`` and ``row["name"]``. A rate-limit check and its record
are one transaction under an advisory lock per user, so shards cannot both let a user through.
Like the SQLite store, persistence is best effort: a lost database is logged, writes return
None, reads return empty results, and the bot keeps answering.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

from bot.app.db import Database, DatabaseError
from bot.app.pg_migrations import PG_MIGRATIONS
from index.pg import DatabaseUnavailable, describe_url, explain, migrate

log = logging.getLogger(__name__)

T = TypeVar("T")
_PLACEHOLDER = re.compile(r"\?|%|'(?:[^']|'')*'")


def pg_sql(sql: str) -> str:
    """SQLite's ``?`` placeholders as psycopg's ``%s``, and every literal ``%`` doubled (psycopg
    reads ``%`` everywhere, quoted strings included); a ``?`` in a quoted string stays."""

    def swap(match: re.Match) -> str:
        token = match.group(0)
        return "%s" if token == "?" else token.replace("%", "%%")

    return _PLACEHOLDER.sub(swap, sql)


class Row(tuple):
    """A result row readable by position and by column name, like ``sqlite3.Row``."""

    names: tuple[str, ...] = ()

    def __getitem__(self, key):
        if isinstance(key, str):
            return tuple.__getitem__(self, self.names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> list[str]:
        return list(self.names)


def _row_factory(cursor):
    names = tuple(c.name for c in cursor.description or ())
    row_type = type("Row", (Row,), {"names": names})
    return lambda values: row_type(values)


class _Cursor:
    """The part of an aiosqlite cursor the ``Database`` methods use."""

    def __init__(self, cursor):
        self._cursor = cursor

    @property
    def rowcount(self) -> int:
        return self._cursor.rowcount

    async def fetchone(self):
        return await self._cursor.fetchone() if self._cursor.description else None

    async def fetchall(self):
        return await self._cursor.fetchall() if self._cursor.description else []


class PgConnection:
    """One pooled psycopg connection, spoken to like aiosqlite's (``execute`` returns a cursor)."""

    def __init__(self, conn):
        self._conn = conn

    async def execute(self, sql: str, params: tuple | list = ()) -> _Cursor:
        cursor = self._conn.cursor(row_factory=_row_factory)
        await cursor.execute(pg_sql(sql), tuple(params))
        return _Cursor(cursor)

    async def executemany(self, sql: str, rows) -> _Cursor:
        cursor = self._conn.cursor()
        await cursor.executemany(pg_sql(sql), [tuple(r) for r in rows])
        return _Cursor(cursor)


class PgDatabase(Database):
    """``Database`` on PostgreSQL; ``available`` while the pool is open."""

    shared = True  # several processes use it: rate limits are checked in the database

    def __init__(self, url: str, *, clock: Callable[[], float] = time.time, pool_size: int = 4):
        super().__init__(describe_url(url), clock=clock)
        self.url = url
        self.pool_size = pool_size
        self.pool = None

    @property
    def available(self) -> bool:
        return self.pool is not None

    async def open(self, target_version: int | None = None) -> bool:
        """Connect and migrate. Returns False (logging why) if the database cannot be reached;
        raises DatabaseError for a database written by a newer version of this program."""
        if self.pool is not None:
            return True
        from psycopg_pool import AsyncConnectionPool

        try:
            await asyncio.to_thread(self._migrate_now)
        except DatabaseUnavailable as exc:
            if "newer than this program" in str(exc):
                raise DatabaseError(str(exc)) from None
            self._fail("open", exc)
            return False
        pool = AsyncConnectionPool(
            self.url,
            min_size=1,
            max_size=self.pool_size,
            kwargs={"autocommit": True},
            open=False,
            check=AsyncConnectionPool.check_connection,
            reconnect_timeout=60,
        )
        try:
            await pool.open(wait=True, timeout=15)
        except Exception as exc:
            await pool.close()
            self._fail("open", DatabaseUnavailable(explain(exc, self.url)))
            return False
        self.pool = pool
        self.conn = pool  # Database's "is it open" checks
        self.last_error = None
        return True

    def _migrate_now(self) -> None:
        from index.pg import connect

        with connect(self.url) as conn:
            migrate(conn, "bot", PG_MIGRATIONS)

    async def schema_version(self) -> int | None:
        async def run(conn):
            row = await (
                await conn.execute("SELECT version FROM schema_versions WHERE component = 'bot'")
            ).fetchone()
            return row[0] if row else None

        return await self._read(run, None)

    async def close(self) -> None:
        pool, self.pool, self.conn = self.pool, None, None
        if pool is not None:
            await pool.close()

    # ---------------------------------------------------------------- transactions

    async def _write(self, what: str, func: Callable[[PgConnection], Awaitable[T]]) -> T | None:
        """``func`` as one transaction on a pooled connection (concurrent writers use their own
        connections and the database orders them)."""
        import psycopg

        pool = self.pool
        if pool is None:
            return None
        try:
            async with pool.connection() as conn, conn.transaction():
                return await func(PgConnection(conn))
        except (psycopg.Error, OSError) as exc:
            self._fail(what, DatabaseUnavailable(explain(exc, self.url)))
            return None

    async def _read(self, func: Callable[[PgConnection], Awaitable[T]], default: T) -> T:
        import psycopg

        pool = self.pool
        if pool is None:
            return default
        try:
            async with pool.connection() as conn:
                return await func(PgConnection(conn))
        except (psycopg.Error, OSError) as exc:
            self._fail("read", DatabaseUnavailable(explain(exc, self.url)))
            return default

    @staticmethod
    async def _serialize(conn: PgConnection, key: str) -> None:
        """Inside a write: wait for any other process's transaction holding ``key`` (a rate-limit
        check and its record must not interleave across shards)."""
        await conn.execute("SELECT pg_advisory_xact_lock(?)", (zlib.crc32(key.encode()),))

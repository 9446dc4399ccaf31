"""The bot's state in PostgreSQL (bot.app.pgdb), where it differs from SQLite: rate limits shared
by several processes (two limiters on two connections cannot both let a user through), the
schema applied once by processes starting together, a newer schema refused, a dropped connection
recovered, an unreachable server reported without raising. Real servers, no mocks."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from bot.app.db import DatabaseError
from bot.app.pg_migrations import PG_MIGRATIONS
from bot.app.pgdb import PgDatabase, pg_sql
from bot.app.ratelimit import RateLimiter
from tests.app.test_db import sample_answer


async def test_two_shards_share_one_rate_limit(database_url):
    shards = [PgDatabase(database_url), PgDatabase(database_url)]
    for db in shards:
        assert await db.open()
    try:
        now = 1_000_000.0
        limiters = [RateLimiter(3, 60.0, db, clock=lambda: now) for db in shards]
        # 20 questions by one user at once, half on each shard
        waits = await asyncio.gather(*(limiters[i % 2].hit(42) for i in range(20)))
        assert sorted(waits)[:3] == [0.0, 0.0, 0.0] and all(w > 0 for w in sorted(waits)[3:])
        assert sum(w == 0.0 for w in waits) == 3  # not 3 per shard
        assert await limiters[1].retry_after(42) == pytest.approx(60.0)
        assert await limiters[0].hit(7) == 0.0  # another user is not limited
        # a server's limit (scope "guild") is kept apart from its users' limits
        assert await RateLimiter(1, 60.0, shards[0], clock=lambda: now, scope="guild").hit(42) == 0.0
    finally:
        for db in shards:
            await db.close()


async def test_processes_starting_together_apply_the_schema_once(database_url):
    shards = [PgDatabase(database_url) for _ in range(4)]
    assert await asyncio.gather(*(db.open() for db in shards)) == [True] * 4
    try:
        assert [await db.schema_version() for db in shards] == [len(PG_MIGRATIONS)] * 4
        answer_id = await shards[0].record_answer(sample_answer(), user_id=1)
        assert await shards[3].record_vote(answer_id, 5, 1) == "new"  # one shard's answer, another's vote
        assert await shards[1].vote_counts(answer_id) == (1, 0)
    finally:
        for db in shards:
            await db.close()


async def test_a_newer_schema_is_refused(database_url):
    async with PgDatabase(database_url):
        pass
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'bot'")
    with pytest.raises(DatabaseError, match="newer than this program"):
        await PgDatabase(database_url).open()


async def test_a_dropped_connection_is_replaced(database_url):
    async with PgDatabase(database_url) as db:
        first = await db.record_answer(sample_answer("Before?"), user_id=1)
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        second = await db.record_answer(sample_answer("After?"), user_id=1)  # the pool reconnects
        assert second is not None and second > first
        assert (await db.get_answer(second))["question"] == "After?"


async def test_an_unreachable_server_is_reported_not_raised():
    db = PgDatabase("postgresql://bot@127.0.0.1:1/nowhere")
    assert not await db.open() and not db.available
    assert "connection refused" in db.last_error and "secret" not in db.last_error
    assert await db.record_answer(sample_answer(), user_id=1) is None  # writes skipped
    assert await db.vote_counts(1) == (0, 0) and await db.thread_history(1) == []  # reads empty


def test_sqlite_placeholders_become_psycopg_ones_outside_quoted_strings():
    assert pg_sql("SELECT a FROM t WHERE b = ? AND c LIKE '50%?' AND d = ?") == (
        "SELECT a FROM t WHERE b = %s AND c LIKE '50%%?' AND d = %s"
    )
    assert pg_sql("SELECT 100 % 7, ?") == "SELECT 100 %% 7, %s"


async def test_sql_with_a_percent_sign_in_a_string_runs(database_url):
    async with PgDatabase(database_url) as db:
        await db.set_meta("progress", "50%?")

        async def run(conn):
            cursor = await conn.execute(
                "SELECT value FROM meta WHERE value LIKE '50%?' AND key = ?", ("progress",)
            )
            return await cursor.fetchone()

        assert (await db._read(run, None))[0] == "50%?"


async def test_with_database_url_the_bot_keeps_its_state_in_postgresql(make_settings, database_url):
    from bot.app.client import NegotiationsBot
    from tests.app.test_client import FakeService

    bot = NegotiationsBot(
        make_settings(database_url=database_url), service=FakeService(), sync_commands=False
    )
    await bot._async_setup_hook()
    await bot.setup_hook()
    try:
        assert isinstance(bot.db, PgDatabase) and bot.db.available
        assert bot.limiter.shared and bot.guild_limiter.shared and not bot.action_limiter.shared
        assert await bot.limiter.hit(5) == 0.0
        with psycopg.connect(database_url) as conn:  # recorded in the database, not in memory
            assert conn.execute("SELECT count(*) FROM rate_events WHERE user_id = 5").fetchone() == (1,)
    finally:
        await bot.close()

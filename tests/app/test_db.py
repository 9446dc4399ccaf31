"""The bot's database: migrations, persistence across reopen, and a locked or read-only file. Tests
taking ``make_db`` run on both stores (SQLite, then PostgreSQL: bot.app.pgdb)."""

from __future__ import annotations

import logging
import os
import sqlite3

import pytest

from bot.answering import Answer, Citation
from bot.app.db import Database, DatabaseError
from bot.app.migrations import MIGRATIONS, SCHEMA_VERSION


def sample_answer(question="What did Putin agree to?", refused=False, backend="extractive") -> Answer:
    cites = (
        []
        if refused
        else [
            Citation(1, "a.txt", "Talks", "Reuters", "2025-03-18", "Putin accepted the proposal.", 10, 38),
            Citation(2, "b.txt", "More talks", None, None, "Zelensky agreed.", 0, 16),
        ]
    )
    return Answer(
        question=question,
        answer="Putin accepted [1]. Zelensky agreed [2].",
        refused=refused,
        citations=cites,
        backend=backend,
        index_version="v1",
    )


async def test_fresh_database_has_current_schema_and_wal(tmp_path):
    async with Database(tmp_path / "bot.sqlite3") as db:
        assert db.available
        assert await db.schema_version() == SCHEMA_VERSION
        mode = (await (await db.conn.execute("PRAGMA journal_mode")).fetchone())[0]
        assert mode.lower() == "wal"


async def test_answers_votes_threads_rate_events_persist_across_reopen(make_db):
    async with make_db() as db:
        answer_id = await db.record_answer(
            sample_answer(),
            user_id=1,
            guild_id=2,
            channel_id=3,
            thread_id=None,
            query="What did Putin agree to?",
            latency_ms=123.0,
        )
        assert answer_id is not None
        await db.set_answer_message(answer_id, 999)
        assert await db.record_vote(answer_id, 5, 1) == "new"
        await db.add_bot_thread(77, 3, 1)
        await db.add_thread_question(77, "first?", "first?", answer_id)
        await db.add_thread_question(77, "and then?", "first? and then?", None)
        await db.add_rate_event(1, 1000.0)
        await db.set_meta("k", "v")
    async with make_db() as db:
        stored = await db.get_answer(answer_id)
        assert stored["question"] == "What did Putin agree to?" and stored["latency_ms"] == 123.0
        assert (
            stored["backend"] == "extractive"
            and stored["index_version"] == "v1"
            and stored["message_id"] == 999
        )
        assert [c["quote"] for c in stored["citations"]] == [
            "Putin accepted the proposal.",
            "Zelensky agreed.",
        ]
        assert (await db.answer_for_message(999))["id"] == answer_id
        assert await db.vote_counts(answer_id) == (1, 0)
        assert await db.is_bot_thread(77) and not await db.is_bot_thread(78)
        assert await db.thread_history(77) == ["first?", "first? and then?"]
        assert await db.rate_events(1, 0.0) == [1000.0]
        assert await db.get_meta("k") == "v"


async def test_one_vote_per_user_changeable(make_db):
    async with make_db() as db:
        answer_id = await db.record_answer(sample_answer(), user_id=1)
        assert await db.record_vote(answer_id, 10, 1) == "new"
        assert await db.record_vote(answer_id, 10, 1) == "same"
        assert await db.record_vote(answer_id, 10, -1) == "changed"
        assert await db.record_vote(answer_id, 11, -1) == "new"
        assert await db.vote_counts(answer_id) == (0, 2)
        assert await db.record_vote(answer_id + 100, 10, 1) == "unknown answer"
        with pytest.raises(ValueError):
            await db.record_vote(answer_id, 10, 0)


async def test_migrates_an_older_schema_keeping_data(tmp_path):
    path = tmp_path / "bot.sqlite3"
    old = Database(path)
    assert await old.open(target_version=1)  # a database written by the first release
    answer_id = await old.record_answer(sample_answer(), user_id=1, latency_ms=50.0)
    await old.record_vote(answer_id, 2, -1)
    assert await old.schema_version() == 1
    assert await old.record_admin_action(1, "reindex", None, "ok") is None  # no such table yet
    await old.close()

    async with Database(path) as db:
        assert await db.schema_version() == SCHEMA_VERSION
        assert (await db.get_answer(answer_id))["latency_ms"] == 50.0
        assert await db.vote_counts(answer_id) == (0, 1)
        action_id = await db.record_admin_action(1, "reindex", {"added": 1}, "ok")
        assert action_id is not None
        assert (await db.admin_actions())[0]["detail"] == '{"added": 1}'


async def test_newer_schema_is_refused(tmp_path):
    path = tmp_path / "bot.sqlite3"
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {len(MIGRATIONS) + 1}")
    conn.close()
    with pytest.raises(DatabaseError, match="newer"):
        await Database(path).open()


async def test_stats_for_admins(make_db):
    clock = iter(range(1000, 2000)).__next__
    async with make_db(clock=lambda: float(clock())) as db:
        ids = []
        for i, latency in enumerate([100, 200, 300, 400, 1000]):
            ids.append(
                await db.record_answer(
                    sample_answer("Who met in Riyadh?" if i % 2 else "What about Black Sea?"),
                    user_id=i,
                    latency_ms=latency,
                )
            )
        await db.record_answer(sample_answer("Capital of Mars?", refused=True), user_id=9, latency_ms=50)
        await db.record_vote(ids[0], 1, 1)
        await db.record_vote(ids[0], 2, -1)
        await db.record_vote(ids[1], 1, 1)
        await db.record_reindex(started=1.0, finished=2.0, user_id=1, outcome="ok", report={"added": 3})
        stats = await db.stats(top=2)
    assert stats.answered == 5 and stats.refused == 1
    assert stats.latency_p50_ms == 250 and stats.latency_p95_ms == pytest.approx(850)
    assert (stats.votes_up, stats.votes_down) == (2, 1)
    assert stats.top_questions == [("What about Black Sea?", 3), ("Who met in Riyadh?", 2)]
    assert stats.last_reindex["report"] == {"added": 3} and stats.last_reindex["outcome"] == "ok"
    assert stats.by_backend == {"extractive": 6}


async def test_unopenable_database_is_reported_not_raised(tmp_path, caplog):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    db = Database(blocker / "bot.sqlite3")  # its parent is a file: cannot be created
    with caplog.at_level(logging.ERROR, logger="bot.app.db"):
        assert await db.open() is False
    assert not db.available and db.last_error
    assert "cannot open" in caplog.text
    assert await db.record_answer(sample_answer(), user_id=1) is None
    assert await db.thread_history(1) == [] and await db.rate_events(1, 0) is None
    assert (await db.stats()).answered == 0


async def test_locked_database_skips_the_write_and_recovers(tmp_path, caplog):
    path = tmp_path / "bot.sqlite3"
    async with Database(path, busy_timeout_s=0.2) as db:
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
        try:
            with caplog.at_level(logging.ERROR, logger="bot.app.db"):
                assert await db.record_answer(sample_answer(), user_id=1) is None
            assert "locked" in caplog.text and "locked" in db.last_error
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await db.record_answer(sample_answer(), user_id=1) is not None  # back to normal


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions")
async def test_read_only_file_skips_writes_nonroot(tmp_path):  # pragma: no cover - CI runs as root
    path = tmp_path / "bot.sqlite3"
    async with Database(path):
        pass
    path.chmod(0o444)
    async with Database(path) as db:
        assert await db.record_answer(sample_answer(), user_id=1) is None


async def test_read_only_database_skips_writes(tmp_path, caplog):
    """A database the bot may only read (SQLite's query_only: writes fail with SQLITE_READONLY,
    as for a read-only file — which root, running CI, would not get from file modes) keeps
    reads working and drops writes, logged once per kind of write."""
    path = tmp_path / "bot.sqlite3"
    async with Database(path) as db:
        answer_id = await db.record_answer(sample_answer(), user_id=1)
        await db.conn.execute("PRAGMA query_only = 1")
        with caplog.at_level(logging.ERROR, logger="bot.app.db"):
            assert await db.record_answer(sample_answer(), user_id=1) is None
            assert await db.record_answer(sample_answer(), user_id=2) is None
            assert await db.record_vote(answer_id, 3, 1) is None
        assert "read-only" in db.last_error
        assert caplog.text.count("cannot") == 2  # one line per kind of failure, not per question
        assert (await db.get_answer(answer_id))["question"] == "What did Putin agree to?"

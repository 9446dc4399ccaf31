"""Issue 15, item 2: concurrent writes on the bot's one SQLite connection are serialised, so a
failing write's rollback never undoes another coroutine's answer (whose id was already handed
out and would later be handed out again). A real aiosqlite database, real concurrency, an
injected failure."""

from __future__ import annotations

import asyncio
import sqlite3

from bot.app.db import Database
from tests.app.test_db import sample_answer


async def test_a_failing_write_never_undoes_another_coroutines_answer(tmp_path):
    async with Database(tmp_path / "bot.sqlite3") as db:

        async def injected_failure(conn):
            # half a transaction, then a failure while other coroutines are writing
            await conn.execute(
                "INSERT INTO admin_actions (created, user_id, action, outcome) VALUES (0, 1, 'x', 'y')"
            )
            await asyncio.sleep(0)
            raise sqlite3.OperationalError("injected failure")

        answers = [db.record_answer(sample_answer(f"Question {i}?"), user_id=i) for i in range(30)]
        failures = [db._write("injected", injected_failure) for _ in range(10)]
        # a public write that fails too: a thread turn naming an answer that does not exist
        bad_refs = [db.add_thread_question(5, "q", "q", answer_id=10_000 + i) for i in range(10)]
        results = await asyncio.gather(*answers, *failures, *bad_refs)
        ids = results[:30]

        assert None not in ids and len(set(ids)) == 30
        for i, answer_id in enumerate(ids):
            stored = await db.get_answer(answer_id)
            assert stored is not None and stored["question"] == f"Question {i}?"
            assert [c["n"] for c in stored["citations"]] == [1, 2]
        assert await db.admin_actions() == []  # the failed transactions left nothing behind
        assert await db.thread_history(5) == []
        # no id is handed out twice: a later answer gets a new one, and a vote on an earlier
        # answer's button lands on that answer
        later = await db.record_answer(sample_answer("Later?"), user_id=99)
        assert later not in ids
        assert await db.record_vote(ids[0], 7, 1) == "new"
        assert await db.vote_counts(ids[0]) == (1, 0) and await db.vote_counts(later) == (0, 0)


async def test_a_write_cancelled_mid_transaction_leaves_no_transaction_open(tmp_path):
    async with Database(tmp_path / "bot.sqlite3") as db:
        entered = asyncio.Event()

        async def slow(conn):
            await conn.execute(
                "INSERT INTO admin_actions (created, user_id, action, outcome) VALUES (0, 1, 'x', 'y')"
            )
            entered.set()
            await asyncio.sleep(3600)

        task = asyncio.create_task(db._write("slow", slow))
        await entered.wait()
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert not db.conn.in_transaction
        assert await db.admin_actions() == []
        assert await db.record_answer(sample_answer(), user_id=1) is not None  # writes go on

"""Issue 15, item 8: bounded growth and no secret in settings errors — retention pruning (answers,
threads, audit, rate events), /stats percentiles computed in SQL over a recent window, idle
rate-limit keys forgotten without a database, settings errors printed without input values.

Names new with these fixes are imported inside the tests that use them, so that each test runs
(and fails) on the code before them, rather than the whole module failing to import."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest

from bot.app.client import NegotiationsBot
from bot.app.db import Database
from bot.app.ratelimit import RateLimiter
from bot.measure import percentile
from tests.app.test_db import sample_answer
from tests.conftest import PROJECT

DAY = 86400.0


class Clock:
    def __init__(self, now: float = 1_000_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_prune_deletes_old_rows_keeps_recent_ones_and_never_reuses_an_answer_id(make_db):
    clock = Clock()
    async with make_db(clock=clock) as db:
        old = [await db.record_answer(sample_answer(f"Old {i}?"), user_id=i) for i in range(3)]
        await db.record_vote(old[0], 5, 1)
        await db.add_bot_thread(70, 1, 1)
        await db.add_thread_question(70, "Old?", "Old?", old[0])
        await db.record_admin_action(1, "reindex", None, "ok")
        await db.record_reindex(started=clock.now, finished=clock.now, user_id=1, outcome="ok", report=None)
        await db.add_rate_event(1, clock.now)
        clock.now += 100 * DAY
        recent = await db.record_answer(sample_answer("Recent?"), user_id=9)

        deleted = await db.prune(
            answers_before=clock.now - 90 * DAY,
            audit_before=clock.now - 90 * DAY,
            rate_before=clock.now - 60,
        )
        assert deleted["answers"] == 3 and deleted["thread_history"] == 1 and deleted["threads"] == 1
        assert deleted["admin_actions"] == 1 and deleted["rate_events"] == 1
        assert deleted["reindex_runs"] == 0  # the last run is kept for /stats
        assert [await db.get_answer(i) for i in old] == [None, None, None]
        assert await db.vote_counts(old[0]) == (0, 0)  # votes went with their answer
        assert (await db.get_answer(recent))["question"] == "Recent?"
        assert not await db.is_bot_thread(70) and await db.admin_actions() == []

        # everything old, the newest included: the newest answer stays, so ids keep growing
        clock.now += 100 * DAY
        await db.prune(answers_before=clock.now)
        assert await db.get_answer(recent) is not None
        assert await db.record_answer(sample_answer("Next?"), user_id=1) > recent


async def test_the_retention_job_uses_the_settings(make_settings):
    settings = make_settings(answer_retention_days=30, audit_retention_days=0)
    clock = Clock(time.time() - 40 * DAY)
    db = Database(settings.database_path, clock=clock)
    bot = NegotiationsBot(settings, service=SimpleNamespace(library=None, close=lambda: None), db=db)
    await db.open()
    try:
        first = await db.record_answer(sample_answer("Old?"), user_id=1)
        await db.record_admin_action(1, "stats", None, "ok")
        clock.now = time.time()  # the job prunes relative to the wall clock
        await db.record_answer(sample_answer("New?"), user_id=1)
        deleted = await bot.prune_once()
        assert deleted["answers"] == 1 and await db.get_answer(first) is None
        assert "admin_actions" not in deleted and len(await db.admin_actions()) == 1  # 0 = keep forever
    finally:
        await db.close()


@pytest.mark.parametrize("n", [1, 2, 3, 7, 20, 101])
async def test_sql_percentiles_match_the_one_definition(make_db, n):
    from bot.app.db_stats import sql_percentiles

    rng = random.Random(n)
    latencies = [round(rng.uniform(5, 5000), 3) for _ in range(n)]
    async with make_db() as db:
        for i, latency in enumerate(latencies):
            await db.record_answer(sample_answer(), user_id=i, guild_id=1, latency_ms=latency)
        await db.record_answer(sample_answer(), user_id=0, guild_id=2, latency_ms=1e9)  # another server
        got = await db._read(lambda c: sql_percentiles(c, "WHERE guild_id = ?", (1,), [0, 50, 95, 100]), None)
    assert got == pytest.approx([percentile(latencies, q) for q in (0, 50, 95, 100)])


async def test_stats_cover_a_recent_window_and_one_server(make_db):
    clock = Clock()
    async with make_db(clock=clock) as db:
        old = await db.record_answer(sample_answer("Old?"), user_id=1, guild_id=1, latency_ms=9000)
        await db.record_vote(old, 2, -1)
        clock.now += 40 * DAY
        for latency, guild in ((100, 1), (300, 1), (5000, 2)):
            answer_id = await db.record_answer(
                sample_answer("New?"), user_id=1, guild_id=guild, latency_ms=latency
            )
            await db.record_vote(answer_id, 2, 1)
        recent = await db.stats(since=clock.now - 30 * DAY, guild_id=1)
        everything = await db.stats()
    assert (recent.answered, recent.latency_p50_ms, recent.votes_up, recent.votes_down) == (2, 200, 2, 0)
    assert recent.top_questions == [("New?", 2)]
    assert everything.answered == 4 and (everything.votes_up, everything.votes_down) == (3, 1)


async def test_idle_keys_are_forgotten_without_a_database():
    from bot.app.ratelimit import FORGET_EVERY

    clock = Clock()
    limiter = RateLimiter(2, 60, clock=clock)  # no database: memory only
    for user in range(3 * FORGET_EVERY):
        await limiter.hit(user)
    clock.now += 61
    for user in range(10_000, 10_000 + 3 * FORGET_EVERY):
        await limiter.hit(user)
        await limiter.retry_after(user + 50_000)  # peeks create keys too
    assert len(limiter._events) <= 4 * FORGET_EVERY  # about twice the keys active in one window
    assert await limiter.hit(10_000) == 0.0 and await limiter.hit(10_000) > 0  # the active ones kept


TOKEN = "MTIzNDU2Nzg5MDEyMzQ1Njc4.GabcDE.fake-token-tail-0123456789abcdefXYZ"


def run_cli(tmp_path, **settings) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LLM_", "ANSWER_", "DISCORD_", "RATE_"))}
    env |= {"PYTHONPATH": str(PROJECT), "DISCORD_TOKEN": TOKEN} | settings
    return subprocess.run(
        [sys.executable, "-m", "bot", "ask", "What did Putin agree to?"],
        cwd=tmp_path,  # no .env here
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize(
    "settings, names, values",
    [
        # a check across settings: pydantic's message carries every setting, the token included
        ({"ANSWER_BACKEND": "openai"}, ["LLM_BASE_URL"], []),
        (
            {"RATE_LIMIT_QUESTIONS": "notanumber987", "ADMIN_USER_IDS": "12,secret-ish-value"},
            ["RATE_LIMIT_QUESTIONS", "ADMIN_USER_IDS"],
            ["notanumber987", "secret-ish-value"],
        ),
    ],
)
def test_a_settings_error_never_prints_the_values_given(tmp_path, settings, names, values):
    result = run_cli(tmp_path, **settings)
    assert result.returncode == 2  # bad input
    output = result.stderr + result.stdout
    for secret in [TOKEN, TOKEN[-12:], "input_value", *values]:
        assert secret not in output
    assert all(name in result.stderr for name in names), result.stderr

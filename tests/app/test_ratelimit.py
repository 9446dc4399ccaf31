"""Per-user sliding-window rate limit, persisted across restarts."""

from __future__ import annotations

import pytest

from bot.app.db import Database
from bot.app.ratelimit import RateLimiter


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


async def test_sliding_window_and_retry_after():
    clock = Clock()
    limiter = RateLimiter(3, 60, clock=clock)
    assert [await limiter.hit(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    assert await limiter.hit(1) == pytest.approx(60)
    assert await limiter.hit(2) == 0.0  # other users are not affected
    clock.now += 20
    assert await limiter.hit(1) == pytest.approx(40)  # rejected attempts do not count
    clock.now += 40
    assert await limiter.hit(1) == 0.0  # all three (asked at the same time) left the window
    clock.now += 1
    assert await limiter.retry_after(1) == 0.0
    assert [await limiter.hit(1) for _ in range(2)] == [0.0, 0.0]
    assert await limiter.retry_after(1) == pytest.approx(59)  # the oldest of the three, 1 s ago
    assert await limiter.hit(1) == pytest.approx(59)


async def test_window_is_sliding_not_fixed():
    clock = Clock()
    limiter = RateLimiter(2, 10, clock=clock)
    await limiter.hit(1)
    clock.now += 9
    await limiter.hit(1)
    clock.now += 2  # 11 s after the first, 2 s after the second
    assert await limiter.hit(1) == 0.0
    assert await limiter.hit(1) == pytest.approx(8)  # until the second (t+9) leaves: t+19


async def test_limits_survive_a_restart(tmp_path):
    clock = Clock()
    path = tmp_path / "bot.sqlite3"
    async with Database(path) as db:
        limiter = RateLimiter(2, 60, db, clock=clock)
        assert await limiter.hit(7) == 0.0
        clock.now += 1
        assert await limiter.hit(7) == 0.0
        await limiter.flush()  # saved in the background; the bot flushes before closing the DB
    clock.now += 10
    async with Database(path) as db:  # a new process: nothing in memory
        limiter = RateLimiter(2, 60, db, clock=clock)
        assert await limiter.hit(7) == pytest.approx(49)
        assert await limiter.hit(8) == 0.0


async def test_works_without_database(tmp_path):
    db = Database(tmp_path / "missing-dir-file")
    (tmp_path / "missing-dir-file").mkdir()  # a directory where the file should be: cannot open
    assert await db.open() is False
    limiter = RateLimiter(1, 60, db, clock=Clock())
    assert await limiter.hit(1) == 0.0
    assert await limiter.hit(1) == pytest.approx(60)


def test_bad_configuration():
    with pytest.raises(ValueError):
        RateLimiter(0, 60)
    with pytest.raises(ValueError):
        RateLimiter(1, 0)


async def test_a_locked_database_does_not_delay_the_check(tmp_path):
    """The check runs before deferring an interaction (3-second deadline): saving must not block it."""
    import sqlite3
    import time

    path = tmp_path / "bot.sqlite3"
    async with Database(path, busy_timeout_s=1.0) as db:
        limiter = RateLimiter(5, 60, db)
        await limiter.retry_after(1)  # first read for this user, before the lock
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN EXCLUSIVE")
        try:
            started = time.perf_counter()
            assert await limiter.hit(1) == 0.0
            assert time.perf_counter() - started < 0.5
            await limiter.flush()  # the write gave up after the busy timeout: logged, not raised
        finally:
            other.execute("ROLLBACK")
            other.close()
        assert await db.rate_events(1, 0.0) == []

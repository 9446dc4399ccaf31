"""Per-user sliding-window rate limit: at most ``limit`` questions in any ``window`` seconds.

Events are kept in memory and written to the database, so a restart does not reset anyone's
window; a user's events are read back from the database the first time they ask after a start.
If the database is unavailable the limiter keeps working from memory alone.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Callable

from bot.app.db import Database


class RateLimiter:
    def __init__(
        self, limit: int, window: float, db: Database | None = None, clock: Callable[[], float] = time.time
    ):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.db = db
        self.clock = clock  # wall clock: persisted times must mean the same after a restart
        self._events: dict[int, deque[float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._hits_since_prune = 0
        self._pending: set[asyncio.Future] = set()

    async def _load(self, user_id: int, now: float) -> deque[float]:
        events = self._events.get(user_id)
        if events is None:
            stored = await self.db.rate_events(user_id, now - self.window) if self.db is not None else None
            events = self._events[user_id] = deque(stored or [])
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    async def retry_after(self, user_id: int) -> float:
        """Seconds until ``user_id`` may ask again (0.0 if now), without using up a question."""
        now = self.clock()
        events = await self._load(user_id, now)
        return self._wait(events, now)

    def _wait(self, events: deque[float], now: float) -> float:
        if len(events) < self.limit:
            return 0.0
        return max(0.0, events[-self.limit] + self.window - now)

    async def hit(self, user_id: int) -> float:
        """Use up one question: returns 0.0 if allowed (and records it), else the seconds to wait."""
        lock = self._locks.setdefault(user_id, asyncio.Lock())
        async with lock:
            now = self.clock()
            events = await self._load(user_id, now)
            wait = self._wait(events, now)
            if wait > 0:
                return wait
            events.append(now)
            if self.db is not None and self.db.available:
                # Saved in the background: this runs before an interaction is deferred, and a
                # locked database must not eat into Discord's 3-second deadline.
                self._persist(self.db.add_rate_event(user_id, now))
                self._hits_since_prune += 1
                if self._hits_since_prune >= 200:
                    self._hits_since_prune = 0
                    self._persist(self.db.prune_rate_events(now - self.window))
                    self.forget_idle()
            return 0.0

    def _persist(self, coro) -> None:
        task = asyncio.ensure_future(coro)
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    async def flush(self) -> None:
        """Wait for the events still being saved (before the database is closed)."""
        if self._pending:
            await asyncio.gather(*list(self._pending), return_exceptions=True)

    def forget_idle(self) -> None:
        """Drop users whose window is empty (memory bound for long-running bots)."""
        now = self.clock()
        for user_id in [u for u, ev in self._events.items() if not ev or ev[-1] <= now - self.window]:
            self._events.pop(user_id, None)
            lock = self._locks.get(user_id)
            if lock is not None and not lock.locked():
                self._locks.pop(user_id, None)

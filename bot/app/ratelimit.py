"""Sliding-window rate limits: at most ``limit`` events in any ``window`` seconds per key — per
user (questions, or /sources pages and votes) or per server (``scope="guild"``).

With a database shared by several processes (``DATABASE_URL``: bot shards), every check and its
record are one transaction in the database, so the limit holds across processes. Otherwise events
are kept in memory and, given a database, written to it, so a restart does not reset anyone's
window; a key's events are read back from the database the first time it is seen after a
start. If the database is unavailable the limiter keeps working from memory alone. Keys whose
window is empty are forgotten whenever the keys in memory have doubled (at least
``FORGET_EVERY``), with or without a database, so memory stays bounded by about twice the keys
active within one window.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections import deque
from collections.abc import Callable

import discord

from bot.app.db import Database


def format_wait(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def too_often_message(wait: float) -> str:
    """For /sources pages and votes past RATE_LIMIT_ACTIONS."""
    return f"You're doing that too often. Please try again in {format_wait(wait)}."


FORGET_EVERY = 200  # keys in memory before idle ones are swept; events between database prunes


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window: float,
        db: Database | None = None,
        clock: Callable[[], float] = time.time,
        scope: str = "user",
    ):
        if limit < 1 or window <= 0:
            raise ValueError("limit must be >= 1 and window > 0")
        self.limit = limit
        self.window = window
        self.db = db
        self.scope = scope  # "user" or "guild": which kind of id the keys are (kept apart in the database)
        self.clock = clock  # wall clock: persisted times must mean the same after a restart
        self._events: dict[int, deque[float]] = {}
        self._locks: dict[int, asyncio.Lock] = {}
        self._hits_since_prune = 0
        self._sweep_at = FORGET_EVERY  # keys in memory before idle ones are forgotten
        self._pending: set[asyncio.Future] = set()

    async def _load(self, user_id: int, now: float) -> deque[float]:
        events = self._events.get(user_id)
        if events is None:
            if len(self._events) >= self._sweep_at:  # before adding: the new key is empty too
                self.forget_idle()
                self._sweep_at = max(FORGET_EVERY, 2 * len(self._events))
            stored = (
                await self.db.rate_events(user_id, now - self.window, self.scope)
                if self.db is not None
                else None
            )
            events = self._events[user_id] = deque(stored or [])
        while events and events[0] <= now - self.window:
            events.popleft()
        return events

    async def retry_after(self, user_id: int) -> float:
        """Seconds until ``user_id`` may ask again (0.0 if now), without using up a question."""
        now = self.clock()
        if self.shared:
            stored = await self.db.rate_events(user_id, now - self.window, self.scope)
            if stored is not None:
                return self._wait(deque(stored), now)
        events = await self._load(user_id, now)
        return self._wait(events, now)

    def _wait(self, events: deque[float], now: float) -> float:
        if len(events) < self.limit:
            return 0.0
        return max(0.0, events[-self.limit] + self.window - now)

    @property
    def shared(self) -> bool:
        """Whether the database is shared by several processes (PostgreSQL): then it decides."""
        return self.db is not None and getattr(self.db, "shared", False) and self.db.available

    async def hit(self, user_id: int) -> float:
        """Use up one question: returns 0.0 if allowed (and records it), else the seconds to wait."""
        if self.shared:
            # Every shard's events are in the database: check and record in one transaction there
            # (a user cannot multiply the limit by asking two shards). Memory is the fallback.
            wait = await self.db.take_rate_slot(user_id, self.clock(), self.window, self.limit, self.scope)
            if wait is not None:
                return wait
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
                self._persist(self.db.add_rate_event(user_id, now, self.scope))
                self._hits_since_prune += 1
                if self._hits_since_prune >= FORGET_EVERY:
                    self._hits_since_prune = 0
                    self._persist(self.db.prune_rate_events(now - self.window, self.scope))
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


async def too_often(interaction: discord.Interaction) -> bool:
    """Past RATE_LIMIT_ACTIONS (/sources and its pages, votes): told privately, True."""
    limiter = getattr(interaction.client, "action_limiter", None)
    wait = await limiter.hit(interaction.user.id) if limiter is not None else 0.0
    if wait <= 0:
        return False
    try:
        await interaction.response.send_message(
            too_often_message(wait), ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )
    except discord.HTTPException:
        pass
    return True

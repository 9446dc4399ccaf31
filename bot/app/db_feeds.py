"""The database's news-feed tables (migration 5): subscriptions, the items already saved, and
each poll's outcome. A part of ``bot.app.db.Database`` (mixed in), with the same best-effort
rules: when the database is unavailable, writes return None and reads return empty results."""

from __future__ import annotations

import json


class FeedTables:
    """Mixed into ``Database``: uses its ``_read``/``_write``/``_scalar`` and ``clock``."""

    async def add_feed(self, url: str, title: str | None, user_id: int | None) -> str | None:
        """Subscribe: "added", "exists" (already subscribed), or None if it could not be saved."""

        async def run(conn):
            cursor = await conn.execute(
                "INSERT INTO feeds (url, title, added, added_by) VALUES (?,?,?,?) ON CONFLICT DO NOTHING",
                (url, title, self.clock(), user_id),
            )
            return "added" if cursor.rowcount else "exists"

        return await self._write("save the feed", run)

    async def remove_feed(self, url: str) -> bool | None:
        """Unsubscribe (its saved-item records go with it): True, False if not subscribed, None
        if the database could not be written."""

        async def run(conn):
            cursor = await conn.execute("DELETE FROM feeds WHERE url = ?", (url,))
            return cursor.rowcount > 0

        return await self._write("remove the feed", run)

    async def feeds(self) -> list[dict]:
        """Every subscription, oldest first, with ``items``: how many of its items were saved."""

        async def run(conn):
            rows = await (
                await conn.execute(
                    "SELECT feeds.*, (SELECT COUNT(*) FROM feed_items WHERE feed_id = feeds.id) AS items"
                    " FROM feeds ORDER BY id"
                )
            ).fetchall()
            return [dict(r) for r in rows]

        return await self._read(run, [])

    async def feed(self, url: str) -> dict | None:
        return next((f for f in await self.feeds() if f["url"] == url), None)

    async def feed_seen(self, feed_id: int) -> dict[str, str]:
        """Item key → the version saved, for the feed's items saved so far."""

        async def run(conn):
            rows = await (
                await conn.execute("SELECT item_key, version FROM feed_items WHERE feed_id = ?", (feed_id,))
            ).fetchall()
            return {r[0]: r[1] for r in rows}

        return await self._read(run, {})

    async def save_feed_poll(
        self,
        feed_id: int,
        *,
        title: str | None,
        etag: str | None,
        last_modified: str | None,
        error: str | None,
        saved: list[tuple[str, str, str]],
    ) -> bool:
        """After polling one feed: its validators and error, and the items saved (key, version,
        doc) — in one transaction. False if it could not be written."""
        now = self.clock()

        async def run(conn):
            await conn.execute(
                "UPDATE feeds SET title = COALESCE(?, title), etag = ?, last_modified = ?,"
                " last_polled = ?, last_error = ? WHERE id = ?",
                (title, etag, last_modified, now, error, feed_id),
            )
            await conn.executemany(
                "INSERT INTO feed_items (feed_id, item_key, version, doc, saved) VALUES (?,?,?,?,?)"
                " ON CONFLICT(feed_id, item_key) DO UPDATE SET version = excluded.version,"
                " doc = excluded.doc, saved = excluded.saved",
                [(feed_id, key, version, doc, now) for key, version, doc in saved],
            )
            return True

        return bool(await self._write("save the feed poll", run))

    async def record_feed_poll(
        self, started: float, finished: float, trigger: str, report: dict
    ) -> int | None:
        async def run(conn):
            cursor = await conn.execute(
                "INSERT INTO feed_polls (started, finished, trigger, report) VALUES (?,?,?,?) RETURNING id",
                (started, finished, trigger, json.dumps(report, ensure_ascii=False)),
            )
            return (await cursor.fetchone())[0]

        return await self._write("record the feed poll", run)

    async def last_feed_poll(self) -> dict | None:
        """The last poll: ``started``, ``finished``, ``trigger`` and its ``report`` (a dict)."""

        async def run(conn):
            row = await (await conn.execute("SELECT * FROM feed_polls ORDER BY id DESC LIMIT 1")).fetchone()
            if row is None:
                return None
            result = dict(row)
            try:
                result["report"] = json.loads(result["report"])
            except ValueError:
                result["report"] = {}
            return result

        return await self._read(run, None)

"""Retention: old answers, threads, audit rows and rate events are deleted, in batches.

Mixed into ``bot.app.db.Database`` (which provides ``_write``); the bot runs ``prune`` periodically
with the cut-offs of ANSWER_RETENTION_DAYS and AUDIT_RETENTION_DAYS (``bot.app.client``).
"""

from __future__ import annotations

import aiosqlite

PRUNE_BATCH = 5000  # rows deleted per transaction, so other writes are not held up for long


class Retention:
    async def prune(
        self,
        *,
        answers_before: float | None = None,
        audit_before: float | None = None,
        rate_before: float | None = None,
    ) -> dict[str, int]:
        """Delete what is older than the cut-offs (None keeps it): answers with their citations
        and votes, thread history and threads; admin actions and re-index runs; rate events.
        In batches, each its own short transaction. Returns the rows deleted per table."""
        # The newest answer and re-index run are kept whatever their age: answer ids must never
        # be handed out twice (old messages' feedback buttons carry them), and /stats shows the
        # last re-index. Ids are max(id) + 1 in SQLite without AUTOINCREMENT.
        plan = []
        if answers_before is not None:
            plan += [
                ("answers", "id", "created < ? AND id < (SELECT MAX(id) FROM answers)", answers_before),
                ("thread_history", "rowid", "created < ?", answers_before),
                (
                    "threads",
                    "thread_id",
                    "created < ? AND thread_id NOT IN (SELECT thread_id FROM thread_history)",
                    answers_before,
                ),
            ]
        if audit_before is not None:
            plan += [
                ("admin_actions", "id", "created < ?", audit_before),
                (
                    "reindex_runs",
                    "id",
                    "started < ? AND id < (SELECT MAX(id) FROM reindex_runs)",
                    audit_before,
                ),
            ]
        if rate_before is not None:
            plan.append(("rate_events", "rowid", "at <= ?", rate_before))
        deleted: dict[str, int] = {}
        for table, key, condition, cutoff in plan:
            sql = f"DELETE FROM {table} WHERE {key} IN (SELECT {key} FROM {table} WHERE {condition} LIMIT {PRUNE_BATCH})"
            total = 0
            while True:
                count = await self._write(
                    f"prune {table}", lambda c, sql=sql, cutoff=cutoff: self._rowcount(c, sql, (cutoff,))
                )
                total += count or 0
                if not count or count < PRUNE_BATCH:
                    break
            deleted[table] = total
        return deleted

    @staticmethod
    async def _rowcount(conn: aiosqlite.Connection, sql: str, params: tuple) -> int:
        return (await conn.execute(sql, params)).rowcount

"""The numbers behind /stats, computed inside SQLite over a recent window, one server's or all.

Latency percentiles use the project's one definition (``bot.measure.percentile``: linear
interpolation between the two nearest ranks) without sorting every latency in Python on the
event loop: SQLite counts the window's latencies, then fetches just the two neighbouring ranks
(``ORDER BY latency_ms LIMIT 2 OFFSET k``) on its own thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import aiosqlite


def count_where(condition: str) -> str:
    """How many rows meet ``condition``, in SQL that SQLite and PostgreSQL both run (PostgreSQL
    does not sum booleans)."""
    return f"COALESCE(SUM(CASE WHEN {condition} THEN 1 ELSE 0 END), 0)"


COUNT_UP, COUNT_DOWN = count_where("vote = 1"), count_where("vote = -1")


@dataclass
class Stats:
    answered: int = 0
    refused: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    votes_up: int = 0
    votes_down: int = 0
    top_questions: list[tuple[str, int]] = field(default_factory=list)
    last_reindex: dict | None = None  # {"started", "finished", "user_id", "outcome", "report"}
    by_backend: dict[str, int] = field(default_factory=dict)


def _answers_filter(since: float | None, guild_id: int | None, alias: str = "") -> tuple[str, tuple]:
    """``WHERE …`` for the answers in the window (and of one server), with its parameters."""
    prefix = f"{alias}." if alias else ""
    clauses, params = [], []
    if since is not None:
        clauses.append(f"{prefix}created >= ?")
        params.append(since)
    if guild_id is not None:
        clauses.append(f"{prefix}guild_id = ?")
        params.append(guild_id)
    return ("WHERE " + " AND ".join(clauses)) if clauses else "", tuple(params)


async def sql_percentiles(conn: aiosqlite.Connection, where: str, params: tuple, qs: list[float]) -> list:
    """``bot.measure.percentile`` of the answers' latencies matching ``where``, for each q."""
    latency = f"{where} {'AND' if where else 'WHERE'} latency_ms IS NOT NULL"
    row = await (await conn.execute(f"SELECT COUNT(*) FROM answers {latency}", params)).fetchone()
    n = int(row[0])
    results: list[float | None] = []
    for q in qs:
        if n == 0:
            results.append(None)
            continue
        pos = (n - 1) * q / 100
        lo = int(pos)
        rows = await (
            await conn.execute(
                f"SELECT latency_ms FROM answers {latency} ORDER BY latency_ms LIMIT 2 OFFSET ?",
                params + (lo,),
            )
        ).fetchall()
        low = rows[0][0]
        high = rows[1][0] if len(rows) > 1 else low
        results.append(low + (high - low) * (pos - lo))
    return results


class StatsQueries:
    """Mixed into ``bot.app.db.Database`` (which provides ``_read`` and ``last_reindex``)."""

    async def stats(self, *, top: int = 5, since: float | None = None, guild_id: int | None = None) -> Stats:
        """Answers and refusals, latency percentiles, votes, top questions and backends of the
        answers created since ``since`` (all if None), in server ``guild_id`` (all if None)."""

        async def run(conn):
            where, params = _answers_filter(since, guild_id)
            row = await (
                await conn.execute(
                    f"SELECT {count_where('refused = 0')}, {count_where('refused = 1')} FROM answers {where}",
                    params,
                )
            ).fetchone()
            p50, p95 = await sql_percentiles(conn, where, params, [50, 95])
            if guild_id is None:
                vote_sql = f"SELECT {COUNT_UP}, {COUNT_DOWN} FROM feedback" + (
                    " WHERE updated >= ?" if since is not None else ""
                )
                vote_params: tuple = (since,) if since is not None else ()
            else:  # one server's votes: those on its answers
                joined, vote_params = _answers_filter(None, guild_id, alias="a")
                vote_sql = (
                    f"SELECT {count_where('f.vote = 1')}, {count_where('f.vote = -1')}"
                    f" FROM feedback f JOIN answers a ON a.id = f.answer_id {joined}"
                    + (" AND f.updated >= ?" if since is not None else "")
                )
                vote_params += (since,) if since is not None else ()
            votes = await (await conn.execute(vote_sql, vote_params)).fetchone()
            tops = await (
                await conn.execute(
                    f"SELECT lower(question) AS q, COUNT(*) AS n, MAX(question) FROM answers {where}"
                    " GROUP BY q ORDER BY n DESC, MAX(created) DESC LIMIT ?",
                    params + (top,),
                )
            ).fetchall()
            backends = await (
                await conn.execute(
                    f"SELECT COALESCE(backend, 'unknown'), COUNT(*) FROM answers {where} GROUP BY 1", params
                )
            ).fetchall()
            return Stats(
                answered=int(row[0]),
                refused=int(row[1]),
                latency_p50_ms=p50,
                latency_p95_ms=p95,
                votes_up=int(votes[0]),
                votes_down=int(votes[1]),
                top_questions=[(r[2], int(r[1])) for r in tops],
                by_backend={r[0]: int(r[1]) for r in backends},
            )

        stats = await self._read(run, Stats())
        stats.last_reindex = await self.last_reindex()
        return stats

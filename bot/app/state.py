"""Where the bot's state lives — the one place that chooses: SQLite in DATA_DIR by default,
PostgreSQL when DATABASE_URL is set (shared by every process using it; docs/SCALING.md)."""

from __future__ import annotations

from bot.app.db import Database


def open_database(settings) -> Database:
    """A not yet opened ``Database`` (``await db.open()``) for ``settings``."""
    if settings.database:
        from bot.app.pgdb import PgDatabase  # psycopg only when a database is configured

        return PgDatabase(settings.database)
    return Database(settings.database_path)

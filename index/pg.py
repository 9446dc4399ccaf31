"""PostgreSQL plumbing shared by the index store and the bot's state: connecting with one clear
error, versioned migrations that two processes starting at once apply exactly once, and retries
of an operation the database interrupted (a restart, a failover)."""

from __future__ import annotations

import logging
import time
import zlib
from collections.abc import Callable
from typing import TypeVar

log = logging.getLogger(__name__)

T = TypeVar("T")
MIGRATION_LOCK = zlib.crc32(b"negotiations-bot migrations")
RETRIES = 3


class DatabaseUnavailable(Exception):
    """The database cannot be used (unreachable, refused, wrong credentials or name, no pgvector,
    or written by a newer program); the message says which and where, without a password."""


def describe_url(url: str) -> str:
    """``user@host:port/dbname`` of a connection URL, without its password."""
    from psycopg.conninfo import conninfo_to_dict

    try:
        parts = conninfo_to_dict(url)
    except Exception:
        return "the DATABASE_URL given"
    user = f"{parts['user']}@" if parts.get("user") else ""
    port = f":{parts['port']}" if parts.get("port") else ""
    return f"{user}{parts.get('host') or 'localhost'}{port}/{parts.get('dbname') or ''}"


def explain(exc: BaseException, url: str) -> str:
    """A one-line reason for a failed connection or statement, for people, not stack traces."""
    text = " ".join(str(exc).split())
    where = describe_url(url)
    if "Connection refused" in text:
        return f"cannot connect to PostgreSQL at {where}: connection refused (is the server running?)"
    if "does not exist" in text and "database" in text:
        return f"PostgreSQL at {where}: the database does not exist ({text})"
    if "password authentication failed" in text or ("role" in text and "does not exist" in text):
        return f"PostgreSQL at {where} refused the login: {text}"
    if "could not translate host name" in text or "Name or service not known" in text:
        return f"cannot connect to PostgreSQL at {where}: unknown host"
    if "timeout" in text.lower():
        return f"cannot connect to PostgreSQL at {where}: timed out"
    return f"PostgreSQL at {where}: {text or type(exc).__name__}"


def connect(url: str, autocommit: bool = True, timeout: float = 10.0):
    """A psycopg connection, or DatabaseUnavailable with a clear reason."""
    import psycopg

    try:
        return psycopg.connect(url, autocommit=autocommit, connect_timeout=max(1, int(timeout)))
    except psycopg.Error as exc:
        raise DatabaseUnavailable(explain(exc, url)) from None
    except (ValueError, TypeError) as exc:  # a malformed URL
        raise DatabaseUnavailable(f"DATABASE_URL is not a valid PostgreSQL URL: {exc}") from None


def transient(exc: BaseException) -> bool:
    """Whether an error is the connection's, not the statement's: worth trying again."""
    import psycopg

    return isinstance(exc, psycopg.OperationalError | psycopg.errors.AdminShutdown) or (
        isinstance(exc, psycopg.Error)
        and getattr(exc, "sqlstate", None) in ("57P01", "57P02", "57P03", "08006")
    )


def retrying(what: str, func: Callable[[], T], retries: int = RETRIES, pause: float = 0.5) -> T:
    """``func()``, tried again (with a fresh connection, which ``func`` takes itself) when the
    database dropped the connection; other errors are raised at once."""
    for attempt in range(retries + 1):
        try:
            return func()
        except Exception as exc:
            if attempt == retries or not transient(exc):
                raise
            log.warning(
                "%s: the database connection was lost (%s); trying again", what, " ".join(str(exc).split())
            )
            time.sleep(pause * (attempt + 1))
    raise AssertionError("unreachable")


def migrate(conn, component: str, migrations: list[str]) -> int:
    """Bring ``component``'s tables to ``len(migrations)``, each migration in the same transaction
    as its version bump, under an advisory lock so two processes starting together apply each
    one once. Returns the version. DatabaseUnavailable for a database newer than this program."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATION_LOCK,))
        conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_versions (component text PRIMARY KEY, version integer NOT NULL)"
        )
        row = conn.execute(
            "SELECT version FROM schema_versions WHERE component = %s", (component,)
        ).fetchone()
        version = row[0] if row else 0
        if version > len(migrations):
            raise DatabaseUnavailable(
                f"the database's {component} tables have schema version {version}, newer than this "
                f"program's {len(migrations)}: upgrade the bot or use another database"
            )
        for number in range(version, len(migrations)):
            conn.execute(migrations[number])
            conn.execute(
                "INSERT INTO schema_versions (component, version) VALUES (%s, %s)"
                " ON CONFLICT (component) DO UPDATE SET version = excluded.version",
                (component, number + 1),
            )
            log.info("database: %s tables migrated to schema version %d", component, number + 1)
        return len(migrations)

"""The bot's SQLite schema, versioned with ``PRAGMA user_version``: ``MIGRATIONS[i]`` brings a
database from version i to i + 1, applied in order on open, each in its own transaction."""

# Each entry brings the schema from version i to i + 1. Append only: never edit a released one.
MIGRATIONS: list[str] = [
    # 1: questions and answers, their citations, feedback.
    """
    CREATE TABLE answers (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        user_id INTEGER,
        guild_id INTEGER,
        channel_id INTEGER,
        thread_id INTEGER,
        question TEXT NOT NULL,
        query TEXT,                      -- the retrieval query (a follow-up rewritten in context)
        answer TEXT,
        refused INTEGER NOT NULL DEFAULT 0,
        backend TEXT,
        fallback_reason TEXT,
        latency_ms REAL,
        index_version TEXT,
        message_id INTEGER               -- the bot's message carrying the answer, once sent
    );
    CREATE INDEX answers_created ON answers(created);
    CREATE INDEX answers_message ON answers(message_id);
    CREATE TABLE citations (
        answer_id INTEGER NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
        n INTEGER NOT NULL,
        doc TEXT,
        title TEXT,
        source TEXT,
        published TEXT,
        quote TEXT NOT NULL,
        start INTEGER,
        "end" INTEGER,
        PRIMARY KEY (answer_id, n)
    );
    CREATE TABLE feedback (
        answer_id INTEGER NOT NULL REFERENCES answers(id) ON DELETE CASCADE,
        user_id INTEGER NOT NULL,
        vote INTEGER NOT NULL CHECK (vote IN (-1, 1)),
        updated REAL NOT NULL,
        PRIMARY KEY (answer_id, user_id)
    );
    """,
    # 2: rate-limit events (limits survive a restart) and conversation threads.
    """
    CREATE TABLE rate_events (
        user_id INTEGER NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX rate_events_user ON rate_events(user_id, at);
    CREATE TABLE threads (
        thread_id INTEGER PRIMARY KEY,
        channel_id INTEGER,
        user_id INTEGER,
        created REAL NOT NULL
    );
    CREATE TABLE thread_history (
        thread_id INTEGER NOT NULL,
        position INTEGER NOT NULL,
        question TEXT NOT NULL,
        query TEXT NOT NULL,
        answer_id INTEGER REFERENCES answers(id) ON DELETE SET NULL,
        created REAL NOT NULL,
        PRIMARY KEY (thread_id, position)
    );
    """,
    # 3: admin actions and re-index runs (issue 4), small key/value state (command sync hash).
    """
    CREATE TABLE admin_actions (
        id INTEGER PRIMARY KEY,
        created REAL NOT NULL,
        user_id INTEGER,
        action TEXT NOT NULL,
        detail TEXT,
        outcome TEXT NOT NULL
    );
    CREATE INDEX admin_actions_created ON admin_actions(created);
    CREATE TABLE reindex_runs (
        id INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        finished REAL,
        user_id INTEGER,
        outcome TEXT NOT NULL,
        report TEXT                      -- JSON: index.store.ReindexReport.to_json() or the error
    );
    CREATE TABLE meta (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL
    );
    """,
    # 4 (issue 15): per-server rate limits share rate_events (scope 'user' or 'guild': user_id then
    # holds the server's id); per-server /stats and the retention job read by server and by time.
    """
    ALTER TABLE rate_events ADD COLUMN scope TEXT NOT NULL DEFAULT 'user';
    DROP INDEX rate_events_user;
    CREATE INDEX rate_events_scope ON rate_events(scope, user_id, at);
    CREATE INDEX rate_events_at ON rate_events(at);
    CREATE INDEX answers_guild ON answers(guild_id, created);
    CREATE INDEX answers_latency ON answers(latency_ms, created, guild_id);  -- percentiles: ranks in order, no sort
    CREATE INDEX feedback_updated ON feedback(updated);
    CREATE INDEX thread_history_created ON thread_history(created);
    CREATE INDEX threads_created ON threads(created);
    CREATE INDEX reindex_runs_started ON reindex_runs(started);
    """,
    # 5: news feeds (issue 12): subscriptions, the items already added, each poll's outcome.
    """
    CREATE TABLE feeds (
        id INTEGER PRIMARY KEY,
        url TEXT NOT NULL UNIQUE,
        title TEXT,
        added REAL NOT NULL,
        added_by INTEGER,                -- the admin's user id; NULL when added from the CLI
        etag TEXT,                       -- validators for conditional requests (HTTP 304)
        last_modified TEXT,
        last_polled REAL,
        last_error TEXT                  -- why the last poll could not read it; NULL if it could
    );
    CREATE TABLE feed_items (
        feed_id INTEGER NOT NULL REFERENCES feeds(id) ON DELETE CASCADE,
        item_key TEXT NOT NULL,          -- the entry's id, else its link
        version TEXT NOT NULL,           -- its updated/published date when it was saved
        doc TEXT,                        -- the article file, relative to the corpus dir
        saved REAL NOT NULL,
        PRIMARY KEY (feed_id, item_key)
    );
    CREATE TABLE feed_polls (
        id INTEGER PRIMARY KEY,
        started REAL NOT NULL,
        finished REAL NOT NULL,
        trigger TEXT NOT NULL,           -- "background", "cli", "discord"
        report TEXT NOT NULL             -- JSON: bot.app.newsfeeds.PollReport.to_json()
    );
    """,
]
SCHEMA_VERSION = len(MIGRATIONS)

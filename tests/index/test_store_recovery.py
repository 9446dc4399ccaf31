"""The persisted index under stress: the atomic swap (questions during a re-index come from exactly one
version), failures inside and after the build, a re-index killed mid-way and the next one recovering, and
the lock refusing a concurrent re-index.

Small generated corpora and the real MiniLM model; the kill tests run the re-index in a subprocess with a
deterministic stand-in embedder (loading the model again per subprocess would cost far more than the
store logic under test). Every test here runs against both stores (files, then PostgreSQL).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from index.library import Library, LibraryConfig
from index.lock import IndexBusyError
from tests.index.store_support import (
    PROJECT,
    HashEmbed,
    article_text,
    leftovers,
    unreferenced_segments,
    write_corpus,
)

# ---------------------------------------------------------------- the swap


def test_questions_during_reindex_come_from_exactly_one_version(make_any_library, corpus):
    from index.retrieval import HybridRetriever

    query = "ceasefire talks breakthrough"
    library = make_any_library()
    library.reindex()
    v1 = library.version
    write_corpus(corpus, marker="Observers called it a breakthrough.")  # every article changes

    results: list[list[tuple[str, float]]] = []
    errors: list[BaseException] = []
    stop = threading.Event()

    def hammer():
        while not stop.is_set():
            try:
                results.append(
                    [(hit.node.node_id, round(hit.score, 5)) for hit in library.search(query, top_k=5)]
                )
            except BaseException as exc:
                errors.append(exc)

    answered_mid_build: list[int] = []

    def progress(stage, done, total):
        if stage == "writing" and done == 0:
            # Mid-build (embedded, not yet published): questions must keep being answered.
            start, deadline = len(results), time.monotonic() + 30
            while len(results) < start + 3 and time.monotonic() < deadline:
                time.sleep(0.01)
            answered_mid_build.append(len(results) - start)

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        time.sleep(0.3)
        report = library.reindex(progress=progress)
        time.sleep(0.3)
    finally:
        stop.set()
        thread.join(timeout=30)
    assert not thread.is_alive() and not errors
    v2 = library.version
    assert report.changed and {n.node_id for n in v1.nodes}.isdisjoint(n.node_id for n in v2.nodes)
    assert answered_mid_build and answered_mid_build[0] >= 3  # answered while the re-index ran

    # Every answer is exactly what one version alone answers: same chunks, same order, same scores.
    def alone(version):
        retriever = HybridRetriever(version, library.embed_query, library.config.retrieval)
        return [(hit.node.node_id, round(hit.score, 5)) for hit in retriever.search(query, top_k=5)]

    from_v1, from_v2 = alone(v1), alone(v2)
    assert from_v1 and from_v2 and from_v1 != from_v2
    assert all(result in (from_v1, from_v2) for result in results)
    assert results.count(from_v1) > 0 and results.count(from_v2) > 0
    assert results[-1] == from_v2


# ---------------------------------------------------------------- failures, kills, the lock


@pytest.mark.parametrize("stage", ["reading", "chunking", "embedding", "writing"])
def test_failure_inside_the_build_leaves_the_last_good_version(
    make_any_library, counting, corpus, tmp_path, stage, store_url
):
    library = make_any_library()
    library.reindex()
    good = library.version.name
    (corpus / "12_new.txt").write_text(article_text("Late news", "A late-night deal on drones."), "utf-8")
    with pytest.raises(RuntimeError, match=f"injected failure after {stage}"):
        library.reindex(fail_after_stage=stage)
    store = make_any_library().store
    assert library.version.name == good and store.current_name() == good
    assert "12_new.txt" not in store.load_current().articles
    assert store.building_status() is None  # the lock is released
    report = library.reindex()
    assert report.added == ["12_new.txt"] and report.published
    assert leftovers(tmp_path / "data") == [] and unreferenced_segments(store_url) == []


def test_failure_after_publishing_is_consistent(make_any_library, counting, corpus, tmp_path):
    library = make_any_library()
    library.reindex()
    (corpus / "12_new.txt").write_text(article_text("Late news", "A late-night deal on drones."), "utf-8")
    with pytest.raises(RuntimeError):
        library.reindex(fail_after_stage="publishing")
    counting.reset()
    report = library.reindex()  # the new version is live; this only switches to it
    assert report.no_op and counting.calls == 0 and "12_new.txt" in library.version.articles


KILL_SCRIPT = r"""
import hashlib, sys, time
from pathlib import Path
import numpy as np
sys.path.insert(0, sys.argv[1])
from index.library import Library, LibraryConfig

data, corpus, stage, at, marker = Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4], int(sys.argv[5]), Path(sys.argv[6])
url = sys.argv[7] or None

class HashEmbed:  # deterministic stand-in for the model (same as the test's)
    def get_text_embedding_batch(self, texts):
        out = []
        for t in texts:
            v = np.frombuffer(hashlib.sha512(t.encode()).digest() * 6, dtype=np.uint8)[:384].astype("float32")
            out.append((v / np.linalg.norm(v)).tolist())
        return out
    def get_query_embedding(self, text):
        return self.get_text_embedding_batch([text])[0]

def hook(s, done, total):
    if s == stage and done == at:
        marker.write_text("paused")
        time.sleep(120)

Library(LibraryConfig(data_dir=data, corpus_dir=corpus, database_url=url), embed_model=HashEmbed()).reindex(progress=hook)
"""


@pytest.mark.parametrize(
    "stage,at",
    [("chunking", 1), ("embedding", 0), ("writing", 1), ("publishing", 0)],
    ids=["mid-chunking", "before-embedding", "build-written", "renamed-not-published"],
)
def test_kill_mid_reindex_keeps_last_good_and_next_reindex_recovers(tmp_path, corpus, stage, at, store_url):
    data = tmp_path / "data"
    config = LibraryConfig(data_dir=data, corpus_dir=corpus, database_url=store_url)
    library = Library(config, embed_model=HashEmbed())
    library.reindex()
    good = library.version.name
    (corpus / "13_new.txt").write_text(
        article_text("Kill test", "Talks resumed in Ankara on Tuesday."), "utf-8"
    )
    script = tmp_path / "kill_reindex.py"
    script.write_text(KILL_SCRIPT, "utf-8")
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [
            sys.executable,
            str(script),
            str(PROJECT),
            str(data),
            str(corpus),
            stage,
            str(at),
            str(marker),
            store_url or "",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the re-index never reached the kill point"
            time.sleep(0.05)
        store = Library(config, embed_model=HashEmbed()).store
        # While it runs: a second re-index is refused with the running one's progress.
        status = store.building_status()
        assert status is not None and status.pid == proc.pid and status.stage == stage
        with pytest.raises(IndexBusyError) as busy:
            Library(config, embed_model=HashEmbed()).reindex()
        assert stage in str(busy.value) and busy.value.status.pid == proc.pid
        assert store.building_status() is not None  # the refused attempt did not wipe the progress
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()

    store = Library(config, embed_model=HashEmbed()).store
    assert store.building_status() is None  # the kernel (the server) released the lock with the process
    assert store.current_name() == good
    serving = Library(config, embed_model=HashEmbed())
    assert serving.version is None and serving.search("Geneva ceasefire")  # loads the last good version
    assert serving.version.name == good and "13_new.txt" not in serving.version.articles
    if stage in ("writing", "publishing"):  # something was left behind to clean
        assert leftovers(data) or len(store.version_names()) == 2 or unreferenced_segments(store_url)

    report = serving.reindex()
    assert report.added == ["13_new.txt"] and report.published and report.embedded_chunks > 0
    assert leftovers(data) == [] and unreferenced_segments(store_url) == []
    assert store.version_names() == [good, report.version]
    assert serving.search("Ankara talks resumed")[0].node.metadata["doc"] == "13_new.txt"


def test_concurrent_reindex_in_the_same_process_is_refused_with_progress(make_any_library, corpus):
    library = make_any_library()
    library.reindex()
    (corpus / "14_new.txt").write_text(article_text("Concurrent", "Envoys met in Doha."), "utf-8")
    reached, release = threading.Event(), threading.Event()

    def hook(stage, done, total):
        if stage == "embedding":
            reached.set()
            release.wait(30)

    outcome: dict = {}
    thread = threading.Thread(target=lambda: outcome.setdefault("report", library.reindex(progress=hook)))
    thread.start()
    try:
        assert reached.wait(60)
        with pytest.raises(IndexBusyError) as same_library:
            library.reindex()
        with pytest.raises(IndexBusyError) as other_library:  # e.g. the CLI beside the bot
            make_any_library().reindex()
        for exc in (same_library.value, other_library.value):
            assert "already running" in str(exc) and "embedding 0/1 chunks" in str(exc)
            assert exc.status.stage == "embedding" and exc.status.pid == os.getpid()
        assert library.status() is not None
    finally:
        release.set()
        thread.join(timeout=60)
    assert outcome["report"].added == ["14_new.txt"]
    assert library.status() is None

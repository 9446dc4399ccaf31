"""The persisted index: incremental re-indexing, the atomic swap, crash/kill recovery, the lock.

Small generated corpora (a handful of short articles) and the real MiniLM model; the kill tests
run the re-index in a subprocess with a deterministic stand-in embedder (loading the model
again per subprocess would cost far more than the store logic under test).
"""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from index.library import Library, LibraryConfig
from index.lock import STAGES, IndexBusyError
from index.store import IndexStore, ReindexReport
from index.versions import IndexCorruptError, IndexVersion

PROJECT = Path(__file__).resolve().parents[2]

TOPICS = [
    (
        "Geneva talks",
        "Delegations met in Geneva to discuss a ceasefire along the front line. Envoys said the talks were constructive.",
    ),
    (
        "Grain corridor",
        "Negotiators revived the Black Sea grain corridor. Ships left Odesa under the new arrangement.",
    ),
    (
        "Prisoner exchange",
        "Both sides exchanged two hundred prisoners of war after mediation by the United Arab Emirates.",
    ),
    (
        "Energy strikes pause",
        "A thirty-day pause on strikes against energy infrastructure was agreed in a phone call.",
    ),
    (
        "Sanctions relief",
        "Moscow demanded sanctions relief on agricultural exports before any maritime truce.",
    ),
]


def article_text(title: str, body: str, marker: str = "") -> str:
    return (
        f"Title: {title}\nSource: Test Wire\nPublished: 2025-03-{len(title) % 28 + 1:02d}\n\n{body} {marker}".rstrip()
        + "\n"
    )


def write_corpus(corpus: Path, marker: str = "", topics=TOPICS) -> list[str]:
    corpus.mkdir(parents=True, exist_ok=True)
    names = []
    for i, (title, body) in enumerate(topics):
        name = f"{i:02d}_{title.lower().replace(' ', '_')}.txt"
        (corpus / name).write_text(article_text(title, body, marker), "utf-8")
        names.append(name)
    return names


class CountingModel:
    """The real model, counting what is sent to it for embedding."""

    def __init__(self, model):
        self.model = model
        self.texts: list[str] = []
        self.calls = 0

    def get_text_embedding_batch(self, texts, **kwargs):
        self.calls += 1
        self.texts.extend(texts)
        return self.model.get_text_embedding_batch(texts, **kwargs)

    def get_query_embedding(self, text):
        return self.model.get_query_embedding(text)

    def reset(self):
        self.texts.clear()
        self.calls = 0


@pytest.fixture
def counting(embed_model):
    return CountingModel(embed_model)


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus"
    write_corpus(path)
    return path


@pytest.fixture
def make_library(tmp_path, corpus, counting):
    def make(model=None):
        return Library(
            LibraryConfig(data_dir=tmp_path / "data", corpus_dir=corpus), embed_model=model or counting
        )

    return make


def version_dirs(data_dir: Path) -> list[str]:
    return sorted(p.name for p in (data_dir / "index").glob("v-*"))


def leftovers(data_dir: Path) -> list[str]:
    root = data_dir / "index"
    return sorted(p.name for p in root.iterdir() if p.name.startswith(".build-") or p.name.endswith(".tmp"))


# ---------------------------------------------------------------- incremental detection


def test_first_build_then_noop_does_nothing(make_library, counting, tmp_path):
    library = make_library()
    first = library.reindex()
    assert sorted(first.added) == sorted(p.name for p in (tmp_path / "corpus").iterdir())
    assert first.published and first.rebuilt_from_scratch
    assert first.embedded_chunks == first.chunks == len(counting.texts) > 0
    retriever = library.retriever
    pointer = tmp_path / "data" / "index" / "CURRENT"
    pointer_stat = pointer.stat()
    versions = version_dirs(tmp_path / "data")

    counting.reset()
    again = library.reindex()
    assert again.no_op and not again.published
    assert again.unchanged == sorted(first.added) and not (again.added or again.changed or again.removed)
    assert again.embedded_chunks == 0 and counting.calls == 0
    assert library.retriever is retriever  # nothing rebuilt, nothing reloaded
    assert version_dirs(tmp_path / "data") == versions
    assert (
        pointer.stat().st_mtime_ns == pointer_stat.st_mtime_ns
        and pointer.stat().st_ino == pointer_stat.st_ino
    )
    assert "nothing to do" in again.summary()


def test_noop_in_a_fresh_process_loads_nothing_new(make_library, counting, tmp_path):
    make_library().reindex()
    versions = version_dirs(tmp_path / "data")
    counting.reset()
    cli = make_library()  # a new Library = what the CLI does
    report = cli.reindex()
    assert report.no_op and not report.published and counting.calls == 0
    assert version_dirs(tmp_path / "data") == versions
    assert report.version == versions[-1] and report.chunks > 0
    assert cli.version is None  # the manifest and checksums were enough: nothing was loaded
    assert cli.search("grain corridor Odesa")[0].node.metadata["doc"].startswith("01_")  # loads on first use


def test_noop_check_notices_a_damaged_live_version(make_library, counting, tmp_path):
    make_library().reindex()
    live = IndexStore(tmp_path / "data", tmp_path / "corpus").current_name()
    _flip_byte(tmp_path / "data" / "index" / live)
    counting.reset()
    report = make_library().reindex()  # the CLI's re-index must not call a damaged index "unchanged"
    assert report.published and report.version != live
    assert "did not load" in report.recovered and report.rebuilt_from_scratch
    assert counting.calls > 0


def test_add_change_remove_are_detected_and_only_new_text_is_embedded(make_library, counting, corpus):
    library = make_library()
    library.reindex()
    names = sorted(p.name for p in corpus.iterdir())

    counting.reset()
    (corpus / "10_new.md").write_text(
        article_text("Istanbul memorandum", "Drafts from Istanbul were tabled again."), "utf-8"
    )
    report = library.reindex()
    assert report.added == ["10_new.md"] and not report.changed and not report.removed
    assert sorted(report.unchanged) == names
    assert report.embedded_chunks == len(counting.texts) == library.version.articles["10_new.md"]["chunks"]
    assert all("Istanbul" in t for t in counting.texts)
    assert library.search("Istanbul memorandum drafts")[0].node.metadata["doc"] == "10_new.md"

    counting.reset()
    target = corpus / names[0]
    target.write_text(target.read_text("utf-8").replace("Geneva", "Riyadh"), "utf-8")
    report = library.reindex()
    assert report.changed == [names[0]] and not report.added and not report.removed
    assert counting.texts and all("Riyadh" in t for t in counting.texts)
    assert "Riyadh" in library.search("talks in Riyadh")[0].node.text

    counting.reset()
    (corpus / names[1]).unlink()
    report = library.reindex()
    assert report.removed == [names[1]] and not report.added and not report.changed
    assert counting.calls == 0  # dropping an article embeds nothing
    assert names[1] not in library.version.articles
    assert all(node.metadata["doc"] != names[1] for node in library.version.nodes)


def test_sidecar_meta_change_counts_as_change(make_library, counting, corpus):
    library = make_library()
    name = sorted(p.name for p in corpus.iterdir())[2]
    (corpus / (name + ".meta")).write_text("Title: Swap of prisoners\nSource: Wire A\n", "utf-8")
    library.reindex()
    assert library.version.articles[name]["source"] == "Wire A"

    counting.reset()
    (corpus / (name + ".meta")).write_text("Title: Swap of prisoners\nSource: Wire B\n", "utf-8")
    report = library.reindex()
    assert report.changed == [name] and not report.added and not report.removed
    assert library.version.articles[name]["source"] == "Wire B"
    assert counting.texts and all("Wire B" in t for t in counting.texts)


def test_rename_is_remove_plus_add_and_reuses_identical_embeddings(make_library, counting, corpus):
    library = make_library()
    library.reindex()
    old_name = sorted(p.name for p in corpus.iterdir())[3]
    old_vectors = library.version.article_vectors(old_name)[1]

    counting.reset()
    (corpus / old_name).rename(corpus / "renamed.txt")
    report = library.reindex()
    assert report.removed == [old_name] and report.added == ["renamed.txt"] and not report.changed
    # The header gives the same title, so the embedded text is identical: nothing is embedded.
    assert report.embedded_chunks == 0 and counting.calls == 0
    assert report.reused_chunks == report.chunks
    nodes, vectors = library.version.article_vectors("renamed.txt")
    assert nodes and all(node.metadata["doc"] == "renamed.txt" for node in nodes)
    assert np.allclose(vectors, old_vectors)
    assert library.search("thirty-day pause energy strikes")[0].node.metadata["doc"] == "renamed.txt"


def test_rename_of_headerless_file_re_embeds_because_its_title_changes(make_library, counting, corpus):
    (corpus / "ceasefire_monitoring.txt").write_text(
        "Monitors from the OSCE would verify the ceasefire.\n", "utf-8"
    )
    library = make_library()
    library.reindex()
    counting.reset()
    (corpus / "ceasefire_monitoring.txt").rename(corpus / "osce_mission.txt")
    report = library.reindex()
    assert report.removed == ["ceasefire_monitoring.txt"] and report.added == ["osce_mission.txt"]
    assert report.embedded_chunks == len(counting.texts) > 0
    assert all("Osce mission" in t for t in counting.texts)  # the title comes from the new name


def test_new_bad_file_is_reported_but_rebuilds_nothing(make_library, counting, corpus, tmp_path):
    library = make_library()
    library.reindex()
    versions = version_dirs(tmp_path / "data")
    counting.reset()
    (corpus / "broken.txt").write_bytes(b"\x00\x01binary\x00")
    (corpus / "latin1.md").write_bytes("Caf\xe9 talks".encode("latin-1"))
    report = library.reindex()
    assert not report.published and counting.calls == 0 and version_dirs(tmp_path / "data") == versions
    reasons = dict(report.skipped)
    assert "binary" in reasons["broken.txt"] and "UTF-8" in reasons["latin1.md"]
    assert "skipped broken.txt" in report.summary()


def test_other_process_publishing_is_picked_up_without_rebuilding(make_library, counting, corpus):
    bot_library = make_library()
    bot_library.search("ceasefire")  # loads (builds) the index
    (corpus / "11_extra.txt").write_text(
        article_text("Extra", "Envoys drafted a memorandum in Jeddah."), "utf-8"
    )
    cli_report = make_library().reindex()  # another process re-indexes
    assert cli_report.added == ["11_extra.txt"]
    counting.reset()
    report = bot_library.reindex()
    assert report.no_op and not report.published and counting.calls == 0
    assert bot_library.version.name == cli_report.version
    assert "11_extra.txt" in bot_library.version.articles


def test_old_versions_are_removed_keeping_live_and_one_before(make_library, corpus, tmp_path):
    library = make_library()
    for i in range(4):
        (corpus / f"extra{i}.txt").write_text(article_text(f"Extra {i}", f"Envoy number {i} met."), "utf-8")
        library.reindex()
    names = version_dirs(tmp_path / "data")
    assert len(names) == 2
    assert library.version.name == names[-1] == IndexStore(tmp_path / "data", corpus).current_name()


def test_last_report_is_persisted(make_library, corpus):
    report = make_library().reindex()
    reopened = make_library()
    assert isinstance(reopened.last_report, ReindexReport)
    assert reopened.last_report.version == report.version
    assert sorted(reopened.last_report.added) == sorted(report.added)
    assert reopened.last_report.finished


# ---------------------------------------------------------------- the swap


def test_questions_during_reindex_come_from_exactly_one_version(make_library, corpus):
    from index.retrieval import HybridRetriever

    query = "ceasefire talks breakthrough"
    library = make_library()
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
    make_library, counting, corpus, tmp_path, stage
):
    library = make_library()
    library.reindex()
    good = library.version.name
    (corpus / "12_new.txt").write_text(article_text("Late news", "A late-night deal on drones."), "utf-8")
    with pytest.raises(RuntimeError, match=f"injected failure after {stage}"):
        library.reindex(fail_after_stage=stage)
    store = IndexStore(tmp_path / "data", corpus)
    assert library.version.name == good and store.current_name() == good
    assert "12_new.txt" not in store.load_current().articles
    assert store.building_status() is None  # the lock is released
    report = library.reindex()
    assert report.added == ["12_new.txt"] and report.published
    assert leftovers(tmp_path / "data") == []


def test_failure_after_publishing_is_consistent(make_library, counting, corpus, tmp_path):
    library = make_library()
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

Library(LibraryConfig(data_dir=data, corpus_dir=corpus), embed_model=HashEmbed()).reindex(progress=hook)
"""


class HashEmbed:
    def get_text_embedding_batch(self, texts):
        out = []
        for t in texts:
            v = np.frombuffer(hashlib.sha512(t.encode()).digest() * 6, dtype=np.uint8)[:384].astype("float32")
            out.append((v / np.linalg.norm(v)).tolist())
        return out

    def get_query_embedding(self, text):
        return self.get_text_embedding_batch([text])[0]


@pytest.mark.parametrize(
    "stage,at",
    [("chunking", 1), ("embedding", 0), ("writing", 1), ("publishing", 0)],
    ids=["mid-chunking", "before-embedding", "build-written", "renamed-not-published"],
)
def test_kill_mid_reindex_keeps_last_good_and_next_reindex_recovers(tmp_path, corpus, stage, at):
    data = tmp_path / "data"
    library = Library(LibraryConfig(data_dir=data, corpus_dir=corpus), embed_model=HashEmbed())
    library.reindex()
    good = library.version.name
    (corpus / "13_new.txt").write_text(
        article_text("Kill test", "Talks resumed in Ankara on Tuesday."), "utf-8"
    )
    script = tmp_path / "kill_reindex.py"
    script.write_text(KILL_SCRIPT, "utf-8")
    marker = tmp_path / "paused"
    proc = subprocess.Popen(
        [sys.executable, str(script), str(PROJECT), str(data), str(corpus), stage, str(at), str(marker)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not marker.exists():
            assert proc.poll() is None, proc.stderr.read().decode()[-2000:]
            assert time.monotonic() < deadline, "the re-index never reached the kill point"
            time.sleep(0.05)
        store = IndexStore(data, corpus)
        # While it runs: a second re-index is refused with the running one's progress.
        status = store.building_status()
        assert status is not None and status.pid == proc.pid and status.stage == stage
        with pytest.raises(IndexBusyError) as busy:
            Library(LibraryConfig(data_dir=data, corpus_dir=corpus), embed_model=HashEmbed()).reindex()
        assert stage in str(busy.value) and busy.value.status.pid == proc.pid
        assert store.building_status() is not None  # the refused attempt did not wipe the progress
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()

    store = IndexStore(data, corpus)
    assert store.building_status() is None  # the kernel released the flock with the process
    assert store.current_name() == good
    serving = Library(LibraryConfig(data_dir=data, corpus_dir=corpus), embed_model=HashEmbed())
    assert serving.version is None and serving.search("Geneva ceasefire")  # loads the last good version
    assert serving.version.name == good and "13_new.txt" not in serving.version.articles
    if stage in ("writing", "publishing"):
        assert leftovers(data) or len(version_dirs(data)) == 2  # something was left behind to clean

    report = serving.reindex()
    assert report.added == ["13_new.txt"] and report.published and report.embedded_chunks > 0
    assert leftovers(data) == []
    assert version_dirs(data) == sorted([good, report.version])
    assert serving.search("Ankara talks resumed")[0].node.metadata["doc"] == "13_new.txt"


def test_concurrent_reindex_in_the_same_process_is_refused_with_progress(make_library, corpus):
    library = make_library()
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
            make_library().reindex()
        for exc in (same_library.value, other_library.value):
            assert "already running" in str(exc) and "embedding 0/1 chunks" in str(exc)
            assert exc.status.stage == "embedding" and exc.status.pid == os.getpid()
        assert library.status() is not None
    finally:
        release.set()
        thread.join(timeout=60)
    assert outcome["report"].added == ["14_new.txt"]
    assert library.status() is None


# ---------------------------------------------------------------- corrupted pointer or version


@pytest.mark.parametrize(
    "damage",
    [b"", b"\xff\xfe\x00garbage", b"../../etc/passwd\n", b"v-000099-20990101T000000-deadbeef\n"],
    ids=["empty", "binary", "traversal", "missing-version"],
)
def test_corrupted_current_is_repaired_from_the_good_version(make_library, counting, tmp_path, damage):
    library = make_library()
    report = library.reindex()
    (tmp_path / "data" / "index" / "CURRENT").write_bytes(damage)
    counting.reset()
    fresh = make_library()
    assert fresh.search("prisoners exchanged")  # serves, after repairing
    repaired = fresh.reindex()
    assert repaired.no_op or repaired.version == report.version
    assert fresh.version.name == report.version
    assert IndexStore(tmp_path / "data", tmp_path / "corpus").current_name() == report.version
    # Repairing the pointer re-embeds nothing (only the question embeddings were computed).
    assert counting.texts == []


def test_current_name_rejects_paths_and_garbage(tmp_path):
    store = IndexStore(tmp_path / "data", tmp_path / "corpus")
    store.root.mkdir(parents=True)
    for bad in [b"../../etc", b"/abs/v-1-2", b"v-000001-x/../..", b"\xff\xfe", b"", b"v-"]:
        store.pointer.write_bytes(bad)
        assert store.current_name() is None, bad
    store.pointer.write_bytes(b"v-000003-20250101T000000-0a1b2c3d\n")
    assert store.current_name() == "v-000003-20250101T000000-0a1b2c3d"


def test_missing_current_without_any_version_builds_from_scratch(make_library, tmp_path):
    make_library().reindex()
    (tmp_path / "data" / "index" / "CURRENT").unlink()
    for name in version_dirs(tmp_path / "data"):
        (tmp_path / "data" / "index" / name / "manifest.json").write_text("{not json", "utf-8")
    report = make_library().reindex()
    assert report.published and report.rebuilt_from_scratch and report.embedded_chunks == report.chunks


def _truncate_vectors(path: Path):
    file = path / "vectors.faiss"
    file.write_bytes(file.read_bytes()[:100])


def _flip_byte(path: Path):
    file = path / "vectors.faiss"
    data = bytearray(file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    file.write_bytes(bytes(data))


def _drop_bm25(path: Path):
    import shutil

    shutil.rmtree(path / "bm25")


def _bad_manifest(path: Path):
    (path / "manifest.json").write_text('{"format": 1, "articles": [', "utf-8")


def _wrong_format(path: Path):
    manifest = json.loads((path / "manifest.json").read_text("utf-8"))
    manifest["format"] = 999
    (path / "manifest.json").write_text(json.dumps(manifest), "utf-8")


@pytest.mark.parametrize("damage", [_truncate_vectors, _flip_byte, _drop_bm25, _bad_manifest, _wrong_format])
def test_corrupted_live_version_is_rebuilt_not_fatal(make_library, corpus, tmp_path, damage):
    library = make_library()
    library.reindex()
    live = tmp_path / "data" / "index" / library.version.name
    damage(live)
    with pytest.raises(IndexCorruptError):
        IndexVersion.load(live)
    fresh = make_library()
    hits = fresh.search("grain corridor Odesa")  # the only version is broken: rebuilt on first use
    assert hits and hits[0].node.metadata["doc"].startswith("01_")
    assert fresh.version.name != live.name
    assert fresh.last_report.rebuilt_from_scratch and fresh.last_report.published


def test_corrupted_live_version_with_a_good_previous_one_is_recovered_incrementally(
    make_library, counting, corpus, tmp_path
):
    library = make_library()
    library.reindex()
    previous = library.version.name
    (corpus / "15_new.txt").write_text(
        article_text("Recovery", "A summit in Budapest was proposed."), "utf-8"
    )
    library.reindex()
    _flip_byte(tmp_path / "data" / "index" / library.version.name)
    counting.reset()
    fresh = make_library()
    report = fresh.reindex()
    assert "did not load" in report.recovered and previous in report.recovered
    # Incremental against the good previous version: only the new article is embedded.
    assert report.added == ["15_new.txt"] and report.published
    assert report.embedded_chunks == len(counting.texts) == fresh.version.articles["15_new.txt"]["chunks"]


def test_stages_are_reported_in_order_with_totals(make_library, corpus):
    seen = []
    make_library().reindex(progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [s for s, _, _ in seen]
    assert [s for s in STAGES if s in stages] == list(dict.fromkeys(stages))
    assert ("reading", len(TOPICS), len(TOPICS)) in seen
    assert ("chunking", len(TOPICS), len(TOPICS)) in seen
    assert seen[-1] == ("publishing", 1, 1)
    embedding = [(d, t) for s, d, t in seen if s == "embedding"]
    assert embedding[0][0] == 0 and embedding[-1][0] == embedding[-1][1] > 0

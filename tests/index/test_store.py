"""The persisted index, incremental re-indexing: a no-op when nothing changed (also in a fresh process
and with a damaged live version), additions, changes, removals and renames detected with only new text
embedded, bad files reported, another process's version picked up, old versions pruned, the last report
persisted, and the stages reported in order.

Small generated corpora (a handful of short articles) and the real MiniLM model. Tests taking
``make_any_library`` run against both stores (files, then PostgreSQL). Crash/kill recovery and
the lock are in test_store_recovery.py, corrupted pointers and versions in test_store_corruption.py.
"""

from __future__ import annotations

import numpy as np

from index.lock import STAGES
from index.store import IndexStore, ReindexReport
from tests.index.store_support import TOPICS, _flip_byte, article_text, version_dirs

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


def test_noop_in_a_fresh_process_loads_nothing_new(make_any_library, counting, tmp_path):
    make_any_library().reindex()
    versions = make_any_library().store.version_names()
    counting.reset()
    cli = make_any_library()  # a new Library = what the CLI does
    report = cli.reindex()
    assert report.no_op and not report.published and counting.calls == 0
    assert cli.store.version_names() == versions
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


def test_add_change_remove_are_detected_and_only_new_text_is_embedded(make_any_library, counting, corpus):
    library = make_any_library()
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


def test_sidecar_meta_change_counts_as_change(make_any_library, counting, corpus):
    library = make_any_library()
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


def test_rename_is_remove_plus_add_and_reuses_identical_embeddings(make_any_library, counting, corpus):
    library = make_any_library()
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


def test_rename_of_headerless_file_re_embeds_because_its_title_changes(make_any_library, counting, corpus):
    (corpus / "ceasefire_monitoring.txt").write_text(
        "Monitors from the OSCE would verify the ceasefire.\n", "utf-8"
    )
    library = make_any_library()
    library.reindex()
    counting.reset()
    (corpus / "ceasefire_monitoring.txt").rename(corpus / "osce_mission.txt")
    report = library.reindex()
    assert report.removed == ["ceasefire_monitoring.txt"] and report.added == ["osce_mission.txt"]
    assert report.embedded_chunks == len(counting.texts) > 0
    assert all("Osce mission" in t for t in counting.texts)  # the title comes from the new name


def test_new_bad_file_is_reported_but_rebuilds_nothing(make_any_library, counting, corpus, tmp_path):
    library = make_any_library()
    library.reindex()
    versions = library.store.version_names()
    counting.reset()
    (corpus / "broken.txt").write_bytes(b"\x00\x01binary\x00")
    (corpus / "latin1.md").write_bytes("Caf\xe9 talks".encode("latin-1"))
    report = library.reindex()
    assert not report.published and counting.calls == 0 and library.store.version_names() == versions
    reasons = dict(report.skipped)
    assert "binary" in reasons["broken.txt"] and "UTF-8" in reasons["latin1.md"]
    assert "skipped broken.txt" in report.summary()


def test_other_process_publishing_is_picked_up_without_rebuilding(make_any_library, counting, corpus):
    bot_library = make_any_library()
    bot_library.search("ceasefire")  # loads (builds) the index
    (corpus / "11_extra.txt").write_text(
        article_text("Extra", "Envoys drafted a memorandum in Jeddah."), "utf-8"
    )
    cli_report = make_any_library().reindex()  # another process re-indexes
    assert cli_report.added == ["11_extra.txt"]
    counting.reset()
    report = bot_library.reindex()
    assert report.no_op and not report.published and counting.calls == 0
    assert bot_library.version.name == cli_report.version
    assert "11_extra.txt" in bot_library.version.articles


def test_old_versions_are_removed_keeping_live_and_one_before(make_any_library, corpus, tmp_path):
    library = make_any_library()
    for i in range(4):
        (corpus / f"extra{i}.txt").write_text(article_text(f"Extra {i}", f"Envoy number {i} met."), "utf-8")
        library.reindex()
    names = library.store.version_names()
    assert len(names) == 2
    assert library.version.name == names[-1] == make_any_library().store.current_name()


def test_last_report_is_persisted(make_any_library, corpus):
    report = make_any_library().reindex()
    reopened = make_any_library()
    assert isinstance(reopened.last_report, ReindexReport)
    assert reopened.last_report.version == report.version
    assert sorted(reopened.last_report.added) == sorted(report.added)
    assert reopened.last_report.finished


def test_stages_are_reported_in_order_with_totals(make_any_library, corpus):
    seen = []
    make_any_library().reindex(progress=lambda stage, done, total: seen.append((stage, done, total)))
    stages = [s for s, _, _ in seen]
    assert [s for s in STAGES if s in stages] == list(dict.fromkeys(stages))
    assert ("reading", len(TOPICS), len(TOPICS)) in seen
    assert ("chunking", len(TOPICS), len(TOPICS)) in seen
    assert seen[-1] == ("publishing", 1, 1)
    embedding = [(d, t) for s, d, t in seen if s == "embedding"]
    assert embedding[0][0] == 0 and embedding[-1][0] == embedding[-1][1] > 0

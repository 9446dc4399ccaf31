"""The persisted index, damaged on disk: a corrupted or missing ``current`` pointer is repaired from the
good version or rebuilt, garbage names are rejected, and a corrupted live version (truncated vectors, a
flipped byte, no arrays file, a bad manifest, a wrong format) is rebuilt — incrementally when a good previous
version is there — never fatal.
"""

from __future__ import annotations

import pytest

from index.filestore import FileStorage
from index.store import IndexStore
from index.versions import IndexCorruptError
from tests.index.store_support import (
    _bad_manifest,
    _drop_arrays,
    _flip_byte,
    _truncate_vectors,
    _wrong_format,
    article_text,
    version_dirs,
)

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


@pytest.mark.parametrize(
    "damage", [_truncate_vectors, _flip_byte, _drop_arrays, _bad_manifest, _wrong_format]
)
def test_corrupted_live_version_is_rebuilt_not_fatal(make_library, corpus, tmp_path, damage):
    library = make_library()
    library.reindex()
    live = tmp_path / "data" / "index" / library.version.name
    damage(live)
    with pytest.raises(IndexCorruptError):
        FileStorage(live.parent).load_version(live.name)
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

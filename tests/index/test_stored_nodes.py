"""A loaded segment's nodes are made when asked for from its node arrays (``StoredNodes``),
not held as a list of ~3.4 KB Python objects a chunk: each equals the node the segment was
written from — id, text (non-ASCII too, wherever it falls in the blob), offsets, metadata — by
index, negative index, slice and iteration; the outlet/date rows come from the article table."""

from __future__ import annotations

import weakref

import numpy as np
import pytest

from index import filestore, segments
from index.chunking import make_node
from index.filestore import FileStorage
from index.query import metadata_rows
from index.segments import IndexCorruptError, StoredNodes, node_arrays

TEXTS = ["Plain ASCII text.", "Kyiv’s «talks» — тест, ç, 😀 emoji.", "", "Back to ASCII: 30-day pause."]


def _nodes():
    nodes = []
    for i, text in enumerate(TEXTS):
        metadata = {"doc": f"doc-{i // 2}", "source": "Wire", "published": "2025-03-0" + str(1 + i // 2)}
        if text:
            metadata["sentences"] = f"0:{len(text)}"
        nodes.append(make_node(f"node-{i}-ü", text, 10 * i, metadata))
    return nodes


def _articles(nodes):
    return {
        f"doc-{k}": {
            "row": 2 * k,
            "chunks": 2,
            "metadata": {m: v for m, v in nodes[2 * k].metadata.items() if m != "sentences"},
        }
        for k in range(2)
    }


@pytest.mark.parametrize("block", [1, 3, 7, 1 << 20])
def test_stored_nodes_equal_the_nodes_they_were_written_from(monkeypatch, block):
    # A tiny block puts multi-byte characters across block boundaries.
    monkeypatch.setattr(segments, "_OFFSET_BLOCK", block)
    nodes = _nodes()
    stored = StoredNodes(node_arrays(nodes), _articles(nodes))
    assert len(stored) == len(nodes)
    for original, made in zip(nodes, [stored[i] for i in range(len(nodes))]):
        assert (made.node_id, made.text, made.start_char_idx, made.end_char_idx) == (
            original.node_id,
            original.text,
            original.start_char_idx,
            original.end_char_idx,
        )
        assert made.metadata == original.metadata
    assert stored[-1].text == TEXTS[-1] and [n.text for n in stored[1:3]] == TEXTS[1:3]
    assert [n.node_id for n in stored] == [n.node_id for n in nodes]
    with pytest.raises(IndexError):
        stored[len(nodes)]


def test_offsets_past_the_text_are_refused():
    nodes = _nodes()
    arrays = node_arrays(nodes)
    arrays["node_text_offsets"] = arrays["node_text_offsets"] + np.int64(5)
    with pytest.raises(IndexCorruptError):
        StoredNodes(arrays, _articles(nodes))


def test_a_loaded_segment_makes_its_nodes_on_demand_and_they_match_the_built_ones(make_library, monkeypatch):
    library = make_library()
    library.reindex()
    built = list(library.version.nodes)
    monkeypatch.setattr(filestore, "_loaded", weakref.WeakValueDictionary())
    loaded = FileStorage(library.config.data_dir / "index").load_version(library.version.name)
    assert all(isinstance(segment.nodes, StoredNodes) for segment in loaded.segments)
    again = list(loaded.nodes)
    assert [(n.node_id, n.text, n.metadata, n.start_char_idx) for n in again] == [
        (n.node_id, n.text, n.metadata, n.start_char_idx) for n in built
    ]
    # Outlet and date rows from the article table are those the nodes give.
    for segment in loaded.segments:
        expected = metadata_rows((node.metadata, [i]) for i, node in enumerate(segment.nodes))
        for got, want in zip(segment.metadata_rows, expected):
            assert got.keys() == want.keys() and all(np.array_equal(got[k], want[k]) for k in got)


def test_ranking_ties_are_keyed_without_making_nodes(make_library, monkeypatch):
    library = make_library()
    library.reindex()
    version = library.version
    expected = [(n.metadata["doc"], n.start_char_idx) for n in version.nodes]
    monkeypatch.setattr(filestore, "_loaded", weakref.WeakValueDictionary())
    loaded = FileStorage(library.config.data_dir / "index").load_version(version.name)
    made = []
    original = StoredNodes.__getitem__
    monkeypatch.setattr(StoredNodes, "__getitem__", lambda self, i: made.append(i) or original(self, i))
    assert [loaded.row_key(r) for r in range(loaded.n_chunks)] == expected
    assert [version.row_key(r) for r in range(version.n_chunks)] == expected
    assert not made

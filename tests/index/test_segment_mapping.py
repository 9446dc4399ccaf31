"""The files store's segments, mapped: a loaded segment's arrays are read-only views on a mapping
of its arrays.bin (not copies in the process's memory), equal to what reading the same bytes into
memory gives (PostgreSQL's way), still valid once the file is removed, and a damaged or resized
file is refused with the same error as before, whatever the block size the checksum streams in;
pages let go after a scan (``release``) read back the same.
"""

from __future__ import annotations

import io
import json
import mmap
import re
import shutil
import weakref

import numpy as np
import pytest

from index import filestore, segment_io
from index.filestore import FileStorage
from index.segment_io import map_segment, read_segment, release
from index.versions import IndexCorruptError
from tests.index.store_support import segment_dirs

DAMAGED = re.compile(r"segment s-\S+: its arrays are damaged \(size or checksum differs\)")


@pytest.fixture
def live(make_library, tmp_path, monkeypatch):
    """The live version's directory, with nothing of it loaded in this process (what a serving
    process that did not build it sees)."""
    library = make_library()
    library.reindex()
    monkeypatch.setattr(filestore, "_loaded", weakref.WeakValueDictionary())
    return tmp_path / "data" / "index" / library.version.name


def _load(live):
    return FileStorage(live.parent).load_version(live.name)


def _owner(array: np.ndarray):
    """What holds an array's bytes (numpy views a buffer through a memoryview of it)."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    return base.obj if isinstance(base, memoryview) else base


def test_loaded_arrays_are_read_only_views_on_a_mapping(live):
    version = _load(live)
    assert version.segments
    for segment in version.segments:
        assert segment.arrays
        for name, array in segment.arrays.items():
            assert isinstance(_owner(array), mmap.mmap), name
            assert not array.flags.writeable and not array.flags.owndata, name
        with pytest.raises(ValueError):
            segment.vectors[0, 0] = 1.0
        assert segment.vectors.dtype == np.float32 and segment.vectors.flags.c_contiguous


def test_mapped_arrays_equal_the_ones_read_into_memory(live):
    (segment,) = _load(live).segments[-1:]
    path = segment_dirs(live)[-1]
    meta = json.loads((path / "segment.json").read_bytes())
    in_memory = read_segment(segment.id, meta, io.BytesIO((path / "arrays.bin").read_bytes()).readinto)
    assert in_memory.arrays.keys() == segment.arrays.keys()
    for name, array in segment.arrays.items():
        assert isinstance(_owner(in_memory.arrays[name]), bytearray)
        assert np.array_equal(array, in_memory.arrays[name]) and array.dtype == in_memory.arrays[name].dtype
    assert [n.text for n in in_memory.nodes] == [n.text for n in segment.nodes]
    assert [n.node_id for n in in_memory.nodes] == [n.node_id for n in segment.nodes]


def test_a_mapped_segment_outlives_its_removed_files(live):
    version = _load(live)
    expected = {s.id: float(np.asarray(s.vectors, dtype=np.float64).sum()) for s in version.segments}
    for path in segment_dirs(live):
        shutil.rmtree(path)  # what garbage collection of an old version does
    for segment in version.segments:
        assert float(np.asarray(segment.vectors, dtype=np.float64).sum()) == expected[segment.id]
        assert all(len(array.tobytes()) == array.nbytes for array in segment.arrays.values())


def _flip(offset_of):
    def damage(file):
        data = bytearray(file.read_bytes())
        data[offset_of(len(data))] ^= 0x01
        file.write_bytes(bytes(data))

    return damage


@pytest.mark.parametrize(
    "damage",
    [
        _flip(lambda size: 0),  # the first array
        _flip(lambda size: size // 3),
        _flip(lambda size: size - 1),  # the chunks' strings
        lambda file: file.write_bytes(file.read_bytes()[:-1]),
        lambda file: file.write_bytes(file.read_bytes()[:100]),
        lambda file: file.write_bytes(b""),
        lambda file: file.write_bytes(file.read_bytes() + b"\0"),
    ],
    ids=["flip-first", "flip-middle", "flip-strings", "short-by-one", "truncated", "empty", "longer"],
)
@pytest.mark.parametrize("block", [segment_io.HASH_BLOCK, 1000])
def test_a_damaged_or_resized_arrays_file_is_refused(live, monkeypatch, damage, block):
    monkeypatch.setattr(segment_io, "HASH_BLOCK", block)  # also streamed in many (odd) blocks
    assert _load(live).segments  # intact: loads
    monkeypatch.setattr(filestore, "_loaded", weakref.WeakValueDictionary())
    path = segment_dirs(live)[-1]
    damage(path / "arrays.bin")
    with pytest.raises(IndexCorruptError, match=DAMAGED):
        _load(live)
    meta = json.loads((path / "segment.json").read_bytes())
    with open(path / "arrays.bin", "rb") as f, pytest.raises(IndexCorruptError, match=DAMAGED):
        map_segment(path.name, meta, f)


def test_released_pages_read_back_the_same(live):
    version = _load(live)
    segment = version.segments[-1]
    vectors = segment.arrays["sentence_vectors"]
    before = vectors.copy()
    release(vectors[1:])  # not page-aligned: whole pages around it
    release(segment.vectors)
    assert np.array_equal(vectors, before)
    in_memory = np.array(before)
    release(in_memory)  # nothing to let go
    assert np.array_equal(in_memory, before)
    query = np.ones(before.shape[1], dtype=np.float32) / before.shape[1] ** 0.5
    assert np.array_equal(version.best_sentence_scores(query), version.best_sentence_scores(query))
    rows = version.sentence_vectors(0)
    assert not rows.flags.writeable and np.array_equal(rows, segment.chunk_sentence_vectors(0))

"""A segment as bytes, the same in every storage: its named arrays end to end (64-byte aligned),
the chunks' strings last, described by a layout (name → offset, dtype, shape) kept in the
segment's meta with the size and sha256 of the bytes. The files store writes them to
``arrays.bin`` (and maps it to read them: ``map_segment``); the Postgres store to ``bytea`` parts
(read into memory: ``read_segment``)."""

from __future__ import annotations

import hashlib
import mmap
import os
from collections.abc import Callable, Iterator
from typing import BinaryIO

import numpy as np

from index.segments import NODE_ARRAYS, IndexCorruptError, Segment, StoredNodes, node_arrays

ALIGN = 64
HASH_BLOCK = 1 << 20  # bytes of a mapped file hashed at a time


def segment_bytes(segment: Segment) -> tuple[dict, Iterator[bytes | memoryview]]:
    """(layout, the bytes in pieces): write the pieces in order. The chunks' strings come last,
    after the arrays the scoring reads."""
    arrays = segment.arrays | node_arrays(segment.nodes)
    order = sorted(arrays, key=lambda name: (name in NODE_ARRAYS, name))
    layout = {}
    offset = 0
    for name in order:
        array = arrays[name]
        offset += -offset % ALIGN
        layout[name] = {"offset": offset, "dtype": array.dtype.str, "shape": list(array.shape)}
        offset += array.nbytes

    def pieces() -> Iterator[bytes | memoryview]:
        written = 0
        for name in order:
            padding = layout[name]["offset"] - written
            if padding:
                yield b"\0" * padding
            data = memoryview(np.ascontiguousarray(arrays[name]).reshape(-1)).cast("B")  # no copy
            yield data
            written = layout[name]["offset"] + len(data)

    return layout, pieces()


def _split(layout: dict, size: int) -> int:
    """Where the chunks' strings begin (the numeric arrays come before them)."""
    split = min((spec["offset"] for name, spec in layout.items() if name in NODE_ARRAYS), default=None)
    return size if split is None else split


def _damaged(segment_id: str) -> IndexCorruptError:
    return IndexCorruptError(f"segment {segment_id}: its arrays are damaged (size or checksum differs)")


def read_segment(segment_id: str, meta: dict, read_into: Callable[[bytearray], int]) -> Segment:
    """A segment from its meta (with ``arrays``, the layout, and ``file``, the size and sha256 of
    the bytes) and ``read_into(buffer)``, which fills the buffer with the next bytes and returns
    how many it read. Two buffers: the arrays, then the chunks' strings, both viewed without
    copies. IndexCorruptError if anything disagrees. (For bytes that cannot be mapped —
    PostgreSQL's; a file is mapped by ``map_segment``.)"""
    layout, expected = meta["arrays"], meta["file"]
    size = expected["size"]
    split = _split(layout, size)
    kept, strings = bytearray(split), bytearray(size - split)
    read = read_into(kept) + read_into(strings)
    digest = hashlib.sha256(kept)
    digest.update(strings)
    if read != size or digest.hexdigest() != expected["sha256"]:
        raise _damaged(segment_id)
    return _segment(segment_id, meta, split, kept, strings)


def map_segment(segment_id: str, meta: dict, file: BinaryIO) -> Segment:
    """A segment from its meta (as ``read_segment``) and its open bytes file, whose arrays — the
    chunks' strings too, which its nodes are made from when asked for — are views on a read-only
    mapping of the file (the page cache's pages: nothing of them in the process's own memory, and
    only those touched are resident). The whole file is checked first by streaming it through one
    small buffer. The file must never change in place (segments are immutable: a new version
    writes new files; a removed file stays valid while mapped). IndexCorruptError if anything
    disagrees."""
    layout, expected = meta["arrays"], meta["file"]
    size = expected["size"]
    split = _split(layout, size)
    if os.fstat(file.fileno()).st_size != size:
        raise _damaged(segment_id)
    digest = hashlib.sha256()
    block = memoryview(bytearray(max(1, min(HASH_BLOCK, size))))
    done = 0
    while done < size:
        n = file.readinto(block[: min(len(block), size - done)])
        if not n:
            break
        digest.update(block[:n])
        done += n
    if done != size or digest.hexdigest() != expected["sha256"]:
        raise _damaged(segment_id)
    if not size:  # mmap cannot map 0 bytes (a length of 0 means the whole file)
        return _segment(segment_id, meta, split, b"", b"")
    mapping = mmap.mmap(file.fileno(), size, access=mmap.ACCESS_READ)
    return _segment(segment_id, meta, split, mapping, memoryview(mapping)[split:])


def release(array: np.ndarray) -> None:
    """Unmap from this process the pages of ``array`` if it is a view on a mapped file (they stay
    in the page cache: touching them again maps them back without reading the disk), so that a
    scan of a large, seldom used mapped array does not leave all of it counted in the process's
    resident memory. Nothing for an array in memory."""
    base = array
    while isinstance(base, np.ndarray):
        base = base.base
    mapping = base.obj if isinstance(base, memoryview) else base
    if not isinstance(mapping, mmap.mmap) or not array.nbytes or not array.flags.c_contiguous:
        return
    start = array.ctypes.data - np.frombuffer(mapping, dtype=np.uint8, count=1).ctypes.data
    stop = min(start + array.nbytes, len(mapping))
    start -= start % mmap.PAGESIZE  # madvise takes whole pages; any page of the file is safe to drop
    mapping.madvise(mmap.MADV_DONTNEED, start, stop - start)


def _segment(segment_id: str, meta: dict, split: int, kept, strings) -> Segment:
    """The segment whose numeric arrays (the bytes before ``split``) are views on ``kept`` and whose
    chunks' strings (the bytes from ``split``) are views on ``strings``, without copies; its nodes
    are made from the strings when asked for (``StoredNodes``)."""
    meta = dict(meta)
    layout = meta.pop("arrays")
    del meta["file"]
    arrays = {}
    for name, spec in layout.items():
        if (name in NODE_ARRAYS) != (spec["offset"] >= split):
            raise IndexCorruptError(f"segment {segment_id}: its arrays are not in the expected order")
        buffer, offset = (strings, spec["offset"] - split) if name in NODE_ARRAYS else (kept, spec["offset"])
        dtype = np.dtype(spec["dtype"])
        count = int(np.prod(spec["shape"], dtype=np.int64))
        array = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).reshape(spec["shape"])
        array.flags.writeable = False
        arrays[name] = array
    nodes = StoredNodes({name: arrays.pop(name) for name in NODE_ARRAYS}, meta["articles"])
    return Segment(segment_id, meta, nodes, arrays)

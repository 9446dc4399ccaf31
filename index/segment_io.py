"""A segment as bytes, the same in every storage: its named arrays end to end (64-byte aligned),
the chunks' strings last, described by a layout (name → offset, dtype, shape) kept in the
segment's meta with the size and sha256 of the bytes. The files store writes them to
``arrays.bin``; the Postgres store to ``bytea`` parts."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterator

import numpy as np

from index.segments import NODE_ARRAYS, IndexCorruptError, Segment, node_arrays, nodes_from_arrays

ALIGN = 64


def segment_bytes(segment: Segment) -> tuple[dict, Iterator[bytes | memoryview]]:
    """(layout, the bytes in pieces): write the pieces in order. The chunks' strings come last,
    so that a reader can drop them once they are nodes (see ``read_segment``)."""
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


def read_segment(segment_id: str, meta: dict, read_into: Callable[[bytearray], int]) -> Segment:
    """A segment from its meta (with ``arrays``, the layout, and ``file``, the size and sha256 of
    the bytes) and ``read_into(buffer)``, which fills the buffer with the next bytes and returns
    how many it read. Two buffers: the arrays, kept and viewed without copies, then the chunks'
    strings, dropped once they are nodes. IndexCorruptError if anything disagrees."""
    meta = dict(meta)
    layout, expected = meta.pop("arrays"), meta.pop("file")
    split = min((spec["offset"] for name, spec in layout.items() if name in NODE_ARRAYS), default=None)
    size = expected["size"]
    split = size if split is None else split
    kept, strings = bytearray(split), bytearray(size - split)
    read = read_into(kept) + read_into(strings)
    digest = hashlib.sha256(kept)
    digest.update(strings)
    if read != size or digest.hexdigest() != expected["sha256"]:
        raise IndexCorruptError(f"segment {segment_id}: its arrays are damaged (size or checksum differs)")
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
    nodes = nodes_from_arrays(arrays, meta["articles"])
    for name in NODE_ARRAYS:
        del arrays[name]  # the nodes hold the strings now (and their buffer goes)
    return Segment(segment_id, meta, nodes, arrays)

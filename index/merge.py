"""Merging segments: fewer segments to score and no deleted rows, with the same answers.

Every incremental re-index adds a small segment, so segments pile up; a merge writes one segment
with the live rows of several and publishes a version that lists it instead of them. Scores use
the statistics of all live rows whatever segment holds them, and ties are broken by article and
position, not by row (index/retrieval.py), so a merged version answers exactly like the versions
before it (tests/index/test_merge.py).

Policy (``MergePolicy``, size-tiered as in Lucene or Cassandra): segments are grouped in tiers
by live size (below ``floor_chunks``; then each tier ``factor`` times larger); when a tier holds
``factor`` segments they are merged into one of the next tier, so a chunk is rewritten about
log_factor(corpus / floor) times over its life and a version has at most about
``factor`` segments per tier. A segment more than ``max_deleted_share`` deleted is rewritten
without its deleted rows. A full re-index writes one segment anyway.

A merge runs beside re-indexes, in the background: it holds only the merge lock while it writes
its segment, then takes the build lock briefly to publish; deletions published meanwhile on
the segments it merged are carried over to the merged one, and if those segments are no longer
live (a full re-index) the merge is dropped.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import numpy as np

from index.lock import MERGING, IndexBusyError
from index.segments import merge_segments, new_segment_id
from index.versions import IndexVersion

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MergePolicy:
    factor: int = 10
    floor_chunks: int = 2000
    max_deleted_share: float = 0.25

    def tier(self, live_chunks: int) -> int:
        if live_chunks < self.floor_chunks:
            return 0
        return 1 + int(math.log(live_chunks / self.floor_chunks, self.factor))


def live_chunks(version: IndexVersion) -> list[int]:
    return [s.n_chunks - (0 if d is None else int(d.sum())) for s, d in zip(version.segments, version.dead)]


def plan_merge(version: IndexVersion, policy: MergePolicy = MergePolicy()) -> list[str]:
    """The ids of the segments to merge now (empty: none)."""
    sizes = live_chunks(version)
    for segment, size in zip(version.segments, sizes):
        if segment.n_chunks and 1 - size / segment.n_chunks > policy.max_deleted_share:
            return [segment.id]
    tiers: dict[int, list[str]] = {}
    for segment, size in zip(version.segments, sizes):
        tiers.setdefault(policy.tier(size), []).append(segment.id)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= policy.factor:
            return tiers[tier]
    return []


def merge(store, base: IndexVersion | None = None, segment_ids: list[str] | None = None, wait: float = 120.0):
    """Merge ``segment_ids`` of ``base`` (default: the live version, and what ``plan_merge``
    picks) and publish the result. Returns the new live version, or None when there was nothing
    to merge, another merge is running, or the segments stopped being live meanwhile."""
    storage = store.storage
    merge_lock = storage.merge_lock()
    try:
        merge_lock.acquire()
    except IndexBusyError:
        return None
    try:
        base = base if base is not None else store.load_current()
        if base is None:
            return None
        ids = plan_merge(base, store.merge_policy) if segment_ids is None else list(segment_ids)
        chosen = [(s, d) for s, d in zip(base.segments, base.dead) if s.id in set(ids)]
        if not chosen or (len(chosen) == 1 and chosen[0][1] is None):
            return None
        merge_lock.update(MERGING, 0, 1)
        merged = merge_segments(new_segment_id(), [(s, None if d is None else ~d) for s, d in chosen])
        entry = storage.write_segment(merged, merging=True)
        try:
            return _publish_merged(store, base, [s.id for s, _ in chosen], merged, entry, wait)
        finally:
            storage.discard_segment(merged)  # left only if it was not published
    finally:
        merge_lock.release()


def _publish_merged(store, base: IndexVersion, ids: list[str], merged, entry: dict, wait: float):
    storage = store.storage
    lock = storage.build_lock()
    try:
        lock.acquire(wait=wait)
    except IndexBusyError:
        log.info("merge of %d segments dropped: a re-index kept the lock for %.0fs", len(ids), wait)
        return None
    try:
        lock.update(MERGING, 0, 1)
        live = store.load_current()
        if (
            live is None
            or not store._compatible(live.manifest)
            or not set(ids) <= {s.id for s in live.segments}
        ):
            return None
        before = base.manifest.get("deleted") or {}
        now = live.manifest.get("deleted") or {}
        extra = sorted({d for sid in ids for d in set(now.get(sid, ())) - set(before.get(sid, ()))})
        segments, placed = [], False
        for segment in live.segments:
            if segment.id not in ids:
                segments.append(segment)
            elif not placed:
                segments.append(merged)
                placed = True
        deleted = {k: list(v) for k, v in now.items() if k not in ids}
        if extra:
            deleted[merged.id] = extra
        if len(extra) == len(merged.articles):
            segments.remove(merged)
            deleted.pop(merged.id, None)
        entries = {e["id"]: e for e in live.manifest["segments"]} | {merged.id: entry}
        manifest = store._manifest(segments, entries, deleted)
        storage.commit_segment(merged)
        name = storage.new_version_name()
        storage.write_version(name, manifest)
        version = storage.load_version(name)
        storage.publish(name)
        log.info(
            "merged %d segments (%d chunks) into %s: version %s has %d segments",
            len(ids),
            merged.n_chunks,
            merged.id,
            name,
            len(version.segments),
        )
        storage.cleanup()
        lock.update(MERGING, 1, 1)
        return version
    finally:
        lock.release()


def deleted_rows(version: IndexVersion) -> int:
    return int(sum(0 if d is None else np.count_nonzero(d) for d in version.dead))

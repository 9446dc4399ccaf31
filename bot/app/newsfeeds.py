"""News feeds: subscriptions kept in the bot's database, and polling them. Shared by the console
(``negotiations-bot feeds ...``) and the bot (``/feeds``, the background poller); no Discord here.

A poll fetches every subscribed feed once and adds the items that are new, or whose date
changed since they were saved, as ``add-url`` does; items saved before and unchanged are not
fetched again, and a feed that answers "not modified" (HTTP 304) costs one small request. When
anything was added or updated, the index is brought up to date once, at the end (the caller's
``reindex``: the library's incremental re-index). Every poll is recorded with its counts and
errors (shown by ``/stats``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass, field

from index.articles import CorpusError
from index.lock import IndexBusyError
from index.store import ReindexReport
from index.web.errors import WebError
from index.web.ingest import FeedPoll, WebIngest, feed_url

log = logging.getLogger(__name__)

Reindex = Callable[..., Awaitable[ReindexReport]]  # reindex(only=None | [corpus paths])


class FeedStoreError(Exception):
    """The bot's database cannot be used, so subscriptions cannot be read or changed."""


@dataclass
class PollReport:
    started: float
    trigger: str  # "background" | "cli" | "discord"
    finished: float = 0.0
    feeds: int = 0
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    known: int = 0  # items saved by an earlier poll and unchanged: not fetched
    failed: int = 0  # feeds that could not be read plus items that could not be added
    items: list[dict] = field(default_factory=list)  # every item fetched: feed, status, doc, title...
    errors: list[dict] = field(default_factory=list)  # {"feed", "url", "error"}
    index: dict | None = None  # the re-index's counts, when one ran
    index_error: str | None = None  # why the new articles are not indexed yet

    def to_json(self) -> dict:
        return asdict(self)

    def summary(self) -> str:
        lines = [
            f"{self.feeds} feed(s) polled: {self.added} added, {self.updated} updated, "
            f"{self.unchanged} unchanged, {self.known} already saved, {self.failed} failed"
        ]
        lines += [
            f"{item['status']}: {item['title']} ({item['doc']})"
            for item in self.items
            if item["status"] != "unchanged"
        ]
        lines += [f"failed: {e['url']}: {e['error']}" for e in self.errors]
        if self.index is not None:
            lines.append(index_line(self.index))
        if self.index_error:
            lines.append(f"not indexed yet: {self.index_error}")
        return "\n".join(lines)


def index_counts(report: ReindexReport) -> dict:
    """What a re-index did, in numbers (its full report lists every article)."""
    return {
        "version": report.version,
        "published": report.published,
        "added": len(report.added),
        "changed": len(report.changed),
        "removed": len(report.removed),
        "chunks": report.chunks,
        "embedded_chunks": report.embedded_chunks,
        "seconds": round(report.seconds, 2),
    }


def index_line(counts: dict) -> str:
    if not counts["published"]:
        return "index: already up to date, nothing embedded"
    return (
        f"index: {counts['added']} added, {counts['changed']} changed, {counts['removed']} removed; "
        f"{counts['embedded_chunks']} chunk(s) embedded in {counts['seconds']:.1f}s (version {counts['version']})"
    )


async def run_reindex(reindex: Reindex, only: list[str] | None = None) -> tuple[dict | None, str | None]:
    """Run ``reindex`` (of just the files ``only``, when given: what was saved, so that it costs
    what they cost, whatever the corpus size): (its counts, None), or (None, why it did not run or
    failed)."""
    try:
        return index_counts(await (reindex() if only is None else reindex(only=only))), None
    except (IndexBusyError, CorpusError) as exc:
        return None, f"{exc}; run `negotiations-bot reindex` (or /reindex) later to index it"
    except Exception as exc:  # logged; the articles are saved and the next re-index picks them up
        log.exception("re-index after saving web articles failed")
        return None, f"the re-index failed ({type(exc).__name__}: {exc})"


async def subscribe(db, ingest: WebIngest, url: str, user_id: int | None = None) -> dict:
    """Subscribe to the feed at ``url`` after checking that it is one: {"status": "added" |
    "exists", "url", "title", "items"}. Raises WebError (not a feed, cannot be fetched) or
    FeedStoreError."""
    url = feed_url(url)
    _require(db)
    existing = await db.feed(url)
    if existing is not None:
        return {"status": "exists", "url": url, "title": existing["title"], "items": None}
    _, feed = await ingest.read_feed(url)
    status = await db.add_feed(url, feed.title, user_id)
    if status is None:
        raise FeedStoreError(f"the subscription could not be saved: {db.last_error}")
    return {"status": status, "url": url, "title": feed.title, "items": len(feed.items)}


async def unsubscribe(db, url: str) -> dict:
    """Remove a subscription; raises WebError if there is none for ``url``, FeedStoreError if the
    database cannot be written. The articles already saved stay in the corpus."""
    try:
        url = feed_url(url)
    except WebError:
        pass  # a URL we would not fetch can still be compared with the stored ones
    _require(db)
    feed = await db.feed(url)
    if feed is None:
        raise WebError(f"not subscribed to {url} (see `feeds list`)")
    removed = await db.remove_feed(url)
    if removed is None:
        raise FeedStoreError(f"the subscription could not be removed: {db.last_error}")
    return {"status": "removed", "url": url, "title": feed["title"], "items": feed["items"]}


async def list_feeds(db) -> list[dict]:
    """The subscriptions (url, title, added, last_polled, last_error, items saved...)."""
    _require(db)
    return await db.feeds()


async def poll_all(
    db, ingest: WebIngest, reindex: Reindex | None, trigger: str, *, force_reindex: bool = False
) -> PollReport:
    """Poll every subscribed feed once, save what is new, re-index once, record the poll.
    ``force_reindex``: re-index even if nothing new was saved (the last re-index did not run)."""
    _require(db)
    report = PollReport(started=time.time(), trigger=trigger)
    feeds = await db.feeds()
    report.feeds = len(feeds)
    saved_docs: list[str] = []
    for feed in feeds:
        seen = await db.feed_seen(feed["id"])
        poll = await ingest.poll_feed(feed["url"], seen, feed["etag"], feed["last_modified"])
        failed_before = report.failed
        _tally(report, feed["url"], poll)
        # Validators only when every item made it: otherwise the next poll would be told "not
        # modified" and never retry the items that failed this time.
        complete = report.failed == failed_before
        await db.save_feed_poll(
            feed["id"],
            title=poll.title,
            etag=poll.etag if complete else None,
            last_modified=poll.last_modified if complete else None,
            error=poll.error,
            saved=[(o.item.key, o.item.version, o.result.doc) for o in poll.items if o.result is not None],
        )
        saved_docs += [o.result.doc for o in poll.items if o.result is not None]
    if reindex is not None and (report.added or report.updated or force_reindex):
        # What this poll saved, unless an earlier poll's articles may still be waiting (forced).
        only = None if force_reindex else saved_docs
        report.index, report.index_error = await run_reindex(reindex, only)
    report.finished = time.time()
    await db.record_feed_poll(report.started, report.finished, trigger, report.to_json())
    log.info(
        "feed poll (%s): %d feeds, %d added, %d updated, %d failed",
        trigger,
        report.feeds,
        report.added,
        report.updated,
        report.failed,
    )
    return report


def _tally(report: PollReport, url: str, poll: FeedPoll) -> None:
    if poll.error is not None:
        report.failed += 1
        report.errors.append({"feed": url, "url": url, "error": poll.error})
        return
    report.known += poll.known
    for entry, reason in poll.skipped:
        report.failed += 1
        report.errors.append({"feed": url, "url": url, "error": f"feed entry “{entry}”: {reason}"})
    for outcome in poll.items:
        if outcome.result is None:
            report.failed += 1
            report.errors.append({"feed": url, "url": outcome.item.link, "error": outcome.error})
            continue
        status = outcome.result.status
        setattr(report, status, getattr(report, status) + 1)
        report.items.append({"feed": url} | outcome.result.to_json())


def _require(db) -> None:
    if not db.available:
        raise FeedStoreError(
            f"the bot's database ({db.path}) cannot be used: {db.last_error or 'not open'}; "
            "feed subscriptions are kept there"
        )

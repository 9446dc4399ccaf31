"""Feed subscriptions in the bot's database and polling them (bot/app/newsfeeds.py), against the
local news site: new items only, one re-index per poll, failures reported and retried, each poll
recorded; and the schema upgrade that adds the feed tables."""

from __future__ import annotations

import pytest

from bot.app.db import Database
from bot.app.newsfeeds import FeedStoreError, list_feeds, poll_all, subscribe, unsubscribe
from index.lock import IndexBusyError
from index.store import ReindexReport
from index.web.config import FetchConfig, WebConfig
from index.web.errors import WebError
from index.web.ingest import WebIngest
from tests.helpers.web_fixture import ATOM, ENERGY, GRAIN, RSS, TALKS


class FakeReindex:
    def __init__(self, error: Exception | None = None):
        self.calls = 0
        self.error = error
        self.only: list = []

    async def __call__(self, only=None) -> ReindexReport:
        self.calls += 1
        self.only.append(only)
        if self.error is not None:
            raise self.error
        return ReindexReport(added=["a.txt"], chunks=7, embedded_chunks=3, version="v-1", published=True)


@pytest.fixture
async def feeds_env(tmp_path, news_site, make_db):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    db = make_db()
    assert await db.open()
    ingest = WebIngest(WebConfig(fetch=FetchConfig(allow_private=True, timeout_s=3.0)), corpus)
    yield db, ingest, corpus, news_site
    await ingest.aclose()
    await db.close()


async def test_subscribe_checks_the_feed_and_keeps_it(feeds_env):
    db, ingest, _, site = feeds_env
    added = await subscribe(db, ingest, site.url(RSS), user_id=7)
    assert added == {
        "status": "added",
        "url": site.url(RSS),
        "title": "The Harbour Ledger – World",
        "items": 2,
    }
    again = await subscribe(db, ingest, site.url(RSS))
    assert again["status"] == "exists" and site.hits(RSS) == 1  # not fetched again
    for url, message in [
        (site.url("/feeds/not-a-feed.xml"), "not an RSS or Atom feed"),
        (site.url("/feeds/html"), r"not an RSS or Atom feed \(Content-Type: text/html\)"),
        (site.url("/status/404"), "HTTP 404"),
        ("ftp://example.com/feed", "only http:// and https://"),
    ]:
        with pytest.raises(WebError, match=message):
            await subscribe(db, ingest, url)
    feeds = await list_feeds(db)
    assert [(f["url"], f["added_by"], f["items"], f["last_polled"]) for f in feeds] == [
        (site.url(RSS), 7, 0, None)
    ]


async def test_unsubscribe(feeds_env):
    db, ingest, _, site = feeds_env
    await subscribe(db, ingest, site.url(ATOM))
    await poll_all(db, ingest, None, "cli")
    removed = await unsubscribe(db, site.url(ATOM))
    assert removed == {
        "status": "removed",
        "url": site.url(ATOM),
        "title": "Northline Dispatch – Latest",
        "items": 1,
    }
    assert await list_feeds(db) == []
    assert await db.feed_seen(1) == {}  # its item records went with it
    with pytest.raises(WebError, match="not subscribed to"):
        await unsubscribe(db, site.url(ATOM))


async def test_a_poll_adds_new_items_reindexes_once_and_a_second_poll_adds_nothing(feeds_env):
    db, ingest, corpus, site = feeds_env
    await subscribe(db, ingest, site.url(RSS))
    await subscribe(db, ingest, site.url(ATOM))
    reindex = FakeReindex()
    first = await poll_all(db, ingest, reindex, "cli")
    assert (first.feeds, first.added, first.updated, first.unchanged, first.failed) == (2, 3, 0, 0, 1)
    assert {item["title"] for item in first.items} == {
        "Envoys agree on a sailor exchange at Istanbul talks",
        "Grain corridor talks move to Geneva",
        "Monitors propose checks on the energy strike pause",
    }
    assert first.errors == [
        {
            "feed": site.url(ATOM),
            "url": site.url("/status/404"),
            "error": "the server answered HTTP 404 Not Found",
        }
    ]
    assert reindex.calls == 1 and first.index["embedded_chunks"] == 3 and first.index_error is None
    assert len(list(corpus.rglob("*.txt"))) == 3
    # Only what the poll saved is re-indexed (its cost does not grow with the corpus).
    assert sorted(reindex.only[0]) == sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*.txt"))
    recorded = await db.last_feed_poll()
    assert recorded["trigger"] == "cli" and recorded["report"]["added"] == 3 and recorded["report"]["errors"]

    hits = {path: site.hits(path) for path in (TALKS, GRAIN, ENERGY)}
    second = await poll_all(db, ingest, reindex, "background")
    assert (second.added, second.updated, second.failed) == (0, 0, 1)  # the broken item is tried again
    assert reindex.calls == 1  # nothing new: no re-index
    assert {path: site.hits(path) for path in (TALKS, GRAIN, ENERGY)} == hits  # saved items not refetched
    rss_requests = [headers for path, headers in site.requests if path == RSS]
    assert "If-None-Match" in rss_requests[-1]  # the complete feed is asked conditionally
    atom_requests = [headers for path, headers in site.requests if path == ATOM]
    assert "If-None-Match" not in atom_requests[-1]  # one of its items failed: fetched in full
    feeds = {f["url"]: f for f in await list_feeds(db)}
    assert feeds[site.url(RSS)]["items"] == 2 and feeds[site.url(ATOM)]["items"] == 1
    assert all(f["last_polled"] and f["last_error"] is None for f in feeds.values())


async def test_a_feed_that_cannot_be_read_is_reported_and_the_others_still_polled(feeds_env):
    db, ingest, _, site = feeds_env
    await subscribe(db, ingest, site.url(ATOM))
    site.serve(RSS, body=b"gone", content_type="text/plain")
    await db.add_feed(site.url(RSS), "Broken", None)
    report = await poll_all(db, ingest, FakeReindex(), "cli")
    assert report.added == 1 and report.failed == 2
    assert {
        "feed": site.url(RSS),
        "url": site.url(RSS),
        "error": "not an RSS or Atom feed (Content-Type: text/plain)",
    } in (report.errors)
    feeds = {f["url"]: f for f in await list_feeds(db)}
    assert feeds[site.url(RSS)]["last_error"] == "not an RSS or Atom feed (Content-Type: text/plain)"


async def test_a_reindex_that_cannot_run_is_reported_and_can_be_forced_next_time(feeds_env):
    db, ingest, corpus, site = feeds_env
    await subscribe(db, ingest, site.url(RSS))
    busy = FakeReindex(IndexBusyError(None))
    report = await poll_all(db, ingest, busy, "background")
    assert report.added == 2 and report.index is None
    assert report.index_error == (
        "a re-index is already running (starting); run `negotiations-bot reindex` (or /reindex) later to index it"
    )
    assert len(list(corpus.rglob("*.txt"))) == 2  # saved all the same
    retry = FakeReindex()
    nothing_new = await poll_all(db, ingest, retry, "background", force_reindex=True)
    assert nothing_new.added == 0 and retry.calls == 1 and nothing_new.index is not None
    assert retry.only == [None]  # forced: the whole corpus, the earlier poll's articles included


async def test_without_a_database_feeds_cannot_be_used(tmp_path, feeds_env):
    _, ingest, _, site = feeds_env
    closed = Database(tmp_path / "never-opened.sqlite3")
    for call in (
        subscribe(closed, ingest, site.url(RSS)),
        list_feeds(closed),
        poll_all(closed, ingest, None, "cli"),
    ):
        with pytest.raises(FeedStoreError, match="cannot be used"):
            await call


async def test_an_older_database_gains_the_feed_tables(tmp_path):
    path = tmp_path / "bot.sqlite3"
    older = Database(path)
    assert await older.open(target_version=3)
    assert await older.feeds() == []  # no table yet: read as empty, never an error
    await older.close()
    async with Database(path) as db:
        assert await db.add_feed("http://x/feed", "X", None) == "added"
        assert [f["url"] for f in await db.feeds()] == ["http://x/feed"]

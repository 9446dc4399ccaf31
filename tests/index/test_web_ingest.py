"""Pages and feed items saved as article files: the header block, one file per story whatever URL
reached it, ``unchanged`` / ``updated`` on a second visit, nothing saved for a bad case; RSS and
Atom read with feedparser; a feed polled for its new items only."""

from __future__ import annotations

import pytest

from index.articles import load_corpus, read_article
from index.web.config import FetchConfig, WebConfig
from index.web.errors import FeedError, WebError
from index.web.feeds import parse_feed
from index.web.ingest import WebIngest
from tests.helpers.web_fixture import ATOM, ENERGY, GRAIN, RSS, TALKS, TALKS_AMP, WEB_DATA


def files(corpus) -> dict[str, bytes]:
    return {
        p.relative_to(corpus).as_posix(): p.read_bytes() for p in sorted(corpus.rglob("*")) if p.is_file()
    }


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus"
    path.mkdir()
    return path


def ingest_for(corpus, **fetch):
    return WebIngest(
        WebConfig(fetch=FetchConfig(**({"allow_private": True, "timeout_s": 2.0} | fetch))), corpus
    )


async def test_a_page_is_saved_as_an_article_file_with_its_header(news_site, corpus):
    async with ingest_for(corpus) as ingest:
        result = await ingest.add_url(news_site.url(TALKS + "?utm_source=newsletter"))
    assert result.status == "added"
    assert result.doc.startswith(
        f"web/127.0.0.1_{news_site.base.rsplit(':', 1)[1]}/istanbul-sailor-exchange-"
    )
    assert (result.title, result.source, result.published, result.url) == (
        "Envoys agree on a sailor exchange at Istanbul talks",
        "The Harbour Ledger",
        "2025-05-16",
        news_site.url(TALKS),
    )
    text = (corpus / result.doc).read_text("utf-8")
    assert text.startswith(
        "Title: Envoys agree on a sailor exchange at Istanbul talks\nSource: The Harbour Ledger\n"
        f"Published: 2025-05-16\nURL: {news_site.url(TALKS)}\n\nNegotiators from Russia and Ukraine agreed"
    )
    article = read_article(corpus / result.doc, corpus)  # as the indexer reads it
    assert article.metadata == {
        "title": result.title,
        "source": "The Harbour Ledger",
        "published": "2025-05-16",
        "url": news_site.url(TALKS),
    }
    assert "Sign up for our free daily newsletter" not in article.text and "seawatcher77" not in article.text


async def test_the_same_story_by_other_urls_is_one_unchanged_article(news_site, corpus):
    async with ingest_for(corpus) as ingest:
        first = await ingest.add_url(news_site.url(TALKS))
        before = files(corpus)
        again = [
            await ingest.add_url(news_site.url(path))
            for path in (
                TALKS,
                TALKS + "?utm_source=rss&utm_medium=feed&fbclid=xyz",
                TALKS_AMP,  # the AMP page names the canonical URL
                "/redirect/talks",  # a redirect to it
            )
        ]
    assert [r.status for r in again] == ["unchanged"] * 4
    assert {r.doc for r in again} == {first.doc}
    assert files(corpus) == before  # not a byte written


async def test_changed_content_replaces_the_article(news_site, corpus):
    async with ingest_for(corpus) as ingest:
        first = await ingest.add_url(news_site.url(TALKS))
        updated_page = news_site.page("istanbul-talks.html").replace(
            b"staff vessels calling at Odesa.</p>",
            b"staff vessels calling at Odesa.</p>\n<p>Update: the first 140 sailors crossed into Romania on Monday.</p>",
        )
        news_site.serve(TALKS, body=updated_page)
        second = await ingest.add_url(news_site.url(TALKS))
    assert (second.status, second.doc) == ("updated", first.doc)
    assert list(files(corpus)) == [first.doc]  # replaced, not duplicated
    assert "the first 140 sailors crossed into Romania" in (corpus / first.doc).read_text("utf-8")


async def test_a_page_without_a_date_gets_no_published_line(news_site, corpus):
    async with ingest_for(corpus) as ingest:
        result = await ingest.add_url(news_site.url(ENERGY))
    header = (corpus / result.doc).read_text("utf-8").split("\n\n", 1)[0]
    assert result.published is None and "Published:" not in header
    assert header.startswith("Title: Monitors propose checks on the energy strike pause\nSource: 127.0.0.1\n")


@pytest.mark.parametrize(
    "path,message",
    [
        ("/status/500", "HTTP 500"),
        ("/image.png", "not an HTML page"),
        ("/huge", "too big"),
        ("/redirect/loop-a", "redirect loop"),
        ("/subscribe/wall", "no article text found on the page"),
        ("/slow", "timed out"),
    ],
)
async def test_bad_cases_save_nothing(news_site, corpus, path, message):
    async with ingest_for(corpus, max_bytes=300_000, timeout_s=0.5) as ingest:
        with pytest.raises(WebError, match=message):
            await ingest.add_url(news_site.url(path))
    assert files(corpus) == {}


async def test_a_missing_corpus_directory_is_a_clear_error(news_site, tmp_path):
    async with ingest_for(tmp_path / "nowhere") as ingest:
        with pytest.raises(WebError, match=r"the corpus directory .* does not exist"):
            await ingest.add_url(news_site.url(TALKS))


# ---------------------------------------------------------------- feeds


def test_rss_and_atom_items():
    base = "http://127.0.0.1:1"
    rss = parse_feed((WEB_DATA / "feed.rss").read_bytes().replace(b"{{BASE}}", base.encode()), base + RSS)
    assert (rss.title, rss.format) == ("The Harbour Ledger – World", "rss20")
    assert [(i.key, i.title, i.version) for i in rss.items] == [
        (
            "harbour-ledger-88213",
            "Envoys agree on a sailor exchange at Istanbul talks",
            "Fri, 16 May 2025 09:30:00 GMT",
        ),
        ("harbour-ledger-88240", "Grain corridor talks move to Geneva", "Tue, 03 Jun 2025 07:15:00 GMT"),
    ]
    assert rss.items[1].link == base + GRAIN + "?utm_source=rss"
    atom = parse_feed(
        b"""<?xml version="1.0"?><feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>
        <entry><title>Relative</title><link href="/latest/a"/><updated>2025-06-11T10:00:00Z</updated></entry>
        <entry><title>No link</title></entry>
        <entry><title>Bad link</title><link href="ftp://h/x"/></entry></feed>""",
        base + ATOM,
    )
    assert [(i.key, i.link) for i in atom.items] == [
        (base + "/latest/a", base + "/latest/a")
    ]  # no id: the link
    assert [name for name, _ in atom.skipped] == ["No link", "Bad link"]


def test_not_a_feed_and_a_body_naming_a_local_file_are_refused(tmp_path):
    with pytest.raises(FeedError, match="not an RSS or Atom feed"):
        parse_feed(b"<?xml version='1.0'?><note><to>Tove</to></note>", "http://x/feed")
    secret = tmp_path / "secret.xml"
    secret.write_text('<rss version="2.0"><channel><title>Local secret</title></channel></rss>', "utf-8")
    # Given bytes that look like a path, feedparser alone would open that file: ours never does.
    with pytest.raises(FeedError):
        parse_feed(str(secret).encode(), "http://x/feed")


async def test_a_poll_adds_new_items_only_and_reports_failures(news_site, corpus):
    async with ingest_for(corpus) as ingest:
        first = await ingest.poll_feed(news_site.url(ATOM), seen={})
        seen = {o.item.key: o.item.version for o in first.items if o.result is not None}
        second = await ingest.poll_feed(news_site.url(ATOM), seen=seen)
        conditional = await ingest.poll_feed(news_site.url(ATOM), seen=seen, etag=first.etag)
        broken = await ingest.poll_feed(news_site.url("/feeds/not-a-feed.xml"), seen={})
    assert [(o.item.title, o.result.status if o.result else o.error) for o in first.items] == [
        ("Monitors propose checks on the energy strike pause", "added"),
        ("Broken link in the feed", "the server answered HTTP 404 Not Found"),
    ]
    assert first.title == "Northline Dispatch – Latest" and first.error is None
    assert second.known == 1 and [o.item.title for o in second.items] == [
        "Broken link in the feed"
    ]  # retried
    assert conditional.not_modified and conditional.items == []
    assert broken.error == "not an RSS or Atom feed" and broken.items == []
    assert news_site.hits(ENERGY) == 1  # the saved item was not fetched again
    assert [a.doc_id for a in load_corpus(corpus).articles] == [first.items[0].result.doc]

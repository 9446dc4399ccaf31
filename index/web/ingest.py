"""Web pages and feeds into the corpus directory: what ``add-url`` and a feed poll do, short of
re-indexing (the caller then runs ``Library.reindex()``, which embeds only what changed).

An article is saved as ``web/<host>/<slug>-<hash>.txt`` (named by its canonical URL, see
``index.web.urls``) with the usual header block — ``Title:``, ``Source:``, ``Published:`` (only
when the page gives a date), ``URL:`` — a blank line and the text, through the same safe, atomic
save as uploaded articles (``index.intake``). Saving a story again is ``unchanged`` when the
text is byte for byte the same and ``updated`` when it differs (the file is replaced: one
article, never two copies). Anything that goes wrong raises WebError before a byte is written.

Fetching is asynchronous (httpx); extraction and saving run in worker threads, so an event loop
(the Discord bot's) keeps serving meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path

from index.articles import DEFAULT_MAX_ARTICLE_BYTES
from index.intake import SaveOutcome, UploadRejected, check_upload, save_upload
from index.web.config import WebConfig
from index.web.errors import WebError
from index.web.extract import PageArticle, extract_article
from index.web.feeds import Feed, FeedItem, parse_feed
from index.web.fetch import Fetched, Fetcher, Resolver, checked_url
from index.web.urls import article_path

log = logging.getLogger(__name__)

STATUS = {SaveOutcome.SAVED: "added", SaveOutcome.REPLACED: "updated", SaveOutcome.UNCHANGED: "unchanged"}


@dataclass(frozen=True)
class IngestResult:
    status: str  # "added" | "updated" | "unchanged"
    doc: str  # the article's path relative to the corpus dir
    title: str
    source: str
    published: str | None
    url: str  # the canonical URL (in the file's URL: line)
    requested_url: str

    @property
    def changed_corpus(self) -> bool:
        return self.status != "unchanged"

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class ItemOutcome:
    item: FeedItem
    result: IngestResult | None = None
    error: str | None = None


@dataclass
class FeedPoll:
    """One feed, fetched once: the items that were new or changed, and what became of each."""

    url: str
    title: str | None = None
    not_modified: bool = False  # the server said nothing changed (HTTP 304)
    etag: str | None = None
    last_modified: str | None = None
    items: list[ItemOutcome] = field(default_factory=list)
    known: int = 0  # items seen before, unchanged: not fetched again
    skipped: list[tuple[str, str]] = field(default_factory=list)  # entries without a usable link
    error: str | None = None  # the feed itself could not be read


def article_text(article: PageArticle) -> str:
    """The article file: header block, blank line, body."""
    header = [f"Title: {article.title}", f"Source: {article.source}"]
    if article.published:
        header.append(f"Published: {article.published}")
    header.append(f"URL: {article.url}")
    return "\n".join(header) + "\n\n" + article.body + "\n"


def save_article(
    article: PageArticle, corpus_dir: Path, requested_url: str, max_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
) -> IngestResult:
    """Save (or replace, or leave as it is) the article's file; raises WebError if it cannot."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise WebError(f"the corpus directory {corpus_dir} does not exist (check CORPUS_DIR)")
    doc = article_path(article.url)
    folder, name = doc.rsplit("/", 1)
    try:
        upload = check_upload(name, article_text(article).encode("utf-8"), max_bytes)
        directory = corpus_dir / folder
        directory.mkdir(parents=True, exist_ok=True)
        result = save_upload(upload, directory, replace=True)
        if result.outcome is SaveOutcome.EXISTS:  # created meanwhile (another process): replace it
            result = save_upload(upload, directory, replace=True)
    except UploadRejected as exc:
        raise WebError(f"the article cannot be saved: {exc}") from None
    except OSError as exc:
        raise WebError(f"the article cannot be saved: {exc.strerror or exc}") from None
    if result.outcome not in STATUS:
        raise WebError(f"the article cannot be saved: {result.message}")
    return IngestResult(
        status=STATUS[result.outcome],
        doc=f"{folder}/{result.filename}",
        title=article.title,
        source=article.source,
        published=article.published,
        url=article.url,
        requested_url=requested_url,
    )


class WebIngest:
    """Adds web pages and feed items to the corpus directory; ``async with`` releases its HTTP client."""

    def __init__(
        self,
        config: WebConfig,
        corpus_dir: Path,
        *,
        resolver: Resolver | None = None,
        transport=None,
    ):
        self.config = config
        self.corpus_dir = Path(corpus_dir)
        self.fetcher = Fetcher(config.fetch, resolver=resolver, transport=transport)

    async def __aenter__(self) -> WebIngest:
        return self

    async def __aexit__(self, *exc) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self.fetcher.aclose()

    async def fetch_article(self, url: str) -> PageArticle:
        """Fetch the page and extract its article (nothing is saved); raises WebError."""
        fetched = await self.fetcher.fetch(url, "page")
        return await asyncio.to_thread(extract_article, fetched.content(), fetched.url, self.config.min_words)

    async def add_url(self, url: str) -> IngestResult:
        """Fetch, extract and save the article at ``url``; raises WebError (nothing saved)."""
        article = await self.fetch_article(url)
        return await asyncio.to_thread(
            save_article, article, self.corpus_dir, url, self.config.max_article_bytes
        )

    async def read_feed(
        self, url: str, etag: str | None = None, last_modified: str | None = None
    ) -> tuple[Fetched, Feed | None]:
        """Fetch and parse a feed; the Feed is None when the server says it has not changed
        since ``etag``/``last_modified``. Raises WebError."""
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        fetched = await self.fetcher.fetch(url, "feed", headers=headers)
        if fetched.not_modified:
            return fetched, None
        feed = await asyncio.to_thread(parse_feed, fetched.body, fetched.url, fetched.content_type)
        return fetched, feed

    async def poll_feed(
        self,
        url: str,
        seen: Mapping[str, str],
        etag: str | None = None,
        last_modified: str | None = None,
    ) -> FeedPoll:
        """Fetch a feed once and add its new or changed items (``seen``: item key → the version
        saved last time). Never raises for the feed or an item: their errors are in the result."""
        poll = FeedPoll(url)
        try:
            fetched, feed = await self.read_feed(url, etag, last_modified)
        except WebError as exc:
            poll.error = str(exc)
            return poll
        poll.etag, poll.last_modified = fetched.etag, fetched.last_modified
        if feed is None:
            poll.not_modified = True
            return poll
        poll.title, poll.skipped = feed.title, list(feed.skipped)
        for item in feed.items[: self.config.feed_max_items]:
            if item.key in seen and seen[item.key] == item.version:
                poll.known += 1
                continue
            try:
                result = await self.add_url(item.link)
            except WebError as exc:
                poll.items.append(ItemOutcome(item, error=str(exc)))
            except Exception as exc:  # one broken item must not end the poll of the others
                log.exception("adding feed item %s failed", item.link)
                poll.items.append(ItemOutcome(item, error=f"internal error ({type(exc).__name__}: {exc})"))
            else:
                poll.items.append(ItemOutcome(item, result=result))
        return poll


def feed_url(url: str) -> str:
    """A feed's URL as stored and compared: checked (http/https, no credentials) and normalised
    by httpx (lower-case scheme and host, no fragment). Raises WebError."""
    return str(checked_url(url))

"""RSS and Atom feeds, parsed by feedparser from bytes we fetched ourselves.

The bytes are handed over as a stream: given a plain string or bytes, feedparser would treat a
body that looks like a URL or a file name as one and fetch or open it.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import feedparser

from index.web.errors import FeedError
from index.web.extract import one_line
from index.web.fetch import checked_url


@dataclass(frozen=True)
class FeedItem:
    key: str  # the entry's id (RSS guid, Atom id), else its link: the same story across polls
    link: str  # the story's URL (absolute, http or https)
    title: str
    version: str  # its updated/published date as written ("" if none); a change means "fetch again"


@dataclass(frozen=True)
class Feed:
    url: str
    title: str
    format: str  # feedparser's name for it: rss20, atom10, rss10...
    items: tuple[FeedItem, ...]  # in the feed's order (usually newest first)
    skipped: tuple[tuple[str, str], ...] = ()  # (entry, reason) for entries that cannot be fetched


def parse_feed(data: bytes, url: str, content_type: str = "") -> Feed:
    """The feed in ``data`` (fetched from ``url``); raises FeedError if it is not RSS or Atom."""
    parsed = feedparser.parse(
        io.BytesIO(data),
        response_headers={"content-location": url, "content-type": content_type or "application/xml"},
    )
    if not parsed.get("version"):
        problem = parsed.get("bozo_exception")
        detail = f" ({one_line(str(problem))[:200]})" if problem else ""
        raise FeedError(f"not an RSS or Atom feed{detail}")
    items: list[FeedItem] = []
    skipped: list[tuple[str, str]] = []
    seen: set[str] = set()
    for number, entry in enumerate(parsed.entries, start=1):
        title = one_line(entry.get("title") or "")
        name = title or f"entry {number}"
        link = (entry.get("link") or "").strip()
        if not link:
            skipped.append((name, "no link to the story"))
            continue
        try:
            link = str(checked_url(link))
        except ValueError as exc:  # FetchError: not http(s), credentials, too long...
            skipped.append((name, str(exc)))
            continue
        key = (entry.get("id") or "").strip() or link
        if key in seen:
            continue
        seen.add(key)
        version = (entry.get("updated") or entry.get("published") or "").strip()
        items.append(FeedItem(key, link, title, version))
    title = one_line(parsed.feed.get("title") or "") or url
    return Feed(url, title, parsed.get("version", ""), tuple(items), tuple(skipped))

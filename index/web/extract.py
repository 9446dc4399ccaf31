"""The article in a fetched page — its main text without navigation, cookie banners, newsletter
boxes, comments or related links, and its title, publisher and date — by trafilatura.

The options that matter (found by probing trafilatura 2.3.1):

- ``include_comments=False``: it keeps readers' comments otherwise;
- ``favor_precision=True``: borderline blocks (promotions, share bars) are left out;
- the date from the page's metadata only (meta tags, JSON-LD, ``<time>``, the URL): htmldate's
  extensive search would guess one from any date-like text, such as a related link's URL, and
  a guessed date is worse than none;
- a minimum length: a page with no article still yields a few dozen words of furniture
  ("This story is for subscribers. Log in to keep reading.").

Tables and images are left out: on news pages they are mostly tickers and galleries.
"""

from __future__ import annotations

import datetime as dt
import re
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import trafilatura
from trafilatura.settings import set_date_params

from index.articles import readable_title
from index.web.config import DEFAULT_MIN_WORDS
from index.web.errors import ExtractError
from index.web.urls import story_url

TITLE_MAX_CHARS = 300


@dataclass(frozen=True)
class PageArticle:
    url: str  # the canonical URL: the article's identity
    title: str
    source: str  # the publisher (og:site_name, JSON-LD publisher...), else the host
    published: str | None  # YYYY-MM-DD, only when the page says
    body: str


def extract_article(content: str | bytes, page_url: str, min_words: int = DEFAULT_MIN_WORDS) -> PageArticle:
    """The article of an HTML page fetched from ``page_url``; raises ExtractError if it has none."""
    try:
        document = trafilatura.bare_extraction(
            content,
            url=page_url,
            with_metadata=True,
            include_comments=False,
            favor_precision=True,
            include_tables=False,
            include_images=False,
            include_links=False,
            date_extraction_params=set_date_params(extensive=False),
        )
    except Exception as exc:  # lxml and the extractors raise many kinds for broken markup
        raise ExtractError(f"the page could not be parsed ({type(exc).__name__}: {exc})") from None
    if document is None or not (document.text or "").strip():
        raise ExtractError("no article text found on the page")
    title = one_line(document.title or "")[:TITLE_MAX_CHARS].strip()
    body = tidy_body(document.text, title)
    words = len(body.split())
    if words < min_words:
        raise ExtractError(
            f"no article text found on the page: only {words} words besides navigation, banners and "
            f"comments (an article needs at least {min_words})"
        )
    if not title:
        title = readable_title("", body)  # the first sentence
    return PageArticle(
        url=story_url(page_url, document.url),
        title=title,
        source=publisher(document.sitename, page_url),
        published=iso_date(document.date),
        body=body,
    )


def one_line(text: str) -> str:
    """``text`` as one line of printable characters (a header value must not break the header)."""
    kept = []
    for ch in text:
        category = unicodedata.category(ch)
        if category == "Cc" or category.startswith("Z"):  # controls, line and paragraph separators
            kept.append(" ")
        elif not category.startswith("C"):  # format characters (soft hyphens...) are dropped
            kept.append(ch)
    return " ".join("".join(kept).split())


def tidy_body(text: str, title: str) -> str:
    """Paragraphs one per line, without control characters or blank lines; a first line that
    repeats the title (the page's headline) is dropped: the title is in the header."""
    lines = [one_line(line) for line in text.splitlines()]
    lines = [line for line in lines if line]
    if lines and title and lines[0].casefold() == title.casefold():
        lines = lines[1:]
    return "\n".join(lines)


def publisher(site_name: str | None, page_url: str) -> str:
    """The site name, unless it is just the host name (trafilatura's fallback): then the host,
    without ``www.`` and port."""
    parts = urlsplit(page_url)
    host = (parts.hostname or "").removeprefix("www.")
    name = one_line(site_name or "")
    if not name or name.lower().removeprefix("www.") in (host, parts.netloc.lower().removeprefix("www.")):
        return host
    return name[:TITLE_MAX_CHARS]


def iso_date(value: str | None) -> str | None:
    """``YYYY-MM-DD`` if ``value`` starts with a real date, else None (never a guess)."""
    match = re.match(r"\d{4}-\d{2}-\d{2}", value or "")
    if not match:
        return None
    try:
        return dt.date.fromisoformat(match.group()).isoformat()
    except ValueError:
        return None

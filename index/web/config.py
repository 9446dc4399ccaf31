"""The settings of fetching and saving web articles, kept apart from the code that uses them so
that reading the settings (bot.settings, at every start) loads no HTTP or HTML library."""

from __future__ import annotations

from dataclasses import dataclass, field

from index.articles import DEFAULT_MAX_ARTICLE_BYTES

DEFAULT_USER_AGENT = "negotiations-bot/0.1 (news article fetcher)"
DEFAULT_MIN_WORDS = 80  # shorter extracted text is page furniture, not an article
DEFAULT_FEED_MAX_ITEMS = 30


@dataclass(frozen=True)
class FetchConfig:
    timeout_s: float = 20.0  # the whole fetch of one URL: every redirect hop and the body
    max_bytes: int = 5_000_000
    max_redirects: int = 5
    allow_private: bool = False  # loopback and private-network addresses (tests, intranet sources)
    user_agent: str = DEFAULT_USER_AGENT


@dataclass(frozen=True)
class WebConfig:
    fetch: FetchConfig = field(default_factory=FetchConfig)
    min_words: int = DEFAULT_MIN_WORDS
    max_article_bytes: int = DEFAULT_MAX_ARTICLE_BYTES
    feed_max_items: int = DEFAULT_FEED_MAX_ITEMS  # the newest items of a feed looked at per poll

"""Replies of the news commands (``/add-url``, ``/feeds``) within Discord's limits, every
web-derived string (titles, site names, URLs, errors) escaped: no markdown, no mentions."""

from __future__ import annotations

import discord

from bot.app.render import DESCRIPTION_MAX, clean_text, dlen, fit_escaped

COLOUR_FEEDS = discord.Colour.blurple()


def article_note(result) -> str:
    """What /add-url saved (an ``index.web.ingest.IngestResult``), as plain text: title, source
    and date first, then the file and the URL. The summary embed escapes it."""
    verb = {"added": "Added", "updated": "Updated", "unchanged": "Already in the library, unchanged:"}
    dated = f", {result.published}" if result.published else " (no publication date on the page)"
    return (
        f"{verb.get(result.status, result.status)} “{result.title}” — {result.source}{dated}\n"
        f"Saved as {result.doc}\nFrom {result.url}"
    )


def _when(timestamp: float | None) -> str:
    # Discord shows <t:…:R> as "5 minutes ago" in the reader's language.
    return f"<t:{int(timestamp)}:R>" if timestamp else "never"


def render_feeds(feeds: list[dict], poll_minutes: float) -> discord.Embed:
    """The subscriptions: title, URL, items saved, last poll and its error — as many as fit."""
    embed = discord.Embed(title=f"News feeds ({len(feeds):,})", colour=COLOUR_FEEDS)
    if not feeds:
        embed.description = "No feeds yet. Subscribe with /feeds add."
    lines: list[str] = []
    used = 0
    for i, feed in enumerate(feeds, start=1):
        title = fit_escaped(clean_text(feed.get("title") or feed["url"], single_line=True), 150)
        entry = (
            f"**{i}.** {title}\n{fit_escaped(clean_text(feed['url'], single_line=True), 300)}\n"
            f"{feed.get('items', 0):,} article(s) saved · polled {_when(feed.get('last_polled'))}"
        )
        if feed.get("last_error"):
            entry += f"\n⚠️ {fit_escaped(clean_text(feed['last_error'], single_line=True), 300)}"
        more = f"… and {len(feeds) - i + 1} more"
        if used + dlen(entry) + 2 + dlen(more) > DESCRIPTION_MAX:
            lines.append(more)
            break
        lines.append(entry)
        used += dlen(entry) + 2
    if lines:
        embed.description = "\n\n".join(lines)
    every = (
        f"every {poll_minutes:g} min" if poll_minutes > 0 else "never in the background (FEED_POLL_MINUTES=0)"
    )
    embed.set_footer(text=f"Polled {every}. /stats shows the last poll and its errors.")
    return embed

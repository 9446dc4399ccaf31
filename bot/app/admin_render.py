"""Embeds for the admin commands — re-index progress and summary, /sources pages, /stats — within
Discord's limits, with every article-derived string escaped (no markdown, no mentions)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import discord

from bot.app.render import (
    DESCRIPTION_MAX,
    FIELD_VALUE_MAX,
    FIELDS_MAX,
    TITLE_MAX,
    clean_text,
    dlen,
    fit_escaped,
    fit_plain,
)

COLOUR_WORKING = discord.Colour.gold()
COLOUR_DONE = discord.Colour.green()
COLOUR_NOTHING = discord.Colour.light_grey()
COLOUR_FAILED = discord.Colour.red()
COLOUR_INFO = discord.Colour.blurple()

SOURCES_PER_PAGE = 10
BAR_WIDTH = 12
STAGE_LABELS = {
    "reading": ("Reading articles", "articles"),
    "chunking": ("Chunking articles", "articles"),
    "embedding": ("Embedding chunks", "chunks"),
    "writing": ("Writing the new index version", ""),
    "publishing": ("Switching to the new version", ""),
}
STAGE_ORDER = list(STAGE_LABELS)


def duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{seconds:.1f} s"
    if seconds < 90:
        return f"{seconds:.0f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def bar(done: int, total: int, width: int = BAR_WIDTH) -> str:
    filled = 0 if total <= 0 else min(width, int(width * done / total))
    return "▰" * filled + "▱" * (width - filled)


def _names_list(names: list[str], budget: int = FIELD_VALUE_MAX) -> str:
    """File names, escaped, one per line, ending with "… and N more" when they do not all fit."""
    lines: list[str] = []
    used = 0
    for i, name in enumerate(names):
        line = fit_escaped(clean_text(name, single_line=True), 180)
        more = f"… and {len(names) - i} more"
        # keep room for the "and N more" line unless this is the last name
        reserve = 0 if i == len(names) - 1 else dlen(more) + 1
        if used + dlen(line) + 1 + reserve > budget:
            lines.append(more)
            break
        lines.append(line)
        used += dlen(line) + 1
    return "\n".join(lines) or "—"


# ---------------------------------------------------------------- re-index progress


@dataclass
class ProgressState:
    """What the re-index thread last reported; read by the event loop to edit the message."""

    started: float = field(default_factory=time.monotonic)
    stage: str = "starting"
    done: int = 0
    total: int = 0
    stage_started: float = field(default_factory=time.monotonic)
    finished_stages: dict[str, tuple[int, int]] = field(default_factory=dict)
    version: int = 0  # bumped on each update, so the editor knows whether anything changed

    def update(self, stage: str, done: int, total: int, now: float | None = None) -> None:
        now = time.monotonic() if now is None else now
        if stage != self.stage:
            if self.stage in STAGE_LABELS:
                self.finished_stages[self.stage] = (self.done, self.total)
            self.stage, self.stage_started = stage, now
        self.done, self.total = done, total
        self.version += 1

    def eta(self, now: float | None = None) -> float | None:
        """Seconds left in the current stage (embedding dominates), from its rate so far."""
        now = time.monotonic() if now is None else now
        if self.total <= 0 or self.done <= 0 or self.done >= self.total:
            return None
        elapsed = now - self.stage_started
        return elapsed / self.done * (self.total - self.done)


def render_progress(
    state: ProgressState, *, title: str = "Re-indexing…", who: str | None = None, now: float | None = None
) -> discord.Embed:
    now = time.monotonic() if now is None else now
    lines = []
    for stage in STAGE_ORDER:
        label, unit = STAGE_LABELS[stage]
        if stage in state.finished_stages:
            _, total = state.finished_stages[stage]
            count = f" ({total:,} {unit})" if unit and total else ""
            lines.append(f"✅ {label}{count}")
        elif stage == state.stage:
            line = f"⏳ **{label}**"
            if unit and state.total:
                percent = math.floor(100 * state.done / state.total)
                line += f"\n{bar(state.done, state.total)} {state.done:,}/{state.total:,} {unit} ({percent}%)"
                eta = state.eta(now)
                if eta is not None:
                    line += f" · about {duration(eta)} left"
            lines.append(line)
        else:
            lines.append(f"▫️ {label}")
    lines.append("")
    lines.append(
        f"Running for {duration(now - state.started)}"
        + (f" · started by {fit_plain(who, 100)}" if who else "")
    )
    return discord.Embed(
        title=fit_plain(title, TITLE_MAX),
        description="\n".join(lines)[:DESCRIPTION_MAX],
        colour=COLOUR_WORKING,
    )


def busy_text(status) -> str:
    """What a second /reindex (or an upload's re-index) is told while one runs."""
    where = status.describe() if status is not None else "just starting"
    return (
        f"A re-index is already running ({where}). Only one runs at a time — try again when it has finished."
    )


# ---------------------------------------------------------------- re-index summary


def render_summary(report, *, title: str | None = None, note: str | None = None) -> discord.Embed:
    """The finished re-index: counts, chunks, duration, the changed files and skipped files with reasons."""
    changed = report.added or report.changed or report.removed
    if title is None:
        title = "Re-index finished" if getattr(report, "published", changed) else "Re-index: nothing to do"
    colour = COLOUR_DONE if getattr(report, "published", changed) else COLOUR_NOTHING
    lines = [
        f"**{len(report.added):,}** added · **{len(report.changed):,}** changed · "
        f"**{len(report.removed):,}** removed · **{len(report.unchanged):,}** unchanged articles",
        f"**{report.chunks:,}** chunks ({report.embedded_chunks:,} embedded) in {duration(report.seconds)}",
    ]
    if getattr(report, "published", changed):
        lines.append(f"Now serving version {fit_escaped(report.version, 80)}")
    elif not getattr(report, "recovered", None):
        lines.append("The index already matched the corpus: nothing was rebuilt.")
    if note:
        lines.append("")
        lines.append(fit_escaped(clean_text(note), 1000))
    embed = discord.Embed(title=fit_plain(title, TITLE_MAX), description="\n".join(lines), colour=colour)
    for label, names in (("Added", report.added), ("Changed", report.changed), ("Removed", report.removed)):
        if names:
            embed.add_field(name=f"{label} ({len(names):,})", value=_names_list(list(names)), inline=False)
    if report.skipped:
        skipped = [f"{doc} — {reason}" for doc, reason in report.skipped]
        embed.add_field(name=f"Skipped files ({len(skipped):,})", value=_names_list(skipped), inline=False)
    # A field value must not be blank: Discord rejects it.
    recovered = clean_text(getattr(report, "recovered", None) or "", single_line=True).strip()
    if recovered:
        embed.add_field(name="Repaired", value=fit_escaped(recovered, FIELD_VALUE_MAX), inline=False)
    return embed


def render_failure(message: str, *, title: str = "Re-index failed") -> discord.Embed:
    text = fit_escaped(clean_text(message), 1500)
    return discord.Embed(
        title=title,
        description=f"{text}\n\nThe previous index version is still serving answers.",
        colour=COLOUR_FAILED,
    )


# ---------------------------------------------------------------- /sources


def source_entries(articles: dict[str, dict]) -> list[tuple[str, dict]]:
    """Articles newest first (undated last), then by title."""

    def key(item):
        doc, meta = item
        published = meta.get("published") or ""
        return (published == "", _neg(published), (meta.get("title") or doc).casefold())

    return sorted(articles.items(), key=key)


def _neg(text: str) -> tuple:
    return tuple(-ord(ch) for ch in text)


def page_count(n: int, per_page: int = SOURCES_PER_PAGE) -> int:
    return max(1, math.ceil(n / per_page))


def render_sources_page(
    entries: list[tuple[str, dict]],
    page: int,
    *,
    per_page: int = SOURCES_PER_PAGE,
    version: str | None = None,
) -> discord.Embed:
    pages = page_count(len(entries), per_page)
    page = min(max(0, page), pages - 1)
    chunk_total = sum(meta.get("chunks", 0) for _, meta in entries)
    embed = discord.Embed(title=f"Indexed articles ({len(entries):,})", colour=COLOUR_INFO)
    if not entries:
        embed.description = "No articles are indexed yet."
    lines = []
    for i, (doc, meta) in enumerate(
        entries[page * per_page : (page + 1) * per_page], start=page * per_page + 1
    ):
        title = fit_escaped(clean_text(meta.get("title") or doc, single_line=True), 200)
        details = [
            fit_escaped(clean_text(part, single_line=True), 80)
            for part in (meta.get("source"), meta.get("published"))
            if part
        ]
        chunks = meta.get("chunks", 0)
        details.append(f"{chunks} chunk{'s' if chunks != 1 else ''}")
        lines.append(
            f"**{i}.** {title}\n{' · '.join(details)} · {fit_escaped(clean_text(doc, single_line=True), 120)}"
        )
    if lines:
        embed.description = "\n".join(lines)[:DESCRIPTION_MAX]
    footer = f"Page {page + 1}/{pages} · {chunk_total:,} chunks in all"
    if version:
        footer += f" · index {version}"
    embed.set_footer(text=fit_plain(footer, 300))
    return embed


# ---------------------------------------------------------------- /stats


def _ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.0f} ms" if value < 1000 else f"{value / 1000:.1f} s"


def render_stats(
    stats,
    *,
    index_version=None,
    last_report=None,
    last_run: dict | None = None,
    last_poll: dict | None = None,
    now: float | None = None,
    scope: str | None = None,
) -> discord.Embed:
    """``stats`` is bot.app.db.Stats; ``last_report`` the index's last ReindexReport (any process);
    ``last_run`` the database's last re-index run started from Discord (who, outcome);
    ``last_poll`` the last news-feed poll (``Database.last_feed_poll()``); ``scope`` says whose
    figures these are (the footer)."""
    now = time.time() if now is None else now
    embed = discord.Embed(title="Bot statistics", colour=COLOUR_INFO)
    if scope:
        embed.set_footer(text=fit_plain(scope, 200))
    total = stats.answered + stats.refused
    refused_share = f" ({100 * stats.refused / total:.0f}%)" if total else ""
    embed.add_field(
        name="Questions",
        value=f"{stats.answered:,} answered · {stats.refused:,} refused{refused_share}",
        inline=False,
    )
    embed.add_field(
        name="Latency",
        value=f"p50 {_ms(stats.latency_p50_ms)} · p95 {_ms(stats.latency_p95_ms)}",
        inline=True,
    )
    embed.add_field(name="Feedback", value=f"👍 {stats.votes_up:,} · 👎 {stats.votes_down:,}", inline=True)
    if stats.top_questions:
        lines = []
        used = 0
        for i, (question, count) in enumerate(stats.top_questions, start=1):
            line = f"{i}. {fit_escaped(clean_text(question, single_line=True), 150)} — {count}×"
            if used + dlen(line) + 1 > FIELD_VALUE_MAX:
                break
            lines.append(line)
            used += dlen(line) + 1
        embed.add_field(name="Top questions", value="\n".join(lines), inline=False)
    else:
        embed.add_field(name="Top questions", value="No questions yet.", inline=False)
    embed.add_field(name="Last re-index", value=_last_reindex_text(last_report, last_run, now), inline=False)
    embed.add_field(name="Last feed poll", value=_last_poll_text(last_poll, now), inline=False)
    if index_version is not None:
        embed.add_field(
            name="Index",
            value=f"{len(index_version.articles):,} articles · {index_version.n_chunks:,} chunks · version {fit_escaped(index_version.name, 80)}",
            inline=False,
        )
    return embed


def _last_reindex_text(report, run: dict | None, now: float) -> str:
    parts = []
    if report is not None:
        counts = (
            f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed, "
            f"{len(report.unchanged)} unchanged; {report.chunks:,} chunks in {duration(report.seconds)}"
        )
        when = f"{report.finished} UTC" if getattr(report, "finished", "") else "time unknown"
        parts.append(f"{when}: {counts}" + (f" · {len(report.skipped)} skipped" if report.skipped else ""))
    if run is not None:
        who = f"<@{int(run['user_id'])}>" if run.get("user_id") else "someone"
        started = run.get("started")
        ago = f" {duration(now - started)} ago" if isinstance(started, (int, float)) else ""
        parts.append(
            f"Last from Discord: by {who}{ago} — {fit_escaped(clean_text(str(run.get('outcome')), single_line=True), 200)}"
        )
    return "\n".join(parts)[:FIELD_VALUE_MAX] or "No re-index recorded yet."


def _last_poll_text(poll: dict | None, now: float) -> str:
    """When, what it added, and its errors (feed or item URL and why), as many as fit."""
    if poll is None:
        return "No feed poll yet."
    report = poll.get("report") or {}
    started = poll.get("started")
    when = f"{duration(now - started)} ago" if isinstance(started, (int, float)) else "time unknown"
    lines = [
        f"{when} ({fit_escaped(str(poll.get('trigger', '?')), 20)}): {report.get('feeds', 0):,} feed(s) · "
        f"{report.get('added', 0):,} added · {report.get('updated', 0):,} updated · "
        f"{report.get('failed', 0):,} failed"
    ]
    if report.get("index_error"):
        lines.append(
            f"Not indexed yet: {fit_escaped(clean_text(report['index_error'], single_line=True), 300)}"
        )
    errors = [f"{e.get('url')} — {e.get('error')}" for e in report.get("errors") or []]
    if errors:
        head = "\n".join(lines)
        lines.append(_names_list(errors, FIELD_VALUE_MAX - dlen(head) - 1))
    return "\n".join(lines)[:FIELD_VALUE_MAX]


def check_embed(embed: discord.Embed) -> list[str]:
    """Discord limits an embed breaks (for tests and a last defensive check)."""
    from bot.app.render import RenderedMessage, check_limits

    problems = check_limits([RenderedMessage([embed])])
    if len(embed.fields) > FIELDS_MAX:
        problems.append("too many fields")
    return problems

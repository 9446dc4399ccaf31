"""Admin operations from Discord: ``/reindex``, ``/add-article``, ``/stats`` (admins) and ``/sources``
(anyone). ``/add-url`` and ``/feeds`` (news from the web) are in news.py and index through
``index_added`` here.

Admin commands are registered with ``default_permissions(manage_guild=True)`` (hidden from other
members by default) and checked again at run time by ``bot.app.permissions.admin_only``: only the
trusted admins may change the corpus; /stats is open to any server's admins and shows them their
own server's figures. Every admin action — and every refused attempt — is recorded in the
database: who, what, when, outcome; work is recorded as "started" when it is claimed and updated
when it ends, so a crash mid-way still leaves its row.

One re-index at a time, in any process: a second request is told one is running, with its
progress. The admin's (ephemeral) message is edited with the progress at most once every
``PROGRESS_INTERVAL`` seconds and ends with the summary. The re-index itself runs in the answer
service's re-index thread, so questions keep being answered from the old version until the switch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.admin_render import (
    ProgressState,
    busy_text,
    page_count,
    render_failure,
    render_progress,
    render_sources_page,
    render_stats,
    render_summary,
    source_entries,
)
from bot.app.db import RUNNING, STARTED
from bot.app.permissions import NotAllowed, admin_only, deny, is_admin, stats_scope
from bot.app.ratelimit import too_often
from bot.app.render import clean_text, fit_escaped, render_notice
from index.articles import CorpusError
from index.intake import SaveOutcome, UploadRejected, check_size, check_upload, safe_filename, save_upload
from index.lock import IndexBusyError

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
PROGRESS_INTERVAL = 2.0  # seconds between progress edits of the admin's message
CONFIRM_TIMEOUT = 300.0
SOURCES_TIMEOUT = 600.0
REFRESH_INTERVAL = 30.0  # seconds between checks for a version published by the CLI

MSG_LOADING = "The article index is still loading; try again in a moment."
MSG_CLOSING = "The bot is shutting down; try again when it is back."
MSG_ERROR = "Sorry — that failed. The cause was logged."
MSG_NO_INDEX = "No index is loaded yet (it is loading, or failed to load — see the bot's log)."


def _name(name: str) -> str:
    return fit_escaped(clean_text(str(name), single_line=True), 100)


class AdminCog(commands.Cog):
    def __init__(self, bot):
        self.bot = bot
        self.settings = bot.settings
        self.running: ProgressState | None = None  # the re-index started from this bot, if any
        self.progress_interval = PROGRESS_INTERVAL
        self.refresh_interval = REFRESH_INTERVAL
        self._refresher: asyncio.Task | None = None

    async def cog_load(self) -> None:
        self._refresher = asyncio.create_task(self._refresh_loop(), name="index-refresh")

    async def cog_unload(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()

    async def refresh_once(self) -> bool:
        """Serve a version another process (``negotiations-bot reindex``) published, if any."""
        if self.running is not None or getattr(self.bot.service, "library", None) is None:
            return False
        try:
            return await asyncio.to_thread(self.library.refresh)
        except Exception:  # an unreadable new version: keep serving the loaded one
            log.exception("checking for a newer index version failed")
            return False

    async def _refresh_loop(self) -> None:
        while True:
            await asyncio.sleep(self.refresh_interval)
            await self.refresh_once()

    # ---------------------------------------------------------------- helpers

    @property
    def library(self):
        return self.bot.service.library

    def upload_limit(self) -> int:
        return min(self.settings.max_attachment_bytes, self.settings.max_article_bytes)

    async def record(
        self,
        interaction: discord.Interaction,
        action: str,
        detail: dict | None,
        outcome: str,
        *,
        action_id: int | None = None,
    ) -> int | None:
        return await record_action(self.bot.db, interaction, action, detail, outcome, action_id=action_id)

    def busy_message(self) -> str | None:
        """Why a re-index cannot start now, or None if it can."""
        if not self.bot.accepting:
            return MSG_CLOSING
        status = self.library.status()  # a re-index in any process (the CLI, another bot)
        if status is not None:
            return busy_text(status)
        if self.running is not None:  # ours, between being accepted and taking the lock
            return busy_text(_StateStatus(self.running))
        if self.bot.index_state() == "loading":
            return MSG_LOADING
        return None

    async def _edit(self, interaction: discord.Interaction, **kwargs) -> bool:
        try:
            await interaction.edit_original_response(allowed_mentions=NO_PINGS, **kwargs)
            return True
        except discord.HTTPException as exc:  # e.g. the 15-minute interaction token expired
            log.warning("could not edit the admin's message: %s", exc)
            return False

    # ---------------------------------------------------------------- re-index with progress

    async def run_reindex(
        self,
        interaction: discord.Interaction,
        state: ProgressState,
        *,
        action: str,
        title: str = "Re-indexing…",
        note: str | None = None,
        detail: dict | None = None,
        only: list[str] | None = None,
    ):
        """Run the re-index claimed by ``state`` (``self.running``), editing the admin's message with
        progress, then the summary (of the files ``only``, when given). Returns the report, or None
        if it failed."""
        loop = asyncio.get_running_loop()
        who = getattr(interaction.user, "display_name", None) or getattr(interaction.user, "name", None)

        def progress(stage: str, done: int, total: int) -> None:  # called in the re-index thread
            with contextlib.suppress(RuntimeError):  # the loop closed (shutdown): nobody to show it to
                loop.call_soon_threadsafe(state.update, stage, done, total)

        editor = asyncio.create_task(self._edit_progress(interaction, state, title, who))
        started = time.time()
        # Claimed: say so before the work, so a crash mid-way leaves a trace (see mark_interrupted).
        action_id = await self.record(interaction, action, detail, STARTED)
        run_id = await self.bot.db.record_reindex(
            started=started, finished=None, user_id=interaction.user.id, outcome=RUNNING, report=None
        )
        report, error, outcome = None, None, "failed"
        try:
            report = await self.bot.service.reindex(progress, only=only)
            outcome = "ok" if report.published else "ok: nothing to do"
        except IndexBusyError as exc:
            error, outcome = busy_text(exc.status), "refused: already running"
        except CorpusError as exc:
            error = f"The corpus cannot be indexed: {exc}"
        except TimeoutError as exc:  # REINDEX_TIMEOUT_S: the build stopped; the old version keeps serving
            error, outcome = f"The re-index took too long and was stopped ({exc}).", "failed: timed out"
        except Exception as exc:  # logged with its traceback; the old version keeps serving
            log.exception("re-index from Discord failed")
            error = f"The re-index failed ({type(exc).__name__}: {exc})."
        finally:
            editor.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await editor
            self.running = None
        finished = time.time()
        if report is not None:
            embed = render_summary(report, note=note)
        else:
            embed = render_failure(
                error, title="Re-index not started" if outcome.startswith("refused") else "Re-index failed"
            )
            if note:
                embed.description = f"{fit_escaped(clean_text(note), 1000)}\n\n{embed.description}"
        if not await self._edit(interaction, content=None, embed=embed, view=None):
            await self._fallback_send(interaction, embed)
        summary = report.to_json() if report is not None else error
        await self.bot.db.finish_reindex(
            run_id,
            started=started,
            finished=finished,
            user_id=interaction.user.id,
            outcome=outcome,
            report=summary,
        )
        counts = (
            report.counts()
            | {
                "unchanged": len(report.unchanged),
                "chunks": report.chunks,
                "skipped": len(report.skipped),
                "seconds": round(report.seconds, 2),
            }
            if report is not None
            else {"error": error}
        )
        await self.record(interaction, action, (detail or {}) | counts, outcome, action_id=action_id)
        return report

    async def _edit_progress(self, interaction, state: ProgressState, title: str, who: str | None) -> None:
        shown = -1
        while True:
            if state.version != shown:
                shown = state.version
                await self._edit(
                    interaction, content=None, embed=render_progress(state, title=title, who=who)
                )
            await asyncio.sleep(self.progress_interval)

    async def _fallback_send(self, interaction, embed) -> None:
        """The interaction expired (a re-index longer than 15 minutes): post the summary in the channel."""
        channel = interaction.channel
        if channel is None or not hasattr(channel, "send"):
            return
        with contextlib.suppress(discord.HTTPException):
            await channel.send(
                f"<@{interaction.user.id}> your re-index finished:", embed=embed, allowed_mentions=NO_PINGS
            )

    def claim(self) -> ProgressState | None:
        """Claim the one re-index slot (synchronously: no await between check and claim)."""
        if self.busy_message() is not None:
            return None
        self.running = ProgressState()
        return self.running

    # ---------------------------------------------------------------- /reindex

    @app_commands.command(
        name="reindex", description="Bring the article index up to date with the corpus folder (admins only)"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def reindex(self, interaction: discord.Interaction) -> None:
        state = self.claim()
        if state is None:
            busy = self.busy_message()
            await interaction.response.send_message(
                render_notice(busy or MSG_LOADING), ephemeral=True, allowed_mentions=NO_PINGS
            )
            await self.record(
                interaction,
                "reindex",
                None,
                "refused: " + ("already running" if "already running" in (busy or "") else "not ready"),
            )
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except BaseException:
            self.running = None
            raise
        await self.run_reindex(interaction, state, action="reindex")

    # ---------------------------------------------------------------- /add-article

    @app_commands.command(
        name="add-article",
        description="Add a .txt or .md news article to the corpus and index it (admins only)",
    )
    @app_commands.describe(
        file="A UTF-8 .txt or .md article; optional header lines Title:, Source:, Published: then a blank line"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def add_article(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        detail: dict[str, Any] = {"filename": str(file.filename)[:200], "size": file.size}
        limit = self.upload_limit()
        try:
            safe_filename(file.filename)
            check_size(file.size, limit)
        except UploadRejected as exc:
            await self._reject_upload(interaction, file.filename, exc, detail)
            return
        await interaction.response.defer(ephemeral=True, thinking=True)
        started = await self.record(interaction, "add-article", detail, STARTED)
        try:
            data = await file.read()
        except (discord.HTTPException, discord.NotFound) as exc:
            await self._edit(
                interaction, content=render_notice(f"Couldn't download the attachment ({exc}); try again.")
            )
            await self.record(interaction, "add-article", detail, "failed: download", action_id=started)
            return
        try:
            upload = check_upload(file.filename, data, limit)
            result = await asyncio.to_thread(save_upload, upload, self.settings.corpus_dir, False)
        except UploadRejected as exc:
            await self._reject_upload(interaction, file.filename, exc, detail, action_id=started)
            return
        detail |= {"saved_as": upload.filename, "sha256": upload.sha256}
        if result.outcome is SaveOutcome.EXISTS:
            view = ConfirmReplaceView(self, interaction, upload, detail)
            text = _with_warnings(result.message, result.warnings)
            await self._edit(interaction, content=render_notice(text), view=view)
            outcome = "awaiting confirmation: file exists"
            await self.record(interaction, "add-article", detail, outcome, action_id=started)
            return
        await self.after_save(interaction, upload, result, detail, action_id=started)

    async def _reject_upload(
        self, interaction, filename, exc: UploadRejected, detail: dict, *, action_id: int | None = None
    ) -> None:
        text = render_notice(f"Can't add that file: {exc}.")
        if interaction.response.is_done():
            await self._edit(interaction, content=text)
        else:
            await interaction.response.send_message(text, ephemeral=True, allowed_mentions=NO_PINGS)
        await self.record(interaction, "add-article", detail, f"rejected: {exc}", action_id=action_id)

    async def after_save(
        self, interaction, upload, result, detail: dict, *, action_id: int | None = None
    ) -> None:
        """Saved (or replaced, or already identical): record it, then index it incrementally."""
        await self.record(interaction, "add-article", detail, result.outcome.value, action_id=action_id)
        note = _with_warnings(result.message, result.warnings)
        await self.index_added(
            interaction, after="add-article", filename=upload.filename, note=note, detail=detail
        )

    async def index_added(self, interaction, *, after: str, filename: str, note: str, detail: dict) -> None:
        """After an admin added an article (``after``: the command), index it incrementally with
        progress and ``note`` in the summary — or say why not now."""
        state = self.claim()
        if state is None:
            busy = self.busy_message()
            text = (
                f"{note}\nIt is not indexed yet: {busy or MSG_LOADING} Run /reindex afterwards to index it."
            )
            await self._edit(interaction, content=render_notice(text), embed=None, view=None)
            await self.record(
                interaction,
                "reindex",
                detail | {"after": after},
                "refused: " + ("already running" if busy and "already running" in busy else "not ready"),
            )
            return
        await self.run_reindex(
            interaction,
            state,
            action="reindex",
            title=f"Indexing {filename}…",
            note=note,
            detail={"after": after, "filename": filename},
            only=[filename],  # what was added: the cost of one article, whatever the corpus size
        )

    # ---------------------------------------------------------------- /sources

    @app_commands.command(name="sources", description="List the news articles the bot answers from")
    async def sources(self, interaction: discord.Interaction) -> None:
        if await too_often(interaction):
            return
        version = self.library.version
        if version is None:
            await interaction.response.send_message(
                render_notice(MSG_NO_INDEX), ephemeral=True, allowed_mentions=NO_PINGS
            )
            return
        entries = source_entries(version.articles)
        embed = render_sources_page(entries, 0, version=version.name)
        if page_count(len(entries)) > 1:
            view = SourcesView(interaction, entries, version.name)
            await interaction.response.send_message(
                embed=embed, view=view, ephemeral=True, allowed_mentions=NO_PINGS
            )
        else:
            await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)

    # ---------------------------------------------------------------- /stats

    @app_commands.command(
        name="stats", description="Questions, latency, feedback and the last re-index (admins only)"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @admin_only(any_server=True)  # any server's admins: outside the admin servers, their own figures
    async def stats(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        scope = stats_scope(interaction, self.settings)
        days = self.settings.stats_window_days
        stats = await self.bot.db.stats(since=time.time() - days * 86400, guild_id=scope)
        last_report = await asyncio.to_thread(self.library.store.last_report)
        embed = render_stats(
            stats,
            index_version=self.library.version,
            last_report=last_report,
            # who re-indexed is the operators' business, not every server's
            last_run=stats.last_reindex if scope is None else None,
            last_poll=await self.bot.db.last_feed_poll() if scope is None else None,
            scope=f"{'All servers' if scope is None else 'This server only'} · last {days:g} days",
        )
        if not self.bot.db.available:
            embed.description = "The database is unavailable, so these numbers are empty (see the bot's log)."
        await self._edit(interaction, embed=embed)
        await self.record(interaction, "stats", {"scope": "all" if scope is None else "server"}, "ok")

    # ---------------------------------------------------------------- errors

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await answer_command_error(interaction, error)


async def record_action(
    db,
    interaction: discord.Interaction,
    action: str,
    detail: dict | None,
    outcome: str,
    *,
    action_id: int | None = None,
) -> int | None:
    """Record an admin action: who (the interaction's user), what, where, how it went (when:
    now). With ``action_id`` (its "started" row), that row is updated instead. Returns the id."""
    user_id = interaction.user.id
    detail = {"guild_id": interaction.guild_id, "channel_id": interaction.channel_id} | (detail or {})
    log.info("admin action: user=%s action=%s outcome=%s", user_id, action, outcome)
    if action_id is not None and await db.update_admin_action(action_id, outcome, detail):
        return action_id
    return await db.record_admin_action(user_id, action, detail, outcome)


async def answer_command_error(interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
    """An admin command failed: say so (the cause goes to the log), unless the check already did."""
    if isinstance(error, NotAllowed):
        return  # already told, already recorded
    if isinstance(error, app_commands.CheckFailure):
        message = "This command can't be used here."
    else:
        message = MSG_ERROR
        log.error(
            "/%s failed", interaction.command.qualified_name if interaction.command else "?", exc_info=error
        )
    with contextlib.suppress(discord.HTTPException):
        if interaction.response.is_done():
            await interaction.followup.send(message, ephemeral=True, allowed_mentions=NO_PINGS)
        else:
            await interaction.response.send_message(message, ephemeral=True, allowed_mentions=NO_PINGS)


class _StateStatus:
    """A ProgressState dressed as index.lock.BuildStatus for busy_text()."""

    def __init__(self, state: ProgressState):
        self.state = state

    def describe(self) -> str:
        from bot.app.admin_render import STAGE_LABELS, duration

        s = self.state
        unit = STAGE_LABELS.get(s.stage, ("", ""))[1]
        where = f"{s.stage} {s.done}/{s.total} {unit}" if unit and s.total else s.stage
        return f"{where}, running for {duration(time.monotonic() - s.started)}"


def _with_warnings(message: str, warnings) -> str:
    if not warnings:
        return message
    return message + "\n" + "\n".join(f"Note: {w}." for w in warnings)


class ConfirmReplaceView(discord.ui.View):
    """Replace / Cancel for an upload whose name exists. Only the admin who uploaded can answer."""

    def __init__(
        self,
        cog: AdminCog,
        origin: discord.Interaction,
        upload,
        detail: dict,
        timeout: float = CONFIRM_TIMEOUT,
    ):
        super().__init__(timeout=timeout)
        self.cog = cog
        self.origin = origin
        self.upload = upload
        self.detail = detail
        self.answered = False

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id != self.origin.user.id:
            await interaction.response.send_message(
                "Only the admin who uploaded the file can confirm.", ephemeral=True, allowed_mentions=NO_PINGS
            )
            return False
        if not is_admin(interaction, self.cog.settings):  # their role may have been removed meanwhile
            await deny(interaction, "add-article")
            return False
        return True

    @discord.ui.button(label="Replace it", style=discord.ButtonStyle.danger)
    async def replace(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if self.answered:
            return
        self.answered = True
        self.stop()
        await interaction.response.edit_message(
            content=render_notice(f"Replacing {self.upload.filename}…"), view=None
        )
        started = await self.cog.record(interaction, "add-article", self.detail, STARTED)
        try:
            result = await asyncio.to_thread(save_upload, self.upload, self.cog.settings.corpus_dir, True)
        except UploadRejected as exc:
            await self.cog._edit(interaction, content=render_notice(f"Can't replace it: {exc}."))
            await self.cog.record(
                interaction, "add-article", self.detail, f"rejected: {exc}", action_id=started
            )
            return
        await self.cog.after_save(interaction, self.upload, result, self.detail, action_id=started)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def cancel(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if self.answered:
            return
        self.answered = True
        self.stop()
        await interaction.response.edit_message(content="Cancelled: nothing was changed.", view=None)
        await self.cog.record(interaction, "add-article", self.detail, "cancelled")

    async def on_timeout(self) -> None:
        if self.answered:
            return
        self.answered = True
        await self.cog._edit(
            self.origin, content="No answer within 5 minutes: nothing was changed.", view=None
        )
        await self.cog.record(self.origin, "add-article", self.detail, "expired: not confirmed")


class SourcesView(discord.ui.View):
    """◀ / ▶ through the /sources pages (the message is ephemeral: only its asker sees the buttons)."""

    def __init__(
        self, origin: discord.Interaction, entries, version: str | None, timeout: float = SOURCES_TIMEOUT
    ):
        super().__init__(timeout=timeout)
        self.origin = origin
        self.entries = entries
        self.version = version
        self.page = 0
        self.pages = page_count(len(entries))
        self._sync_buttons()

    def _sync_buttons(self) -> None:
        self.previous.disabled = self.page <= 0
        self.next.disabled = self.page >= self.pages - 1

    async def _show(self, interaction: discord.Interaction) -> None:
        self._sync_buttons()
        embed = render_sources_page(self.entries, self.page, version=self.version)
        await interaction.response.edit_message(embed=embed, view=self)

    @discord.ui.button(label="◀ Previous", style=discord.ButtonStyle.secondary)
    async def previous(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if await too_often(interaction):
            return
        self.page = max(0, self.page - 1)
        await self._show(interaction)

    @discord.ui.button(label="Next ▶", style=discord.ButtonStyle.secondary)
    async def next(self, interaction: discord.Interaction, button: discord.ui.Button) -> None:
        if await too_often(interaction):
            return
        self.page = min(self.pages - 1, self.page + 1)
        await self._show(interaction)

    async def on_timeout(self) -> None:
        with contextlib.suppress(discord.HTTPException):
            await self.origin.edit_original_response(view=None)


async def setup(bot) -> None:
    await bot.add_cog(AdminCog(bot))

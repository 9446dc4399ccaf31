"""News from the web on Discord: ``/add-url`` and ``/feeds add|list|remove`` (admins), and the
background feed poller.

The work itself is Discord-free (``index.web`` fetches, extracts and saves; ``bot.app.newsfeeds``
keeps the subscriptions and polls). Fetching is asynchronous, extraction and saving run in worker
threads, and re-indexing in the answer service's re-index thread, so questions keep being answered
meanwhile. After ``/add-url`` the article is indexed like an ``/add-article`` upload, through the
admin cog (progress, summary with the article's title, source and date, one re-index at a time).

The poller fetches every feed each ``FEED_POLL_MINUTES`` (0: never), one poll at a time; a poll
whose re-index could not run (busy, index loading) re-indexes at the next one even if nothing is
new. ``/stats`` shows the last poll and its errors. Every admin action is recorded.
"""

from __future__ import annotations

import asyncio
import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.app.cogs.admin import answer_command_error, record_action
from bot.app.news_render import article_note, render_feeds
from bot.app.newsfeeds import FeedStoreError, PollReport, list_feeds, poll_all, subscribe, unsubscribe
from bot.app.permissions import admin_only
from bot.app.render import render_notice
from index.web.errors import WebError
from index.web.ingest import WebIngest

log = logging.getLogger(__name__)

NO_PINGS = discord.AllowedMentions.none()
FIRST_POLL_DELAY_S = 60.0  # after start-up: let the index load first


class NewsCog(commands.Cog):
    feeds = app_commands.Group(
        name="feeds",
        description="News feeds the bot polls for new articles (admins only)",
        guild_only=True,
        default_permissions=discord.Permissions(manage_guild=True),
    )

    def __init__(self, bot, *, ingest: WebIngest | None = None):
        self.bot = bot
        self.settings = bot.settings
        self.ingest = ingest
        self.poll_interval = self.settings.feed_poll_minutes * 60
        self.first_poll_delay = min(FIRST_POLL_DELAY_S, self.poll_interval)
        self.last_poll: PollReport | None = None
        self._poll_lock = asyncio.Lock()
        self._reindex_pending = False
        self._poller: asyncio.Task | None = None
        self._tasks: set[asyncio.Task] = set()

    async def cog_load(self) -> None:
        if self.ingest is None:
            self.ingest = WebIngest(self.settings.web_config(), self.settings.corpus_dir)
        if self.poll_interval > 0:
            self._poller = asyncio.create_task(self._poll_loop(), name="feed-poller")

    async def cog_unload(self) -> None:
        tasks = [task for task in (self._poller, *self._tasks) if task is not None]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)  # stopped before their HTTP client closes
        if self.ingest is not None:
            await self.ingest.aclose()

    # ---------------------------------------------------------------- polling

    async def _poll_loop(self) -> None:
        await asyncio.sleep(self.first_poll_delay)
        while True:
            await self.poll_once("background")
            await asyncio.sleep(self.poll_interval)

    async def poll_once(self, trigger: str = "background") -> PollReport | None:
        """Poll every feed now, unless a poll is running (then None)."""
        if self._poll_lock.locked():
            return None
        async with self._poll_lock:
            try:
                report = await poll_all(
                    self.bot.db, self.ingest, self._reindex, trigger, force_reindex=self._reindex_pending
                )
            except FeedStoreError as exc:
                log.warning("feed poll skipped: %s", exc)
                return None
            except Exception:  # the poller must survive anything one poll runs into
                log.exception("feed poll failed")
                return None
            self._reindex_pending = report.index_error is not None
            self.last_poll = report
            return report

    def poll_soon(self, trigger: str) -> asyncio.Task:
        """Poll in the background (after a subscription), keeping the task until it ends."""
        task = asyncio.create_task(self.poll_once(trigger), name="feed-poll")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def background_done(self) -> None:
        """Wait for the polls started by poll_soon (tests, shutdown)."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _reindex(self, only: list[str] | None = None):
        warm = getattr(self.bot, "warm_task", None)
        if warm is not None and not warm.done():  # the index is still loading: re-index after it
            await asyncio.wait({warm})
        return await self.bot.service.reindex(only=only)

    # ---------------------------------------------------------------- helpers

    async def record(self, interaction: discord.Interaction, action: str, detail: dict, outcome: str) -> None:
        await record_action(self.bot.db, interaction, action, detail, outcome)

    async def _reply(self, interaction: discord.Interaction, text: str | None = None, **kwargs) -> None:
        """The answer to a deferred command (its "thinking…" message is replaced)."""
        if text is not None:
            kwargs["content"] = render_notice(text)
        try:
            await interaction.edit_original_response(allowed_mentions=NO_PINGS, **kwargs)
        except discord.HTTPException as exc:
            log.warning("could not answer the admin: %s", exc)

    # ---------------------------------------------------------------- /add-url

    @app_commands.command(
        name="add-url",
        description="Fetch a news page, add its article to the library and index it (admins only)",
    )
    @app_commands.describe(url="The article's address (http:// or https://)")
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_guild=True)
    @admin_only()
    async def add_url(self, interaction: discord.Interaction, url: str) -> None:
        detail = {"url": url[:500]}
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await self.ingest.add_url(url)
        except WebError as exc:
            await self._reply(interaction, f"Can't add that page: {exc}. Nothing was saved.")
            await self.record(interaction, "add-url", detail, f"rejected: {exc}")
            return
        detail |= {"doc": result.doc, "canonical_url": result.url}
        await self.record(interaction, "add-url", detail, result.status)
        note = article_note(result)
        admin = self.bot.get_cog("AdminCog")
        if admin is None:  # the admin commands failed to load: nothing to index with
            await self._reply(interaction, f"{note}\nIt is not indexed yet: the re-index is unavailable.")
            return
        await admin.index_added(interaction, after="add-url", filename=result.doc, note=note, detail=detail)

    # ---------------------------------------------------------------- /feeds

    @feeds.command(name="add", description="Subscribe to an RSS or Atom feed; its new articles are added")
    @app_commands.describe(url="The feed's address (http:// or https://)")
    @admin_only()
    async def feeds_add(self, interaction: discord.Interaction, url: str) -> None:
        detail = {"url": url[:500]}
        await interaction.response.defer(ephemeral=True, thinking=True)
        try:
            result = await subscribe(self.bot.db, self.ingest, url, interaction.user.id)
        except (WebError, FeedStoreError) as exc:
            await self._reply(interaction, f"Can't subscribe to that feed: {exc}.")
            await self.record(interaction, "feeds add", detail, f"rejected: {exc}")
            return
        if result["status"] == "exists":
            text = f"Already subscribed to “{result['title']}” ({result['url']})."
        else:
            self.poll_soon("discord")
            text = (
                f"Subscribed to “{result['title']}” ({result['url']}), {result['items']} item(s) now. "
                "Its articles are being added in the background; /stats shows the poll."
            )
        await self._reply(interaction, text)
        await self.record(interaction, "feeds add", detail | {"title": result["title"]}, result["status"])

    @feeds.command(name="list", description="The subscribed feeds, their last poll and errors")
    @admin_only()
    async def feeds_list(self, interaction: discord.Interaction) -> None:
        try:
            feeds = await list_feeds(self.bot.db)
        except FeedStoreError as exc:
            await interaction.response.send_message(
                render_notice(f"Can't list the feeds: {exc}."), ephemeral=True, allowed_mentions=NO_PINGS
            )
            await self.record(interaction, "feeds list", {}, f"failed: {exc}")
            return
        embed = render_feeds(feeds, self.settings.feed_poll_minutes)
        await interaction.response.send_message(embed=embed, ephemeral=True, allowed_mentions=NO_PINGS)
        await self.record(interaction, "feeds list", {"feeds": len(feeds)}, "ok")

    @feeds.command(name="remove", description="Unsubscribe from a feed (its saved articles stay)")
    @app_commands.describe(url="The feed's address, as /feeds list shows it")
    @admin_only()
    async def feeds_remove(self, interaction: discord.Interaction, url: str) -> None:
        detail = {"url": url[:500]}
        try:
            result = await unsubscribe(self.bot.db, url)
        except (WebError, FeedStoreError) as exc:
            text, outcome = f"Can't remove that feed: {exc}.", f"rejected: {exc}"
        else:
            text, outcome = (
                f"Unsubscribed from “{result['title']}” ({result['url']}). Its {result['items']} saved "
                "article(s) stay in the library.",
                "removed",
            )
        await interaction.response.send_message(
            render_notice(text), ephemeral=True, allowed_mentions=NO_PINGS
        )
        await self.record(interaction, "feeds remove", detail, outcome)

    # ---------------------------------------------------------------- errors

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await answer_command_error(interaction, error)


async def setup(bot) -> None:
    await bot.add_cog(NewsCog(bot))

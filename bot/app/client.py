"""The Discord client: ``NegotiationsBot`` and ``run_bot`` (what ``negotiations-bot run`` starts).

Start-up (``setup_hook``, before the gateway connects): open the database (marking admin work a
previous run left "started" as interrupted), build the answer service and warm it in the
background (login is not held up by loading the index) — then catch up: delete uploads that never
finished and, if the corpus differs from the live index (an article saved just before a crash, a
re-index cut short), re-index only what differs. Load every cog in ``bot/cogs``, register the
persistent feedback buttons, sync the slash commands — to ``DISCORD_GUILD_ID`` if set, else
globally — only when they differ from the last sync (a hash of the command payloads is kept in
the database), and start the retention job (old rows pruned hourly).

Shutdown (SIGINT/SIGTERM or ``close()``): stop taking questions, let the answers being worked
on finish and be sent (up to ``SHUTDOWN_GRACE_S``), disconnect, close the database and the
answer threads.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import pkgutil
import signal
import time

import discord
import yarl
from discord.ext import commands

from bot.app.db import RUNNING, STARTED, Database, DatabaseError
from bot.app.ratelimit import RateLimiter
from bot.app.state import open_database
from index.intake import remove_stale_uploads
from index.lock import IndexBusyError

log = logging.getLogger(__name__)

SHUTDOWN_GRACE_S = 30.0
SERVICE_CLOSE_TIMEOUT_S = 15.0
PRUNE_INTERVAL_S = 3600.0  # the retention job's period
DAY_S = 86400.0
EXTENSIONS_PACKAGE = "bot.app.cogs"


def configure_endpoints(api_base: str | None = None, gateway_url: str | None = None) -> None:
    """Point discord.py at another Discord-compatible server (tests); unset in production.

    discord.py 2.7 builds every REST URL (bot, interaction responses, webhook follow-ups) from
    ``discord.http.Route.BASE`` and connects the gateway to ``DiscordWebSocket.DEFAULT_GATEWAY``
    (a resume uses the READY event's ``resume_gateway_url``, which the server controls)."""
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway_url:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway_url)


def intents_for(settings) -> discord.Intents:
    """Only what the features need: guilds (channels, threads, interactions); guild messages and
    the privileged message content intent only when @mention answering is on."""
    intents = discord.Intents.none()
    intents.guilds = True
    if settings.mention_answers:
        intents.guild_messages = True
        intents.message_content = True
    return intents


def _no_prefix(bot, message) -> list[str]:
    return []  # no text commands: slash commands and @mentions only


def extension_names(package: str = EXTENSIONS_PACKAGE) -> list[str]:
    module = __import__(package, fromlist=["__path__"])
    return sorted(
        f"{package}.{info.name}"
        for info in pkgutil.iter_modules(module.__path__)
        if not info.name.startswith("_")
    )


class NegotiationsBot(commands.Bot):
    def __init__(
        self, settings, *, service=None, db: Database | None = None, sync_commands: bool = True, **options
    ):
        configure_endpoints(settings.discord_api_base, settings.discord_gateway_url)
        options.setdefault("intents", intents_for(settings))
        super().__init__(
            command_prefix=_no_prefix,
            help_command=None,
            allowed_mentions=discord.AllowedMentions.none(),
            **options,
        )
        self.settings = settings
        self.db = db if db is not None else open_database(settings)
        self.service = service  # bot.answering.service.AnswerService, built in setup_hook if not given
        window = settings.rate_limit_seconds
        self.limiter = RateLimiter(settings.rate_limit_questions, window, self.db)
        self.guild_limiter = RateLimiter(settings.rate_limit_server_questions, window, self.db, scope="guild")
        self.action_limiter = RateLimiter(settings.rate_limit_actions, window)  # /sources, votes: memory only
        self.started_at = time.time()
        self.sync_commands_on_start = sync_commands
        self.warm_task: asyncio.Task | None = None
        self.maintenance_task: asyncio.Task | None = None
        self.warm_error: str | None = None
        self.accepting = True
        self._in_flight = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._close_task: asyncio.Future | None = None

    # ---------------------------------------------------------------- start-up

    async def setup_hook(self) -> None:
        try:
            if not await self.db.open():
                log.error(
                    "running without a database (%s): answers, votes and rate limits are not saved",
                    self.db.last_error,
                )
        except DatabaseError as exc:
            log.error("running without a database: %s", exc)
        if await self.db.mark_interrupted(self.started_at):
            log.warning("admin work left unfinished by the last run is marked interrupted in the admin log")
        if not (self.settings.admin_user_ids or self.settings.admin_guild_ids):
            log.warning(
                "neither ADMIN_USER_IDS nor ADMIN_GUILD_IDS is set: nobody can change the articles from Discord"
            )
        if self.service is None:
            from bot.answering.service import AnswerService

            self.service = AnswerService.from_settings(self.settings)
        self.warm_task = asyncio.create_task(self._warm(), name="warm-index")
        await self.load_cogs()
        if self.sync_commands_on_start:
            await self.sync_app_commands()
        self.maintenance_task = asyncio.create_task(self._maintain(), name="retention")

    async def _warm(self) -> None:
        try:
            await self.service.warm()
            version = self.service.library.version
            log.info(
                "index ready: version %s, %d chunks",
                getattr(version, "name", "?"),
                getattr(version, "n_chunks", 0),
            )
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # keep serving: questions are told the index is unavailable
            self.warm_error = f"{type(exc).__name__}: {exc}"
            log.exception("loading the index failed; questions will be refused until a re-index succeeds")
            return
        await self.catch_up()

    async def catch_up(self):
        """After a crash: remove unfinished uploads' temporary files, and if the corpus differs from
        the live index, re-index (only what differs; recorded like an admin's). The report, or None."""
        removed = await asyncio.to_thread(remove_stale_uploads, self.settings.corpus_dir)
        if removed:
            log.warning(
                "removed %d unfinished upload(s) left by a crash: %s", len(removed), ", ".join(removed)
            )
        pending = getattr(self.service, "pending_changes", None)
        if pending is None:
            return None
        try:
            changes = await pending()
        except Exception:  # an unreadable corpus: the index keeps serving; /reindex will say why
            log.exception("comparing the corpus with the index at start-up failed")
            return None
        if changes is None:
            return None
        counts = changes.counts()
        log.warning("the corpus differs from the index (%s): re-indexing what changed", counts)
        started = time.time()
        detail = {"trigger": "start-up"} | counts
        action_id = await self.db.record_admin_action(None, "reindex", detail, STARTED)
        run_id = await self.db.record_reindex(
            started=started, finished=None, user_id=None, outcome=RUNNING, report=None
        )
        report, outcome, summary = None, "failed", None
        try:
            report = await self.service.reindex()
            outcome, summary = ("ok" if report.published else "ok: nothing to do"), report.to_json()
        except IndexBusyError as exc:  # someone else (the CLI, an admin) is already on it
            outcome, summary = "refused: already running", str(exc)
        except Exception as exc:
            log.exception("the start-up re-index failed; the last good version keeps serving")
            summary = f"{type(exc).__name__}: {exc}"
        await self.db.finish_reindex(
            run_id, started=started, finished=time.time(), user_id=None, outcome=outcome, report=summary
        )
        if action_id is None or not await self.db.update_admin_action(action_id, outcome, detail):
            await self.db.record_admin_action(None, "reindex", detail, outcome)
        return report

    async def _maintain(self) -> None:
        while True:
            try:
                await self.prune_once()
            except asyncio.CancelledError:
                raise
            except Exception:  # the next round tries again
                log.exception("pruning old records failed")
            await asyncio.sleep(PRUNE_INTERVAL_S)

    async def prune_once(self) -> dict[str, int]:
        """Delete what is past ANSWER_RETENTION_DAYS / AUDIT_RETENTION_DAYS, expired rate events,
        and idle rate-limit keys in memory."""
        now, s = time.time(), self.settings
        deleted = await self.db.prune(
            answers_before=now - s.answer_retention_days * DAY_S if s.answer_retention_days else None,
            audit_before=now - s.audit_retention_days * DAY_S if s.audit_retention_days else None,
            rate_before=now - s.rate_limit_seconds,
        )
        for limiter in (self.limiter, self.guild_limiter, self.action_limiter):
            limiter.forget_idle()
        if any(deleted.values()):
            log.info("pruned old records: %s", {k: v for k, v in deleted.items() if v})
        return deleted

    def index_state(self) -> str:
        """ "ready", "loading" (first load still running) or "unavailable" (loading failed)."""
        if self.service is not None and self.service.library.version is not None:
            return "ready"
        if self.warm_task is not None and not self.warm_task.done():
            return "loading"
        return "unavailable"

    async def load_cogs(self) -> None:
        for name in extension_names():
            try:
                await self.load_extension(name)
                log.debug("loaded %s", name)
            except commands.NoEntryPointError:
                continue  # a helper module without setup()
            except Exception:
                log.exception("could not load %s; the other features keep working", name)

    def _sync_target(self) -> discord.Object | None:
        return discord.Object(id=self.settings.discord_guild_id) if self.settings.discord_guild_id else None

    def command_payload_hash(self, guild: discord.abc.Snowflake | None) -> str:
        payload = sorted(
            (cmd.to_dict(self.tree) for cmd in self.tree.get_commands(guild=guild)),
            key=lambda c: (c.get("type", 1), c["name"]),
        )
        return hashlib.sha256(json.dumps(payload, sort_keys=True, default=str).encode()).hexdigest()

    async def sync_app_commands(self, *, force: bool = False) -> bool:
        """Sync the command tree unless it is unchanged since the last sync; True if synced."""
        guild = self._sync_target()
        if guild is not None:
            self.tree.copy_global_to(guild=guild)
        key = f"command_sync:{self.application_id}:{guild.id if guild else 'global'}"
        digest = self.command_payload_hash(guild)
        if not force and await self.db.get_meta(key) == digest:
            log.info("slash commands unchanged since the last sync; not syncing")
            return False
        try:
            synced = await self.tree.sync(guild=guild)
        except discord.HTTPException as exc:
            log.error(
                "syncing slash commands failed (%s); is the bot invited with the applications.commands scope?",
                exc,
            )
            return False
        await self.db.set_meta(key, digest)
        log.info(
            "synced %d slash command(s) %s",
            len(synced),
            f"to guild {guild.id}" if guild else "globally (may take up to an hour to appear)",
        )
        return True

    async def on_ready(self) -> None:
        log.info(
            "connected as %s (id %s) to %d guild(s)",
            self.user,
            getattr(self.user, "id", "?"),
            len(self.guilds),
        )

    async def on_message(self, message: discord.Message) -> None:
        return  # no prefix commands; the ask cog listens for @mentions

    # ---------------------------------------------------------------- in-flight answers

    @contextlib.asynccontextmanager
    async def in_flight(self):
        """Wrap the work on one question, so shutdown can wait for it."""
        self._in_flight += 1
        self._idle.clear()
        try:
            yield
        finally:
            self._in_flight -= 1
            if self._in_flight == 0:
                self._idle.set()

    @property
    def answers_in_flight(self) -> int:
        return self._in_flight

    async def wait_idle(self, timeout: float | None = None) -> bool:
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
            return True
        except TimeoutError:
            return False

    # ---------------------------------------------------------------- shutdown

    async def close(self) -> None:
        """Shut down once; every caller (signal handler, ``async with``, discord.py itself) waits
        for the whole shutdown, so nothing returns to ``asyncio.run`` while it is half done."""
        if self._close_task is None:
            self._close_task = asyncio.ensure_future(self._shutdown())
        await asyncio.shield(self._close_task)

    async def _shutdown(self) -> None:
        self.accepting = False
        if self._in_flight:
            log.info("shutting down: finishing %d answer(s) in flight", self._in_flight)
            if not await self.wait_idle(SHUTDOWN_GRACE_S):
                log.warning(
                    "shutting down with %d answer(s) unfinished after %.0fs",
                    self._in_flight,
                    SHUTDOWN_GRACE_S,
                )
        for task in (self.warm_task, self.maintenance_task):
            if task is not None and not task.done():
                task.cancel()
        try:
            await super().close()
        finally:
            await self.limiter.flush()
            await self.guild_limiter.flush()
            await self.db.close()
            if self.service is not None:
                try:
                    await asyncio.wait_for(asyncio.to_thread(self.service.close), SERVICE_CLOSE_TIMEOUT_S)
                except TimeoutError:
                    log.warning(
                        "answer threads still busy after %.0fs (an index build?); exiting anyway",
                        SERVICE_CLOSE_TIMEOUT_S,
                    )
            log.info("shut down")


class ShardedNegotiationsBot(NegotiationsBot, commands.AutoShardedBot):
    """The same bot over several gateway connections (shards), run by discord.py's
    ``AutoShardedBot``: all of DISCORD_SHARD_COUNT, or the DISCORD_SHARD_IDS of this process."""

    def __init__(self, settings, **kwargs):
        kwargs.setdefault("shard_count", settings.discord_shard_count)
        kwargs.setdefault("shard_ids", list(settings.discord_shard_ids) or None)
        # Slash commands are global state: synced by the process that runs shard 0 only.
        kwargs.setdefault("sync_commands", 0 in (kwargs["shard_ids"] or [0]))
        super().__init__(settings, **kwargs)


def make_bot(settings, **kwargs) -> NegotiationsBot:
    """The bot ``negotiations-bot run`` starts: sharded when DISCORD_SHARD_COUNT is set."""
    return (
        ShardedNegotiationsBot(settings, **kwargs)
        if settings.discord_shard_count
        else NegotiationsBot(settings, **kwargs)
    )


async def _run(settings, bot: NegotiationsBot | None = None) -> int:
    bot = bot or make_bot(settings)
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        log.info("received %s: finishing answers in flight, then shutting down", sig.name)
        # bot.close() keeps its own task (bot._close_task), which the finally below awaits.
        loop.create_task(bot.close())  # noqa: RUF006

    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.add_signal_handler(sig, on_signal, sig)
    try:
        async with bot:
            await bot.start(settings.discord_token.get_secret_value().strip())
    except discord.LoginFailure:
        log.error("Discord rejected DISCORD_TOKEN (improper token); check the bot token in .env")
        return 1
    except discord.PrivilegedIntentsRequired:
        log.error(
            "the message content intent is not enabled for this bot: enable it in the Developer Portal "
            "(Bot → Privileged Gateway Intents) or set MENTION_ANSWERS=false to use /ask only"
        )
        return 1
    finally:
        # ``async with bot`` skips close() once discord.py's own close has begun (is_closed() is
        # then true) while ours may still be closing the database: wait for all of it here, or
        # asyncio.run() would cancel it on return.
        await bot.close()
        for sig in (signal.SIGINT, signal.SIGTERM):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.remove_signal_handler(sig)
    return 0


def run_bot(settings) -> int:
    """Run the bot until it is stopped (SIGINT/SIGTERM); the process exit status."""
    return asyncio.run(_run(settings))

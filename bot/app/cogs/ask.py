"""Questions: ``/ask question:``, @mentions, replies to the bot's answers, and follow-ups in the
threads the bot opens for a conversation.

Order for every question: the cheap checks first (the question itself, the index being loaded,
admission control's room, the asker's and the server's rate limits) — answered at once and, for
/ask, ephemerally, before deferring — then defer, answer in the service's threads (never on the
event loop), store, and send the embeds with the 👍/👎 buttons. For messages, the channel
allow-list and the rate limits come before anything that costs a database read or a Discord API
call (is this the bot's thread? a reply to which message?), and a notice ("rate limited",
"invalid", "busy"…) is posted at most once per user, kind and RATE_LIMIT_SECONDS: a flood of
@mentions gets one public reply, not one each.

Generated answers (ANSWER_BACKEND=openai | llamacpp) stream: the message is written as the
model's sentences pass verification — the deferred /ask message is edited, a mention's reply is
sent with the first sentence and then edited — at most once per ``EDIT_INTERVAL_S`` and only with
whole verified sentences (``bot.app.pacing.paced`` over ``AnswerService.stream``). The final edit is the
authoritative answer as stored, with its sources and buttons; when generation fell back to the
extractive answer, that replaces the streamed text. Extractive answers are sent once, unedited.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable

import discord
from discord import app_commands
from discord.ext import commands

from bot.answering import Answer, AnswerBusy, AnswerTimeout, QuestionError, clean_question, contextualize
from bot.app.cogs.feedback import feedback_view
from bot.app.markup import strip_markup
from bot.app.pacing import paced
from bot.app.ratelimit import format_wait
from bot.app.render import fit_plain, render_answer, render_notice
from bot.app.replies import NO_PINGS, ChannelReply, InteractionReply, Outcome

log = logging.getLogger(__name__)

HISTORY_TURNS = 6
THREAD_NAME_MAX = 90
THREAD_ARCHIVE_MINUTES = 1440
# A streamed answer's message is edited at most this often (Discord allows about 5 edits per 5 s
# in a channel; once a second leaves room for the other answers being written there).
EDIT_INTERVAL_S = 1.0

MSG_LOADING = "I'm still loading the article index — try again in a moment."
MSG_UNAVAILABLE = "The article index isn't available right now (it failed to load; the cause is in the bot's log). Please try again later."
MSG_CLOSING = "I'm restarting — please ask again in a minute."
MSG_ERROR = "Sorry — something went wrong while answering. The cause was logged; please try again."
MSG_BUSY = "I'm busy answering other questions right now — please try again in a moment."
MSG_TIMEOUT = "Sorry — that took too long to answer. Please try again in a moment."
THREAD_CACHE_MAX = (
    10_000  # thread ids remembered as the bot's (or not), to spare a database read each message
)


def rate_limit_message(limit: int, window: float, wait: float) -> str:
    return (
        f"You've reached the limit of {limit} question{'s' if limit != 1 else ''} per {format_wait(window)}. "
        f"Please try again in {format_wait(wait)}."
    )


def server_limit_message(limit: int, window: float, wait: float) -> str:
    return (
        f"This server has reached its limit of {limit} question{'s' if limit != 1 else ''} per "
        f"{format_wait(window)}. Please try again in {format_wait(wait)}."
    )


class AskCog(commands.Cog):
    def __init__(self, bot):
        self.bot = bot
        self.settings = bot.settings
        # Streamed answers: ``pacer(service.stream(...), edit_interval_s)`` decides when the
        # message is edited (bot.app.pacing.paced; both replaceable in tests).
        self.edit_interval_s = EDIT_INTERVAL_S
        self.pacer = paced
        self._threads: OrderedDict[int, bool] = OrderedDict()  # thread id -> is one of the bot's
        self._noticed: dict[tuple[int, str], float] = {}  # (user, kind) -> when last told, monotonic

    # ---------------------------------------------------------------- shared steps

    async def precheck(
        self, raw: str, user_id: int, guild_id: int | None = None
    ) -> tuple[str | None, str | None, str | None]:
        """(cleaned question, notice, status): a notice means the question is not answered."""
        try:
            question = clean_question(strip_markup(raw), self.settings.max_question_chars)
        except QuestionError as exc:
            return None, str(exc), "invalid"
        if not self.bot.accepting:
            return None, MSG_CLOSING, "unavailable"
        state = self.bot.index_state()
        if state != "ready":
            return None, (MSG_LOADING if state == "loading" else MSG_UNAVAILABLE), state
        if getattr(self.bot.service, "full", False):  # before using up anyone's question
            return None, MSG_BUSY, "busy"
        limiter = self.bot.limiter
        wait = await limiter.hit(user_id)
        if wait > 0:
            return None, rate_limit_message(limiter.limit, limiter.window, wait), "rate_limited"
        server = getattr(self.bot, "guild_limiter", None)
        if server is not None and guild_id is not None:
            wait = await server.hit(guild_id)
            if wait > 0:
                return None, server_limit_message(server.limit, server.window, wait), "server_limited"
        return question, None, None

    async def limited_for(self, user_id: int, guild_id: int | None) -> str | None:
        """The rate-limit notice this user or server would get now (without using anything up)."""
        limiter, server = self.bot.limiter, getattr(self.bot, "guild_limiter", None)
        wait = await limiter.retry_after(user_id)
        if wait > 0:
            return rate_limit_message(limiter.limit, limiter.window, wait)
        if server is not None and guild_id is not None:
            wait = await server.retry_after(guild_id)
            if wait > 0:
                return server_limit_message(server.limit, server.window, wait)
        return None

    def may_notify(self, user_id: int, kind: str) -> bool:
        """At most one public notice per user and kind per RATE_LIMIT_SECONDS (True: send it)."""
        now, window = time.monotonic(), self.settings.rate_limit_seconds
        if len(self._noticed) > THREAD_CACHE_MAX:  # bounded: forget the expired ones
            self._noticed = {k: t for k, t in self._noticed.items() if now - t < window}
        last = self._noticed.get((user_id, kind))
        if last is not None and now - last < window:
            return False
        self._noticed[(user_id, kind)] = now
        return True

    async def compute(
        self,
        question: str,
        history: list[str],
        outcome: Outcome,
        show: Callable[[str], Awaitable[None]] | None = None,
    ) -> Answer | None:
        """The answer, or None with ``outcome.notice`` set. Runs in the service's threads.

        When a model writes the answer and ``show`` is given, ``show(text)`` is awaited with the
        verified sentences so far, at most once per ``edit_interval_s``; the Answer returned is the
        final, authoritative one (the extractive answer if generation fell back)."""
        try:
            if show is not None and getattr(self.bot.service, "streams", False):
                answer = await self._stream(question, history, show)
            else:
                answer = await self.bot.service.ask(question, history)
        except QuestionError as exc:
            outcome.status, outcome.notice = "invalid", str(exc)
            return None
        except AnswerBusy as exc:  # admission control turned it away
            log.info("answer not started (via %s, user %s): busy: %s", outcome.via, outcome.user_id, exc)
            outcome.status, outcome.notice = "busy", MSG_BUSY
            return None
        except AnswerTimeout as exc:
            log.warning("answer timed out (via %s, user %s): %s", outcome.via, outcome.user_id, exc)
            outcome.status, outcome.notice = "timed_out", MSG_TIMEOUT
            return None
        except Exception:
            log.exception("answering a question failed (via %s, user %s)", outcome.via, outcome.user_id)
            outcome.status, outcome.notice = "error", MSG_ERROR
            return None
        outcome.answer = answer
        outcome.status = "refused" if answer.refused else "answered"
        return answer

    async def _stream(
        self, question: str, history: list[str], show: Callable[[str], Awaitable[None]]
    ) -> Answer:
        answer = None
        updates = self.pacer(self.bot.service.stream(question, history), self.edit_interval_s)
        async with contextlib.aclosing(updates):  # stops generation if showing fails
            async for text, final in updates:
                if final is not None:
                    answer = final
                elif text:
                    await show(text)
        if answer is None:
            raise RuntimeError("the answer stream ended without a final answer")
        return answer

    def draft_embeds(self, question: str, text: str) -> list[discord.Embed]:
        """How a streamed answer looks so far: the verified sentences with their markers, a
        "writing…" footer; the sources come with the final answer."""
        draft = Answer(
            question=question,
            answer=text,
            refused=False,
            backend=getattr(self.bot.service, "backend_name", "extractive"),
        )
        return render_answer(draft, partial=True)[0].embeds

    async def store(
        self, answer: Answer, outcome: Outcome, *, query: str, guild_id, channel_id, thread_id
    ) -> int | None:
        answer_id = await self.bot.db.record_answer(
            answer,
            user_id=outcome.user_id,
            guild_id=guild_id,
            channel_id=channel_id,
            thread_id=thread_id,
            query=query,
            latency_ms=outcome.latency_ms,
        )
        outcome.answer_id = answer_id
        return answer_id

    async def deliver(
        self,
        answer: Answer,
        outcome: Outcome,
        reply,
        *,
        cleaned: str,
        history: list[str],
        guild_id,
        channel_id,
        thread_id,
        in_conversation: bool,
    ) -> None:
        """Store the answer, send its messages (the feedback buttons under the last one) and
        remember which message holds it; in a conversation thread, add it to the history."""
        query = contextualize(cleaned, history)
        answer_id = await self.store(
            answer, outcome, query=query, guild_id=guild_id, channel_id=channel_id, thread_id=thread_id
        )
        if in_conversation:
            await self.bot.db.add_thread_question(thread_id, cleaned, query, answer_id)
        messages = render_answer(answer, answer_id=answer_id)
        first = None
        for i, rendered in enumerate(messages):
            last = i == len(messages) - 1
            view = feedback_view(answer_id) if last and answer_id is not None else discord.utils.MISSING
            sent = await reply.send(i, rendered.embeds, view)
            first = first or sent
        if answer_id is not None and first is not None:
            await self.bot.db.set_answer_message(answer_id, first.id)

    # ---------------------------------------------------------------- /ask

    @app_commands.command(
        name="ask",
        description="Ask about the Russia–Ukraine peace negotiations; answers quote the news articles",
    )
    @app_commands.describe(question="Your question, in English")
    async def ask(self, interaction: discord.Interaction, question: str) -> None:
        started = time.perf_counter()
        outcome = Outcome("slash", interaction.user.id, "answered")
        cleaned, notice, status = await self.precheck(question, interaction.user.id, interaction.guild_id)
        if notice is not None:
            outcome.status, outcome.notice = status, notice
            await interaction.response.send_message(
                render_notice(notice), ephemeral=True, allowed_mentions=NO_PINGS
            )
            outcome.latency_ms = (time.perf_counter() - started) * 1000
            outcome.log()
            return
        async with self.bot.in_flight():  # shutdown waits for this answer to be sent
            await self._answer_interaction(interaction, cleaned, outcome, started)

    async def _answer_interaction(
        self, interaction: discord.Interaction, cleaned: str, outcome: Outcome, started: float
    ) -> None:
        try:
            await interaction.response.defer(thinking=True)
        except discord.HTTPException as exc:  # e.g. the interaction expired (10062) under heavy load
            outcome.status = "error"
            log.warning("could not defer /ask (%s); not answering it", exc)
            outcome.log()
            return
        channel = interaction.channel
        thread_id = channel.id if isinstance(channel, discord.Thread) else None
        # /ask inside one of the bot's conversation threads is a follow-up like any message there
        in_conversation = thread_id is not None and await self.bot.db.is_bot_thread(thread_id)
        history = await self.bot.db.thread_history(thread_id, HISTORY_TURNS) if in_conversation else []
        reply = InteractionReply(interaction, outcome, started)
        answer = await self.compute(
            cleaned, history, outcome, lambda text: reply.draft(self.draft_embeds(cleaned, text))
        )
        outcome.latency_ms = (time.perf_counter() - started) * 1000
        try:
            if answer is None:
                await reply.notice(outcome.notice)
                return
            await self.deliver(
                answer,
                outcome,
                reply,
                cleaned=cleaned,
                history=history,
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                thread_id=thread_id,
                in_conversation=in_conversation,
            )
        except discord.HTTPException:
            outcome.status = "error"
            log.exception("sending the answer to /ask failed")
        finally:
            outcome.log()

    async def cog_app_command_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        log.error("/%s failed", interaction.command.name if interaction.command else "?", exc_info=error)
        try:
            if interaction.response.is_done():
                await interaction.followup.send(MSG_ERROR, ephemeral=True, allowed_mentions=NO_PINGS)
            else:
                await interaction.response.send_message(MSG_ERROR, ephemeral=True, allowed_mentions=NO_PINGS)
        except discord.HTTPException:
            pass

    # ---------------------------------------------------------------- @mentions and threads

    def _channel_allowed(self, channel) -> bool:
        allowed = self.settings.answer_channel_ids
        if not allowed:
            return True
        return channel.id in allowed or getattr(channel, "parent_id", None) in allowed

    def strip_mentions(self, content: str) -> str:
        return re.sub(rf"<@!?{self.bot.user.id}>", " ", content or "")

    async def _replied_answer(self, message: discord.Message) -> tuple[bool, dict | None]:
        """(is a reply to one of the bot's messages, the stored answer it replies to)."""
        ref = message.reference
        if ref is None or ref.message_id is None:
            return False, None
        resolved = ref.resolved
        if resolved is None or not isinstance(resolved, discord.Message):
            # not sent along with the event: look it up (cache first, then one API call)
            resolved = discord.utils.get(self.bot.cached_messages, id=ref.message_id)
            if resolved is None:
                try:
                    resolved = await message.channel.fetch_message(ref.message_id)
                except (discord.HTTPException, NotImplementedError, AttributeError):
                    resolved = None
        if not isinstance(resolved, discord.Message) or resolved.author.id != self.bot.user.id:
            return False, None
        return True, await self.bot.db.answer_for_message(resolved.id)

    async def is_bot_thread(self, thread_id: int) -> bool:
        """Whether the bot opened this thread (remembered, so each message costs no database read)."""
        known = self._threads.get(thread_id)
        if known is not None:
            self._threads.move_to_end(thread_id)
            return known
        found = await self.bot.db.is_bot_thread(thread_id)
        if found or self.bot.db.available:  # "no" is remembered only when the database could say
            self._remember_thread(thread_id, found)
        return found

    def _remember_thread(self, thread_id: int, is_ours: bool) -> None:
        self._threads[thread_id] = is_ours
        self._threads.move_to_end(thread_id)
        while len(self._threads) > THREAD_CACHE_MAX:
            self._threads.popitem(last=False)

    async def notify(self, message: discord.Message, notice: str, kind: str) -> bool:
        """Reply publicly with ``notice`` unless this user got one of this kind within the window."""
        if not self.may_notify(message.author.id, kind):
            log.info("notice (%s) to user %s not repeated within the window", kind, message.author.id)
            return False
        await message.reply(render_notice(notice), mention_author=False, allowed_mentions=NO_PINGS)
        return True

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if (
            not self.settings.mention_answers
            or message.author.bot
            or message.guild is None
            or self.bot.user is None
        ):
            return
        if message.type not in (discord.MessageType.default, discord.MessageType.reply):
            return
        # Free checks first; then the rate limits; only then a database read or an API call.
        channel = message.channel
        if not self._channel_allowed(channel):
            return
        in_thread = isinstance(channel, discord.Thread)
        mentioned = any(user.id == self.bot.user.id for user in message.mentions)
        maybe_thread = in_thread and self._threads.get(channel.id) is not False
        reference = message.reference is not None and message.reference.message_id is not None
        if not (mentioned or maybe_thread or reference):
            return
        limited = await self.limited_for(message.author.id, message.guild.id)
        if limited is not None:
            if mentioned:  # addressed to the bot for certain: say so (once per window)
                with contextlib.suppress(discord.HTTPException):
                    await self.notify(message, limited, "rate_limited")
            return
        bot_thread = in_thread and await self.is_bot_thread(channel.id)
        replied, replied_answer = await self._replied_answer(message) if reference else (False, None)
        if not (mentioned or replied or bot_thread):
            return
        await self.answer_message(message, in_thread=in_thread, replied_answer=replied_answer)

    async def answer_message(
        self, message: discord.Message, *, in_thread: bool, replied_answer: dict | None
    ) -> Outcome:
        async with self.bot.in_flight():  # shutdown waits for this answer to be sent
            return await self._answer_message(message, in_thread=in_thread, replied_answer=replied_answer)

    async def _answer_message(
        self, message: discord.Message, *, in_thread: bool, replied_answer: dict | None
    ) -> Outcome:
        started = time.perf_counter()
        outcome = Outcome("thread" if in_thread else "mention", message.author.id, "answered")
        try:
            cleaned, notice, status = await self.precheck(
                self.strip_mentions(message.content), message.author.id, message.guild.id
            )
            if notice is not None:
                outcome.status, outcome.notice = status, notice
                await self.notify(message, notice, status)
                return outcome

            if in_thread:
                history = await self.bot.db.thread_history(message.channel.id, HISTORY_TURNS)
            elif replied_answer is not None:
                history = [replied_answer.get("query") or replied_answer.get("question")]
            else:
                history = []

            target, reference = message.channel, message
            if not in_thread and self.settings.answer_in_threads:
                thread = await self._open_thread(message, cleaned)
                if thread is not None:
                    target, reference = thread, None
            thread_id = target.id if isinstance(target, discord.Thread) else None

            reply = ChannelReply(target, reference, outcome, started)
            answer = await self.compute(
                cleaned, history, outcome, lambda text: reply.draft(self.draft_embeds(cleaned, text))
            )
            outcome.latency_ms = (time.perf_counter() - started) * 1000
            if answer is None:
                await reply.notice(outcome.notice)
                return outcome
            await self.deliver(
                answer,
                outcome,
                reply,
                cleaned=cleaned,
                history=history,
                guild_id=message.guild.id,
                channel_id=message.channel.id,
                thread_id=thread_id,
                in_conversation=thread_id is not None,
            )
        except discord.HTTPException:
            outcome.status = "error"
            log.exception("replying to a message failed (channel %s)", message.channel.id)
        finally:
            if not outcome.latency_ms:
                outcome.latency_ms = (time.perf_counter() - started) * 1000
            outcome.log()
        return outcome

    async def _open_thread(self, message: discord.Message, question: str) -> discord.Thread | None:
        if not isinstance(message.channel, discord.TextChannel):
            return None
        try:
            thread = await message.create_thread(
                name=fit_plain(question, THREAD_NAME_MAX) or "Question",
                auto_archive_duration=THREAD_ARCHIVE_MINUTES,
            )
        except Exception as exc:  # no permission, or a server that has no threads: answer in the channel
            log.warning(
                "could not open a thread in channel %s (%s: %s); answering in the channel",
                message.channel.id,
                type(exc).__name__,
                exc,
            )
            return None
        await self.bot.db.add_bot_thread(thread.id, message.channel.id, message.author.id)
        self._remember_thread(thread.id, True)
        return thread


async def setup(bot) -> None:
    await bot.add_cog(AskCog(bot))

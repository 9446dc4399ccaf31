"""Questions: ``/ask question:``, @mentions, replies to the bot's answers, and follow-ups in the
threads the bot opens for a conversation.

Order for every question: the cheap checks first (the question itself, the index being loaded,
the asker's rate limit) — answered at once and, for /ask, ephemerally, before deferring — then
defer, answer in the service's threads (never on the event loop), store, and send the embeds
with the 👍/👎 buttons.

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
import math
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import discord
from discord import app_commands
from discord.ext import commands

from bot.answering import Answer, QuestionError, clean_question, contextualize
from bot.app.cogs.feedback import feedback_view
from bot.app.markup import strip_markup
from bot.app.pacing import paced
from bot.app.render import fit_plain, render_answer, render_notice

log = logging.getLogger(__name__)

# Also set on the client; passed on every send as well, so no code path can forget it.
NO_PINGS = discord.AllowedMentions.none()
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


def format_wait(seconds: float) -> str:
    seconds = max(1, math.ceil(seconds))
    if seconds < 90:
        return f"{seconds} second{'s' if seconds != 1 else ''}"
    minutes = math.ceil(seconds / 60)
    return f"{minutes} minutes"


def rate_limit_message(limit: int, window: float, wait: float) -> str:
    return (
        f"You've reached the limit of {limit} question{'s' if limit != 1 else ''} per {format_wait(window)}. "
        f"Please try again in {format_wait(wait)}."
    )


@dataclass
class Outcome:
    """What became of one question (for the log line and the tests)."""

    via: str
    user_id: int
    status: str  # answered | refused | invalid | rate_limited | loading | unavailable | error
    answer: Answer | None = None
    answer_id: int | None = None
    notice: str | None = None
    latency_ms: float = 0.0
    drafts: int = 0  # edits showing a streamed answer so far (generated answers)
    first_draft_ms: float | None = None  # when the first verified sentence was shown

    def log(self) -> None:
        log.info(
            "question via=%s user=%s outcome=%s latency_ms=%.0f backend=%s citations=%d answer_id=%s drafts=%d first_draft_ms=%s",
            self.via,
            self.user_id,
            self.status,
            self.latency_ms,
            getattr(self.answer, "backend", "-") if self.answer else "-",
            len(self.answer.citations) if self.answer else 0,
            self.answer_id,
            self.drafts,
            "-" if self.first_draft_ms is None else f"{self.first_draft_ms:.0f}",
        )


class Reply:
    """Where one answer goes. ``draft`` shows a streamed answer so far (the first message, created
    or edited); ``send`` sends the final messages — the first replaces the draft, if there is one —
    and ``notice`` a message of ours, also in place of a draft. Without drafts (extractive
    answers) it sends exactly what it always did: new messages, no edits."""

    def __init__(self, outcome: Outcome, started: float):
        self.outcome, self.started = outcome, started
        self.drafted = False  # a draft is showing, to be replaced by the final answer
        self.drafting = True  # False after an edit failed: the final answer is still sent

    async def draft(self, embeds: list[discord.Embed]) -> None:
        if not self.drafting:
            return
        try:
            await self._draft(embeds)
            self.drafted = True
            self.outcome.drafts += 1
            if self.outcome.first_draft_ms is None:
                self.outcome.first_draft_ms = (time.perf_counter() - self.started) * 1000
        except discord.HTTPException as exc:
            self.drafting = False
            log.warning("could not show the answer so far (%s); it is sent when complete", exc)

    async def send(self, i: int, embeds: list[discord.Embed], view) -> discord.Message:
        if i == 0 and self.drafted:
            try:
                return await self._replace(embeds=embeds, view=view, allowed_mentions=NO_PINGS)
            except discord.NotFound:  # the draft was deleted meanwhile: send the answer anew
                self.drafted = False
        return await self._send(i, embeds, view)

    async def notice(self, text: str) -> None:
        if self.drafted:
            with contextlib.suppress(discord.NotFound):
                await self._replace(content=render_notice(text), embeds=[], allowed_mentions=NO_PINGS)
                return
        await self._notice(render_notice(text))

    async def _draft(self, embeds: list[discord.Embed]) -> None:
        raise NotImplementedError

    async def _replace(self, **fields) -> discord.Message:
        raise NotImplementedError

    async def _send(self, i: int, embeds: list[discord.Embed], view) -> discord.Message:
        raise NotImplementedError

    async def _notice(self, text: str) -> None:
        raise NotImplementedError


class InteractionReply(Reply):
    """Follow-ups of a deferred interaction; drafts edit the deferred ("thinking") message."""

    def __init__(self, interaction: discord.Interaction, outcome: Outcome, started: float):
        super().__init__(outcome, started)
        self.interaction = interaction

    async def _draft(self, embeds):
        await self.interaction.edit_original_response(embeds=embeds, allowed_mentions=NO_PINGS)

    async def _replace(self, **fields):
        return await self.interaction.edit_original_response(**fields)

    async def _send(self, i, embeds, view):
        return await self.interaction.followup.send(
            embeds=embeds, view=view, wait=True, allowed_mentions=NO_PINGS
        )

    async def _notice(self, text):
        await self.interaction.followup.send(text, allowed_mentions=NO_PINGS)


class ChannelReply(Reply):
    """Messages in a channel or thread (the first replying to ``reference``); drafts are the first
    message, sent with the first sentence and then edited."""

    def __init__(self, target, reference: discord.Message | None, outcome: Outcome, started: float):
        super().__init__(outcome, started)
        self.target, self.reference = target, reference
        self.message: discord.Message | None = None

    async def _draft(self, embeds):
        if self.message is None:
            self.message = await self.target.send(
                embeds=embeds, reference=self.reference, mention_author=False, allowed_mentions=NO_PINGS
            )
        else:
            await self.message.edit(embeds=embeds, allowed_mentions=NO_PINGS)

    async def _replace(self, **fields):
        return await self.message.edit(**fields)

    async def _send(self, i, embeds, view):
        kwargs = {"view": view} if view is not discord.utils.MISSING else {}
        return await self.target.send(
            embeds=embeds,
            reference=self.reference if i == 0 else None,
            mention_author=False,
            allowed_mentions=NO_PINGS,
            **kwargs,
        )

    async def _notice(self, text):
        await self.target.send(
            text, reference=self.reference, mention_author=False, allowed_mentions=NO_PINGS
        )


class AskCog(commands.Cog):
    def __init__(self, bot):
        self.bot = bot
        self.settings = bot.settings
        # Streamed answers: ``pacer(service.stream(...), edit_interval_s)`` decides when the
        # message is edited (bot.app.pacing.paced; both replaceable in tests).
        self.edit_interval_s = EDIT_INTERVAL_S
        self.pacer = paced

    # ---------------------------------------------------------------- shared steps

    async def precheck(self, raw: str, user_id: int) -> tuple[str | None, str | None, str | None]:
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
        wait = await self.bot.limiter.hit(user_id)
        if wait > 0:
            return (
                None,
                rate_limit_message(self.bot.limiter.limit, self.bot.limiter.window, wait),
                "rate_limited",
            )
        return question, None, None

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
        cleaned, notice, status = await self.precheck(question, interaction.user.id)
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
        channel = message.channel
        in_thread = isinstance(channel, discord.Thread)
        mentioned = any(user.id == self.bot.user.id for user in message.mentions)
        bot_thread = in_thread and await self.bot.db.is_bot_thread(channel.id)
        replied, replied_answer = await self._replied_answer(message) if message.reference else (False, None)
        if not (mentioned or replied or bot_thread) or not self._channel_allowed(channel):
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
                self.strip_mentions(message.content), message.author.id
            )
            if notice is not None:
                outcome.status, outcome.notice = status, notice
                await message.reply(render_notice(notice), mention_author=False, allowed_mentions=NO_PINGS)
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
        return thread


async def setup(bot) -> None:
    await bot.add_cog(AskCog(bot))

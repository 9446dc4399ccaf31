"""Where one answer goes and what became of it: ``Outcome`` (for the log line and the tests) and
``Reply`` — an interaction's follow-ups or messages in a channel or thread — which shows a
streamed answer as drafts and then sends the final messages in their place."""

from __future__ import annotations

import contextlib
import logging
import time
from dataclasses import dataclass

import discord

from bot.answering import Answer
from bot.app.render import render_notice

log = logging.getLogger("bot.app.cogs.ask")  # one log for the question flow (tests read it)

# Also set on the client; passed on every send as well, so no code path can forget it.
NO_PINGS = discord.AllowedMentions.none()


@dataclass
class Outcome:
    """What became of one question (for the log line and the tests)."""

    via: str
    user_id: int
    status: str  # answered | refused | invalid | rate_limited | server_limited | busy | timed_out | loading | unavailable | error
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

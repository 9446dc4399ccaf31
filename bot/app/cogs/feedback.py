"""👍/👎 under each answer. The buttons are DynamicItems whose custom_id carries the answer id, so
they keep working after a restart without any state in memory; votes are stored (one per user
per answer, changeable), at most RATE_LIMIT_ACTIONS per user per RATE_LIMIT_SECONDS."""

from __future__ import annotations

import logging
import re

import discord
from discord.ext import commands

from bot.app.ratelimit import too_often

log = logging.getLogger(__name__)

CUSTOM_ID_PREFIX = "nb:fb"
VOTES = {"up": 1, "down": -1}
EMOJI = {"up": "👍", "down": "👎"}
_TEMPLATE = rf"{CUSTOM_ID_PREFIX}:(?P<answer_id>[0-9]{{1,19}}):(?P<vote>up|down)"


def feedback_custom_id(answer_id: int, vote: str) -> str:
    if vote not in VOTES or answer_id < 0:
        raise ValueError(f"bad feedback button: {answer_id!r} {vote!r}")
    return f"{CUSTOM_ID_PREFIX}:{answer_id}:{vote}"


def parse_feedback_custom_id(custom_id: str) -> tuple[int, str] | None:
    match = re.fullmatch(_TEMPLATE, custom_id)
    return (int(match["answer_id"]), match["vote"]) if match else None


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button], template=_TEMPLATE):
    def __init__(self, answer_id: int, vote: str):
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji=EMOJI[vote],
                custom_id=feedback_custom_id(answer_id, vote),
            )
        )
        self.answer_id = answer_id
        self.vote = vote

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button, match: re.Match[str], /
    ):
        return cls(int(match["answer_id"]), match["vote"])

    async def callback(self, interaction: discord.Interaction) -> None:
        if await too_often(interaction):  # RATE_LIMIT_ACTIONS: nothing is written
            return
        db = getattr(interaction.client, "db", None)
        outcome = (
            await db.record_vote(self.answer_id, interaction.user.id, VOTES[self.vote])
            if db is not None
            else None
        )
        emoji = EMOJI[self.vote]
        if outcome is None:
            text = "Sorry, I couldn't save your vote right now (the bot's database is unavailable)."
        elif outcome == "unknown answer":
            text = "That answer is no longer in my records, so the vote wasn't saved."
        else:
            up, down = await db.vote_counts(self.answer_id)
            text = {
                "new": f"Thanks for the feedback {emoji}",
                "changed": f"Changed your vote to {emoji}",
                "same": f"You already voted {emoji}",
            }[outcome] + f" (👍 {up} · 👎 {down})"
        log.info(
            "feedback: answer=%s user=%s vote=%s outcome=%s",
            self.answer_id,
            interaction.user.id,
            self.vote,
            outcome or "not saved",
        )
        await interaction.response.send_message(
            text, ephemeral=True, allowed_mentions=discord.AllowedMentions.none()
        )


def feedback_view(answer_id: int) -> discord.ui.View:
    """The persistent view sent under an answer."""
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton(answer_id, "up"))
    view.add_item(FeedbackButton(answer_id, "down"))
    return view


async def setup(bot: commands.Bot) -> None:
    bot.add_dynamic_items(FeedbackButton)


async def teardown(bot: commands.Bot) -> None:
    bot.remove_dynamic_items(FeedbackButton)

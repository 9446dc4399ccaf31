"""Shared by the admin-command tests (test_admin, test_admin_reindex): the tiny corpus they index, fake
interactions and attachments for admin commands, an embedding model that can be held mid-reindex, and
helpers that run a slash command as discord.py does (checks, then the callback).
"""

from __future__ import annotations

import threading
import time
from types import SimpleNamespace

import discord
from discord import app_commands

from tests.app.fakes import Call, FakeFollowup, FakeInteraction, FakeResponse

ADMIN_ROLE = 555
ADMIN_USER = 777
ADMIN_COMMANDS = ["reindex", "add-article", "stats"]

ARTICLES = {
    "00_geneva.txt": (
        "Geneva talks",
        "Delegations met in Geneva to discuss a ceasefire along the front line.",
    ),
    "01_grain.txt": ("Grain corridor", "Negotiators revived the Black Sea grain corridor; ships left Odesa."),
    "02_prisoners.txt": (
        "Prisoner exchange",
        "Both sides exchanged two hundred prisoners of war after mediation.",
    ),
}


def article(title: str, body: str) -> str:
    return f"Title: {title}\nSource: Test Wire\nPublished: 2025-03-18\n\n{body}\n"


# ---------------------------------------------------------------- fakes


class AdminResponse(FakeResponse):
    async def edit_message(
        self, *, content=discord.utils.MISSING, embed=discord.utils.MISSING, view=discord.utils.MISSING, **kw
    ):
        assert not self._done, "interaction responded to twice"
        self._done = True
        self.log.append(
            Call(
                "edit_message",
                None if content is discord.utils.MISSING else content,
                [] if embed in (None, discord.utils.MISSING) else [embed],
                view,
                False,
                kw,
            )
        )


class AdminInteraction(FakeInteraction):
    """A slash-command or button interaction from a member with the given permissions and roles."""

    def __init__(self, client, user_id=1, *, manage_guild=False, administrator=False, roles=(), guild_id=100):
        super().__init__(client, user_id=user_id, guild_id=guild_id)
        self.user = SimpleNamespace(
            id=user_id,
            bot=False,
            name=f"user{user_id}",
            display_name=f"User {user_id}",
            roles=[SimpleNamespace(id=r) for r in roles],
        )
        self.permissions = discord.Permissions(manage_guild=manage_guild, administrator=administrator)
        self.response = AdminResponse(self.log)
        self.followup = FakeFollowup(self.log, self.response)
        self.edits: list[tuple[float, Call]] = []
        self.channel = SimpleNamespace(id=self.channel_id, sent=[])

        async def channel_send(content=None, **kw):
            self.channel.sent.append((content, kw))

        self.channel.send = channel_send

    async def edit_original_response(
        self,
        *,
        content=discord.utils.MISSING,
        embed=discord.utils.MISSING,
        view=discord.utils.MISSING,
        allowed_mentions=None,
        **kw,
    ):
        assert self.response.is_done(), "edit before the interaction was responded to"
        assert allowed_mentions is not None and allowed_mentions.everyone is False
        call = Call(
            "edit",
            None if content is discord.utils.MISSING else content,
            [] if embed in (None, discord.utils.MISSING) else [embed],
            view,
            False,
            kw,
        )
        self.log.append(call)
        self.edits.append((time.monotonic(), call))

    def texts(self) -> str:
        parts = []
        for call in self.log:
            parts.append(call.content or "")
            for embed in call.embeds:
                parts += [embed.title or "", embed.description or ""] + [
                    f"{f.name}\n{f.value}" for f in embed.fields
                ]
        return "\n".join(parts)

    def last_embed(self) -> discord.Embed:
        return next(call.embeds[-1] for call in reversed(self.log) if call.embeds)


class FakeAttachment:
    def __init__(self, filename: str, data: bytes, size: int | None = None):
        self.filename = filename
        self.data = data
        self.size = len(data) if size is None else size
        self.reads = 0

    async def read(self):
        self.reads += 1
        return self.data


class SlowEmbed:
    """The real model, optionally held at the first embedding batch until released."""

    def __init__(self, model):
        self.model = model
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()
        self.batches = 0

    def get_text_embedding_batch(self, texts, **kw):
        self.batches += 1
        self.entered.set()
        assert self.hold.wait(60), "test never released the embedding"
        return self.model.get_text_embedding_batch(texts, **kw)

    def get_query_embedding(self, text):
        return self.model.get_query_embedding(text)


def command(cog, name):
    return next(c for c in cog.get_app_commands() if c.name == name)


async def invoke(cog, name, interaction, **kwargs) -> bool:
    """As discord.py runs a slash command: its checks, then the callback; False if refused."""
    cmd = command(cog, name)
    interaction.command = cmd
    try:
        allowed = await cmd._check_can_run(interaction)
    except app_commands.CheckFailure as exc:
        await cog.cog_app_command_error(interaction, exc)
        return False
    if not allowed:
        return False
    await cmd.callback(cog, interaction, **kwargs)
    return True


def admin(bot, user_id=1, **kw):
    return AdminInteraction(bot, user_id=user_id, manage_guild=True, **kw)


def member(bot, user_id=2, **kw):
    return AdminInteraction(bot, user_id=user_id, **kw)


async def actions(bot, action=None):
    return list(reversed(await bot.db.admin_actions(limit=100, action=action)))

"""Fake Discord interactions for driving slash command callbacks without a gateway."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

import discord

_ids = itertools.count(10_000)


def _loop_time() -> float:
    try:
        return asyncio.get_running_loop().time()
    except RuntimeError:
        return float("nan")


@dataclass
class Call:
    kind: str  # "send_message" | "defer" | "followup" | "edit_original"
    content: str | None = None
    embeds: list = field(default_factory=list)
    view: Any = None
    ephemeral: bool = False
    kwargs: dict = field(default_factory=dict)
    t: float = field(default_factory=_loop_time)  # when it was made, on the loop's clock


class FakeResponse:
    def __init__(self, log: list[Call]):
        self.log = log
        self._done = False

    def is_done(self) -> bool:
        return self._done

    async def send_message(
        self, content=None, *, embed=None, embeds=None, ephemeral=False, view=discord.utils.MISSING, **kw
    ):
        assert not self._done, "interaction responded to twice"
        self._done = True
        self.log.append(
            Call("send_message", content, embeds or ([embed] if embed else []), view, ephemeral, kw)
        )

    async def defer(self, *, ephemeral=False, thinking=False):
        assert not self._done, "interaction responded to twice"
        self._done = True
        self.log.append(Call("defer", ephemeral=ephemeral, kwargs={"thinking": thinking}))


class FakeFollowup:
    def __init__(self, log: list[Call], response: FakeResponse):
        self.log = log
        self.response = response

    async def send(
        self,
        content=None,
        *,
        embed=None,
        embeds=None,
        view=discord.utils.MISSING,
        ephemeral=False,
        wait=False,
        **kw,
    ):
        assert self.response.is_done(), "follow-up before the interaction was responded to"
        self.log.append(Call("followup", content, embeds or ([embed] if embed else []), view, ephemeral, kw))
        return SimpleNamespace(id=next(_ids))


class FakeInteraction:
    def __init__(self, client, user_id: int = 1, guild_id: int | None = 100, channel_id: int = 200):
        self.client = client
        self.user = SimpleNamespace(id=user_id, bot=False, name=f"user{user_id}")
        self.guild_id = guild_id
        self.channel_id = channel_id
        self.channel = SimpleNamespace(id=channel_id)
        self.log: list[Call] = []
        self.response = FakeResponse(self.log)
        self.followup = FakeFollowup(self.log, self.response)
        self.command = None

    async def edit_original_response(
        self, *, content=discord.utils.MISSING, embeds=discord.utils.MISSING, view=discord.utils.MISSING, **kw
    ):
        assert self.response.is_done(), "edit before the interaction was responded to"
        self.log.append(
            Call(
                "edit_original",
                None if content is discord.utils.MISSING else content,
                [] if embeds is discord.utils.MISSING else embeds,
                view,
                False,
                kw | {"content_given": content is not discord.utils.MISSING},
            )
        )
        self.original_id = getattr(self, "original_id", None) or next(_ids)
        return SimpleNamespace(id=self.original_id)

    def kinds(self) -> list[str]:
        return [c.kind for c in self.log]

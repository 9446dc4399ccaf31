"""The Discord stand-in itself, proven with a plain discord.py client over loopback (no bot code involved)."""

from __future__ import annotations

import asyncio
import math
import time

import discord
import pytest
from discord import app_commands

from tests.helpers.discord_standin import (
    DiscordStandIn,
    StandInProcess,
    validate_message_body,
    would_ping,
)

TOKEN = "fake.standin.token"


class MiniClient(discord.Client):
    """A tiny client: /ask defers then follows up; a mention is answered in a thread; thread messages replied."""

    def __init__(self, guild_id: int, **kwargs):
        intents = discord.Intents.none()
        intents.guilds = intents.guild_messages = intents.message_content = True
        super().__init__(intents=intents, allowed_mentions=discord.AllowedMentions.none(), **kwargs)
        self.tree = app_commands.CommandTree(self)
        self.guild_obj = discord.Object(guild_id)
        self.seen: list[discord.Message] = []

        @self.tree.command(name="ask", description="Ask a question")
        @app_commands.describe(question="your question")
        async def ask(interaction: discord.Interaction, question: str) -> None:
            if question == "slow":
                await asyncio.sleep(3.5)  # misses Discord's 3 s deadline
            if question == "ratelimited":
                await interaction.response.send_message("Slow down, try again in 42 s.", ephemeral=True)
                return
            await interaction.response.defer(thinking=True)
            await interaction.followup.send(
                f"answer to: {question}", embed=discord.Embed(description="[1] quoted")
            )

        self.tree.copy_global_to(guild=self.guild_obj)

    async def setup_hook(self) -> None:
        await self.tree.sync(guild=self.guild_obj)

    async def on_message(self, message: discord.Message) -> None:
        self.seen.append(message)
        if message.author == self.user:
            return
        if isinstance(message.channel, discord.Thread) and message.channel.owner_id == self.user.id:
            await message.reply(f"in thread: {message.content}")
        elif self.user in message.mentions:
            thread = await message.create_thread(name="Question")
            await thread.send(f"thread answer to: {message.content}")


@pytest.fixture
async def standin():
    async with DiscordStandIn(token=TOKEN, lifetime=120, heartbeat_interval_ms=1000) as server:
        restore = server.patch_discord_py()
        try:
            yield server
        finally:
            restore()


@pytest.fixture
async def client(standin):
    client = MiniClient(int(standin.world.guild_id), guild_ready_timeout=0.2)
    task = asyncio.create_task(client.start(TOKEN))
    try:
        await asyncio.wait_for(client.wait_until_ready(), timeout=20)
        yield client
    finally:
        await client.close()
        await asyncio.wait_for(task, timeout=10)


async def test_login_ready_and_command_sync(standin, client):
    kinds = [r.kind for r in standin.requests]
    assert kinds[:2] == ["login", "application_info"]
    put = standin.requests_of("commands_put")
    assert (
        len(put) == 1
        and put[0].path == f"/applications/{standin.world.app_id}/guilds/{standin.world.guild_id}/commands"
    )
    assert put[0].json[0]["name"] == "ask" and put[0].json[0]["options"][0]["name"] == "question"
    connect = next(g for g in standin.gateway_log if g["what"] == "connect")
    assert (
        connect["query"]["v"] == "10" and connect["query"]["encoding"] == "json"
    )  # zlib-stream (or zstd) honoured
    ident = standin.identifies[-1]
    assert ident["token_ok"] and ident["intents"] & (1 << 15)
    guild = client.get_guild(int(standin.world.guild_id))
    assert guild is not None and guild.get_channel(int(standin.world.general_id)).name == "general"
    assert guild.me is not None and guild.me.id == int(standin.world.bot_id)
    assert guild.get_member(int(standin.world.alice_id)) is None  # no members intent: not sent, like Discord
    assert client.user.id == int(standin.world.bot_id)
    # heartbeats (1 s interval) are acknowledged: discord.py's latency stays inf until an ACK
    # arrives (a wall-clock bound here failed once on the loaded 2-core CI machine)
    await standin.wait_for(lambda: len(standin.heartbeats) >= 2, timeout=5)
    assert math.isfinite(client.latency)
    assert not standin.requests_of("unhandled")


async def test_injected_message_reaches_on_message_and_thread_flow(standin, client):
    msg = await standin.inject_message("what happened? @everyone <@1300000000000000202>", mention_bot=True)
    assert msg["_delivered"] == 1
    thread_rec = await standin.wait_for(lambda: standin.requests_of("thread_create"), timeout=10)
    assert thread_rec[0].path == f"/channels/{standin.world.general_id}/messages/{msg['id']}/threads"
    answer = await standin.wait_for(
        lambda: [s for s in standin.sent if s.channel_id == msg["id"]], timeout=10
    )
    assert answer[0].content.startswith("thread answer to:")
    assert answer[0].allowed_mentions == {"parse": []} and answer[0].pings == []
    # the client saw its own message echoed back (as Discord does) and the thread it made is cached
    await standin.wait_for(lambda: any(m.author == client.user for m in client.seen), timeout=5)
    thread = client.get_channel(int(msg["id"]))
    assert isinstance(thread, discord.Thread)

    # a follow-up inside the thread is a reply in the thread
    follow = await standin.inject_message("and the Black Sea?", channel_id=msg["id"])
    reply = await standin.wait_for(
        lambda: [s for s in standin.sent if s.reference and s.reference["message_id"] == follow["id"]],
        timeout=10,
    )
    assert reply[0].content == "in thread: and the Black Sea?"
    assert reply[0].pings == []  # a reply without replied_user does not ping the author


async def test_slash_command_round_trip(standin, client):
    inter = await standin.inject_slash_command("ask", {"question": "What did Putin accept?"})
    assert inter["delivered"] == 1 and inter["registered"]
    cb = await standin.wait_for(lambda: standin.requests_of("interaction_callback"), timeout=10)
    assert cb[0].json["type"] == 5 and cb[0].status == 200
    assert cb[0].t - inter["t"] < 3.0
    sent = await standin.wait_for(lambda: standin.sent_for_interaction(inter["id"]), timeout=10)
    assert sent[0].kind == "followup" and sent[0].content == "answer to: What did Putin accept?"
    assert sent[0].embeds[0]["description"] == "[1] quoted"
    assert (
        sent[0].message_id == standin.interactions[inter["id"]]["original_id"]
    )  # replaced the "thinking" message
    assert not sent[0].ephemeral


async def test_ephemeral_response_and_deadline(standin, client):
    inter = await standin.inject_slash_command(
        "ask", {"question": "ratelimited"}, user_id=standin.world.bob_id
    )
    sent = await standin.wait_for(lambda: standin.sent_for_interaction(inter["id"]), timeout=10)
    assert sent[0].kind == "callback" and sent[0].ephemeral and sent[0].flags & 64
    callbacks = [r for r in standin.requests_of("interaction_callback") if inter["id"] in r.path]
    assert [r.json["type"] for r in callbacks] == [4]

    slow = await standin.inject_slash_command("ask", {"question": "slow"})
    late = await standin.wait_for(
        lambda: [r for r in standin.requests_of("interaction_callback") if slow["id"] in r.path], timeout=10
    )
    assert late[0].status == 404 and late[0].response["code"] == 10062


async def test_limits_are_enforced_like_discord(standin, client):
    channel = client.get_channel(int(standin.world.general_id))
    with pytest.raises(discord.HTTPException) as err:
        await channel.send("x" * 2001)
    assert err.value.code == 50035 and "content" in str(err.value)
    with pytest.raises(discord.HTTPException):
        await channel.send(embed=discord.Embed(description="d" * 4097))
    with pytest.raises(discord.Forbidden):
        await client.get_channel(int(standin.world.quiet_id)).send("hi")
    ok = await channel.send("y" * 2000)
    assert ok.content == "y" * 2000


async def test_wrong_token_is_refused(standin):
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()


def test_would_ping_rules():
    assert would_ping("hi @everyone <@1> <@&2>", None) == ["user:1", "role:2", "everyone"]
    assert would_ping("hi @everyone <@1> <@&2>", {"parse": []}) == []
    assert would_ping("<@!1>", {"parse": [], "users": ["1"]}) == ["user:1"]
    assert would_ping("x", None, replied_user_id="9") == ["replied_user:9"]
    assert would_ping("x", {"parse": []}, replied_user_id="9") == []
    assert would_ping("x", {"parse": [], "replied_user": True}, replied_user_id="9") == ["replied_user:9"]


def test_validation_rules():
    assert validate_message_body({"content": ""})  # empty
    assert not validate_message_body({"content": "", "embeds": [{"description": "x"}]})
    total = {"embeds": [{"description": "a" * 4000}, {"description": "b" * 2001}]}
    assert "6000" in " ".join(validate_message_body(total).flat)
    field = {"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}
    assert validate_message_body(field).flat == ["embeds.0.fields.0.value: Must be 1024 or fewer in length."]


def test_process_mode_starts_reports_and_stops():
    started = time.monotonic()
    with StandInProcess(lifetime=30) as proc:
        state = proc.client.state()
        assert state["port"] == proc.info["port"] and state["ready_sessions"] == 0
        assert proc.info["api_base"].startswith("http://127.0.0.1:")
        pid = proc.pid
    assert proc.proc.returncode == 0
    assert time.monotonic() - started < 15
    import os

    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_process_mode_stops_by_itself():
    proc = StandInProcess(lifetime=1).start()
    try:
        proc.proc.wait(timeout=10)
        assert proc.proc.returncode == 0
    finally:
        proc.stop()

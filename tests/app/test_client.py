"""The client: endpoints for a stand-in, start-up (cogs, persistent buttons, DB), command sync only on change."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import discord
import pytest
import yarl
from discord import app_commands

from bot.app.client import NegotiationsBot, configure_endpoints, extension_names
from bot.app.cogs.feedback import FeedbackButton
from bot.app.db import Database


class FakeService:
    def __init__(self, fail: bool = False, delay: float = 0.0):
        self.library = SimpleNamespace(version=None)
        self.fail, self.delay, self.closed = fail, delay, False

    async def warm(self):
        await asyncio.sleep(self.delay)
        if self.fail:
            raise RuntimeError("corpus dir is empty")
        self.library.version = SimpleNamespace(name="v1", n_chunks=3)

    def close(self):
        self.closed = True


@pytest.fixture
def restore_endpoints():
    base, gateway = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    yield
    discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


def test_endpoints_for_a_stand_in(restore_endpoints):
    configure_endpoints("http://127.0.0.1:5555/api/v10/", "ws://127.0.0.1:5555/gateway")
    assert discord.http.Route("GET", "/users/@me").url == "http://127.0.0.1:5555/api/v10/users/@me"
    assert yarl.URL("ws://127.0.0.1:5555/gateway") == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def test_endpoints_untouched_when_unset(restore_endpoints):
    before = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    configure_endpoints(None, None)
    assert before == (discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


async def test_setup_hook_loads_cogs_buttons_db_and_warms_in_background(make_settings):
    settings = make_settings()
    service = FakeService(delay=0.2)
    bot = NegotiationsBot(settings, service=service, sync_commands=False)
    await bot._async_setup_hook()
    await bot.setup_hook()
    try:
        assert "bot.app.cogs.ask" in bot.extensions and "bot.app.cogs.feedback" in bot.extensions
        assert bot.tree.get_command("ask") is not None
        # load_extension imports the module afresh, so compare by name; the template is what matters
        registered = list(bot._connection._view_store._dynamic_items.items())
        assert (
            FeedbackButton.__discord_ui_compiled_template__.pattern,
            "bot.app.cogs.feedback",
            "FeedbackButton",
        ) in [(p.pattern, c.__module__, c.__qualname__) for p, c in registered]
        assert bot.db.available and settings.database_path.exists()
        assert bot.index_state() == "loading"  # setup_hook did not wait for the index
        await bot.warm_task
        assert bot.index_state() == "ready"
    finally:
        await bot.close()
    assert service.closed and not bot.db.available


async def test_failed_warm_up_is_reported_not_raised(make_settings, caplog):
    bot = NegotiationsBot(make_settings(), service=FakeService(fail=True), sync_commands=False)
    await bot._async_setup_hook()
    await bot.setup_hook()
    await bot.warm_task
    assert bot.index_state() == "unavailable" and "corpus dir is empty" in bot.warm_error
    assert "loading the index failed" in caplog.text
    await bot.close()


async def test_starts_without_a_usable_database(make_settings, tmp_path, caplog):
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    bot = NegotiationsBot(
        make_settings(), service=FakeService(), db=Database(blocker / "bot.sqlite3"), sync_commands=False
    )
    await bot._async_setup_hook()
    await bot.setup_hook()
    assert not bot.db.available and "running without a database" in caplog.text
    assert "bot.app.cogs.ask" in bot.extensions
    await bot.close()


def test_extension_names_discovers_cog_modules():
    names = extension_names()
    assert {"bot.app.cogs.ask", "bot.app.cogs.feedback"} <= set(names)
    assert all(not n.rsplit(".", 1)[1].startswith("_") for n in names)


async def test_commands_synced_only_when_changed(make_settings):
    settings = make_settings(discord_guild_id=4242)
    bot = NegotiationsBot(settings, service=FakeService(), sync_commands=False)
    await bot._async_setup_hook()
    await bot.setup_hook()
    bot._connection.application_id = 1234
    synced: list = []

    async def fake_sync(*, guild=None):
        synced.append(guild.id if guild else None)
        return []

    bot.tree.sync = fake_sync
    try:
        assert await bot.sync_app_commands() is True
        assert synced == [4242]  # to the development guild
        assert await bot.sync_app_commands() is False  # unchanged: no API call
        assert synced == [4242]

        @app_commands.command(name="extra", description="a new command")
        async def extra(interaction: discord.Interaction) -> None:
            pass

        bot.tree.add_command(extra)
        assert await bot.sync_app_commands() is True  # the tree changed
        assert await bot.sync_app_commands(force=True) is True
        assert synced == [4242, 4242, 4242]
    finally:
        await bot.close()

    # a restart with the same commands does not sync again (the hash is in the database)
    bot2 = NegotiationsBot(settings, service=FakeService(), sync_commands=False)
    await bot2._async_setup_hook()
    await bot2.setup_hook()
    bot2._connection.application_id = 1234
    bot2.tree.sync = fake_sync
    bot2.tree.add_command(extra)
    try:
        assert await bot2.sync_app_commands() is False
    finally:
        await bot2.close()


async def test_global_sync_without_guild(make_settings):
    bot = NegotiationsBot(make_settings(), service=FakeService(), sync_commands=False)
    await bot._async_setup_hook()
    await bot.setup_hook()
    bot._connection.application_id = 1234
    synced: list = []

    async def fake_sync(*, guild=None):
        synced.append(guild)
        return []

    bot.tree.sync = fake_sync
    try:
        assert await bot.sync_app_commands() is True and synced == [None]
    finally:
        await bot.close()


def test_ask_command_payload(make_settings):
    bot = NegotiationsBot(make_settings(), service=FakeService(), sync_commands=False)
    from bot.app.cogs.ask import AskCog

    payload = AskCog.ask.to_dict(bot.tree)
    assert payload["name"] == "ask"
    (option,) = payload["options"]
    assert option["name"] == "question" and option["required"] is True and option["type"] == 3


async def test_a_sharded_bot_connects_as_its_own_shards_and_leaves_command_sync_to_shard_0(make_settings):
    from bot.app.client import ShardedNegotiationsBot, make_bot
    from tests.helpers.discord_standin import DiscordStandIn

    assert type(make_bot(make_settings(), service=FakeService())) is NegotiationsBot  # unsharded by default
    token = "fake.shard.token"
    async with DiscordStandIn(token=token, lifetime=120, heartbeat_interval_ms=1000) as server:
        restore = server.patch_discord_py()
        bot = make_bot(
            make_settings(discord_shard_count=2, discord_shard_ids=[1]),
            service=FakeService(),
            guild_ready_timeout=0.2,
        )
        task = asyncio.create_task(bot.start(token))
        try:
            await asyncio.wait_for(bot.wait_until_ready(), timeout=30)
            assert isinstance(bot, ShardedNegotiationsBot) and bot.shard_ids == [1] and bot.shard_count == 2
            assert [i["shard"] for i in server.identifies] == [[1, 2]]  # shard 1 of 2, nothing else
            assert not bot.sync_commands_on_start
        finally:
            await bot.close()
            await asyncio.wait_for(task, timeout=10)
            restore()


@pytest.mark.parametrize(
    "values, says",
    [
        ({"discord_shard_ids": "0,1"}, "needs DISCORD_SHARD_COUNT"),
        ({"discord_shard_count": 2, "discord_shard_ids": "1,2"}, "below DISCORD_SHARD_COUNT"),
        ({"discord_shard_count": 0}, "greater than or equal to 1"),
    ],
)
def test_shard_settings_that_cannot_work_are_refused(make_settings, values, says):
    import pydantic

    with pytest.raises(pydantic.ValidationError, match=says):
        make_settings(**values)

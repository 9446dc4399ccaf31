"""Issue 15, item 1: admin rights over the one shared corpus are trusted only in the configured
admin servers (ADMIN_GUILD_IDS) or for ADMIN_USER_IDS; /stats shows the asking server's own
figures outside the admin servers. Fake interactions over a real (tiny) index."""

from __future__ import annotations

import time

import pytest

from bot.answering import Answer
from bot.app.permissions import NOT_ALLOWED, is_admin
from tests.app.admin_support import (
    ADMIN_ROLE,
    ADMIN_USER,
    AdminInteraction,
    FakeAttachment,
    actions,
    article,
    invoke,
)

ADMIN_GUILD = 100  # what the env fixture configures as ADMIN_GUILD_IDS
OTHER_GUILD = 300  # a server that merely invited the bot


def corpus_files(env) -> list[str]:
    return sorted(p.name for p in env.corpus.iterdir())


@pytest.mark.parametrize(
    "command, kwargs",
    [
        ("reindex", {}),
        ("add-article", {"file": FakeAttachment("evil.txt", article("Evil", "Fake news.").encode())}),
    ],
)
@pytest.mark.parametrize("who", [dict(manage_guild=True), dict(administrator=True), dict(roles=[ADMIN_ROLE])])
async def test_server_rights_elsewhere_cannot_change_the_shared_corpus(env, command, kwargs, who):
    (env.corpus / "03_new.txt").write_text(article("New", "Envoys met in Doha."), "utf-8")
    version, files, batches = env.library.version.name, corpus_files(env), env.model.batches
    owner = AdminInteraction(env.bot, user_id=66, guild_id=OTHER_GUILD, **who)
    assert await invoke(env.cog, command, owner, **kwargs) is False
    assert [(c.kind, c.ephemeral, c.content) for c in owner.log] == [("send_message", True, NOT_ALLOWED)]
    assert env.library.version.name == version and env.model.batches == batches  # no re-index
    assert corpus_files(env) == files  # nothing saved
    assert [(a["user_id"], a["action"], a["outcome"]) for a in await actions(env.bot)] == [
        (66, command, "denied")
    ]


async def test_configured_users_are_trusted_in_any_server(env):
    interaction = AdminInteraction(env.bot, user_id=ADMIN_USER, guild_id=OTHER_GUILD)
    assert await invoke(env.cog, "reindex", interaction) is True
    assert interaction.last_embed().title.startswith("Re-index")


def test_without_admin_servers_only_configured_users_are_trusted(env):
    env.settings.admin_guild_ids = []
    manager = AdminInteraction(
        env.bot, user_id=5, guild_id=ADMIN_GUILD, manage_guild=True, roles=[ADMIN_ROLE]
    )
    assert not is_admin(manager, env.settings)
    assert is_admin(AdminInteraction(env.bot, user_id=ADMIN_USER, guild_id=ADMIN_GUILD), env.settings)


async def record(env, question: str, guild_id: int, latency: float, refused: bool = False) -> int:
    answer = Answer(question, "An answer.", refused)
    return await env.bot.db.record_answer(answer, user_id=1, guild_id=guild_id, latency_ms=latency)


async def test_stats_outside_the_admin_servers_show_only_that_servers_figures(env):
    await record(env, "What did the admin server ask?", ADMIN_GUILD, 100.0)
    theirs = await record(env, "A private question of the admin server?", ADMIN_GUILD, 200.0)
    await env.bot.db.record_vote(theirs, 9, -1)
    mine = await record(env, "What did Putin agree to?", OTHER_GUILD, 1000.0)
    await env.bot.db.record_vote(mine, 9, 1)
    await invoke(env.cog, "reindex", AdminInteraction(env.bot, user_id=ADMIN_USER))

    owner = AdminInteraction(env.bot, user_id=66, guild_id=OTHER_GUILD, manage_guild=True)
    assert await invoke(env.cog, "stats", owner) is True
    embed = owner.last_embed()
    fields = {f.name: f.value for f in embed.fields}
    assert fields["Questions"].startswith("1 answered · 0 refused")
    assert fields["Latency"] == "p50 1.0 s · p95 1.0 s" and fields["Feedback"] == "👍 1 · 👎 0"
    assert "Putin" in fields["Top questions"] and "admin server" not in fields["Top questions"]
    assert "<@" not in fields["Last re-index"]  # who re-indexed is not shown to other servers
    assert embed.footer.text.startswith("This server only")

    operator = AdminInteraction(env.bot, user_id=3, guild_id=ADMIN_GUILD, manage_guild=True)
    await invoke(env.cog, "stats", operator)
    fields = {f.name: f.value for f in operator.last_embed().fields}
    assert fields["Questions"].startswith("3 answered") and "admin server" in fields["Top questions"]
    assert operator.last_embed().footer.text.startswith("All servers")


async def test_stats_are_refused_to_members_without_rights(env):
    member = AdminInteraction(env.bot, user_id=67, guild_id=OTHER_GUILD, roles=[123])
    assert await invoke(env.cog, "stats", member) is False
    assert member.log[0].content == NOT_ALLOWED


async def test_stats_leave_out_questions_older_than_the_window(env):
    env.bot.db.clock = lambda: 1_000.0  # long ago
    await record(env, "An ancient question?", ADMIN_GUILD, 50.0)
    env.bot.db.clock = time.time
    await record(env, "A fresh question?", ADMIN_GUILD, 70.0)
    interaction = AdminInteraction(env.bot, user_id=3, guild_id=ADMIN_GUILD, manage_guild=True)
    await invoke(env.cog, "stats", interaction)
    fields = {f.name: f.value for f in interaction.last_embed().fields}
    assert fields["Questions"].startswith("1 answered") and "ancient" not in fields["Top questions"]
    assert interaction.last_embed().footer.text.endswith("last 30 days")

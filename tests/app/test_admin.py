"""Admin commands driven with fake interactions over a real (tiny) index: permissions on every admin
command (who is an admin, what a non-admin is told, what is recorded), /sources pages and /stats.
Re-indexing and /add-article are in test_admin_reindex.py, the rendering limits in test_admin_render.py.
"""

from __future__ import annotations

from types import SimpleNamespace

import discord
import pytest

from bot.answering import Answer, Citation
from bot.app.admin_render import check_embed
from bot.app.cogs.admin import SourcesView
from bot.app.permissions import NOT_ALLOWED, admin_reason
from tests.app.admin_support import (
    ADMIN_COMMANDS,
    ADMIN_ROLE,
    ADMIN_USER,
    AdminInteraction,
    FakeAttachment,
    actions,
    admin,
    article,
    command,
    invoke,
    member,
)

# ---------------------------------------------------------------- permissions


def test_admin_commands_are_hidden_by_default_and_sources_is_public(env):
    for name in ADMIN_COMMANDS:
        cmd = command(env.cog, name)
        assert cmd.default_permissions == discord.Permissions(manage_guild=True), name
        assert cmd.guild_only and cmd.checks, name
    sources = command(env.cog, "sources")
    assert sources.default_permissions is None and not sources.checks


@pytest.mark.parametrize(
    "who,expected",
    [
        (dict(manage_guild=True), "manage server"),
        (dict(administrator=True), "manage server"),
        (dict(roles=[ADMIN_ROLE]), "role"),
        (dict(user_id=ADMIN_USER), "user id"),
        (dict(roles=[123, 456]), None),
        (dict(), None),
    ],
)
def test_who_is_an_admin(who, expected):
    settings = SimpleNamespace(admin_role_ids=[ADMIN_ROLE], admin_user_ids=[ADMIN_USER])
    user_id = who.pop("user_id", 5)
    roles = [SimpleNamespace(id=r) for r in who.pop("roles", [])]
    user = SimpleNamespace(id=user_id, roles=roles)
    assert admin_reason(user, discord.Permissions(**who), settings) == expected


def test_admin_role_counts_even_if_the_guild_role_cache_lacks_it(env):
    """discord.Member.roles drops roles not in the cached guild; the raw ids still count."""
    guild = SimpleNamespace(get_role=lambda role_id: None, default_role=None, id=100)
    user = discord.Member.__new__(discord.Member)
    user._roles = discord.utils.SnowflakeList([ADMIN_ROLE])
    user.guild = guild
    user._user = SimpleNamespace(id=4)
    assert user.roles == []  # what discord.py shows
    assert admin_reason(user, discord.Permissions.none(), env.settings) == "role"
    user._roles = discord.utils.SnowflakeList([123])
    assert admin_reason(user, discord.Permissions.none(), env.settings) is None


def test_outside_a_server_only_configured_users_are_admins():
    from bot.app.permissions import is_admin

    settings = SimpleNamespace(admin_role_ids=[ADMIN_ROLE], admin_user_ids=[ADMIN_USER])
    dm = SimpleNamespace(
        guild_id=None, permissions=discord.Permissions.all(), user=SimpleNamespace(id=5, roles=[])
    )
    assert not is_admin(dm, settings)
    dm.user = SimpleNamespace(id=ADMIN_USER, roles=[])
    assert is_admin(dm, settings)


@pytest.mark.parametrize("name", ADMIN_COMMANDS)
async def test_non_admin_is_told_not_allowed_and_nothing_happens(env, name):
    version = env.library.version.name
    (env.corpus / "03_new.txt").write_text(article("New", "Envoys met in Doha."), "utf-8")
    files_before = sorted(p.name for p in env.corpus.iterdir())
    batches = env.model.batches
    interaction = member(env.bot, roles=[123])
    kwargs = (
        {"file": FakeAttachment("talks.txt", article("Talks", "Body.").encode())}
        if name == "add-article"
        else {}
    )
    assert await invoke(env.cog, name, interaction, **kwargs) is False
    assert [(c.kind, c.ephemeral, c.content) for c in interaction.log] == [
        ("send_message", True, NOT_ALLOWED)
    ]
    assert env.library.version.name == version and env.model.batches == batches  # no re-index ran
    assert sorted(p.name for p in env.corpus.iterdir()) == files_before  # nothing saved
    if name == "add-article":
        assert kwargs["file"].reads == 0
    recorded = await actions(env.bot)
    assert [(a["user_id"], a["action"], a["outcome"]) for a in recorded] == [(2, name, "denied")]


@pytest.mark.parametrize(
    "who",
    [dict(manage_guild=True), dict(administrator=True), dict(roles=[ADMIN_ROLE]), dict(user_id=ADMIN_USER)],
)
async def test_each_kind_of_admin_may_use_admin_commands(env, who):
    user_id = who.pop("user_id", 3)
    interaction = AdminInteraction(env.bot, user_id=user_id, **who)
    assert await invoke(env.cog, "stats", interaction) is True
    assert interaction.kinds()[0] == "defer" and interaction.log[0].ephemeral
    assert interaction.last_embed().title == "Bot statistics"
    assert [(a["user_id"], a["action"], a["outcome"]) for a in await actions(env.bot)] == [
        (user_id, "stats", "ok")
    ]


async def test_sources_is_for_everyone(env):
    interaction = member(env.bot)
    assert await invoke(env.cog, "sources", interaction) is True
    call = interaction.log[0]
    assert call.kind == "send_message" and call.ephemeral
    assert "Geneva talks" in call.embeds[0].description
    assert await actions(env.bot) == []  # not an admin action


# ---------------------------------------------------------------- /sources


async def test_sources_paginates_with_buttons(env):
    for i in range(22):
        (env.corpus / f"extra_{i:02d}.txt").write_text(
            article(f"Extra article {i:02d}", f"Envoy number {i} met."), "utf-8"
        )
    env.library.reindex()
    interaction = member(env.bot)
    await invoke(env.cog, "sources", interaction)
    call = interaction.log[0]
    view = call.view
    assert isinstance(view, SourcesView) and view.pages == 3
    assert "Page 1/3" in call.embeds[0].footer.text and call.embeds[0].title == "Indexed articles (25)"
    assert view.previous.disabled and not view.next.disabled
    seen = [call.embeds[0].description]
    for _ in range(2):
        click = member(env.bot)
        await view.next.callback(click)
        seen.append(click.log[0].embeds[0].description)
        assert check_embed(click.log[0].embeds[0]) == []
    assert (
        view.next.disabled and not view.previous.disabled and "Page 3/3" in click.log[0].embeds[0].footer.text
    )
    titles = [line for page in seen for line in page.split("\n") if line.startswith("**")]
    assert len(titles) == 25 and len(set(titles)) == 25
    assert "chunk" in seen[0] and "Test Wire" in seen[0] and "2025-03-18" in seen[0]
    click = member(env.bot)
    await view.previous.callback(click)
    assert "Page 2/3" in click.log[0].embeds[0].footer.text


async def test_sources_before_the_index_is_loaded(env, monkeypatch):
    monkeypatch.setattr(env.library, "_retriever", None)
    interaction = member(env.bot)
    await invoke(env.cog, "sources", interaction)
    assert interaction.log[0].ephemeral and "No index is loaded" in interaction.log[0].content


# ---------------------------------------------------------------- /stats


async def test_stats_shows_questions_latency_feedback_and_last_reindex(env):
    db = env.bot.db
    cite = Citation(1, "00_geneva.txt", "Geneva talks", "Test Wire", "2025-03-18", "Delegations met", 0, 15)
    for i, (question, refused, latency) in enumerate(
        [
            ("Where did they meet?", False, 100.0),
            ("where did they meet?", False, 300.0),
            ("@everyone *bold* question", True, 200.0),
        ]
    ):
        answer = Answer(
            question,
            "They met in Geneva [1]." if not refused else "No idea.",
            refused,
            [] if refused else [cite],
        )
        answer_id = await db.record_answer(answer, user_id=10 + i, latency_ms=latency)
        await db.record_vote(answer_id, 10 + i, 1 if i < 2 else -1)
    await invoke(env.cog, "reindex", admin(env.bot))
    interaction = admin(env.bot)
    await invoke(env.cog, "stats", interaction)
    embed = interaction.last_embed()
    fields = {f.name: f.value for f in embed.fields}
    assert interaction.log[0].ephemeral and check_embed(embed) == []
    assert fields["Questions"].startswith("2 answered · 1 refused")
    assert fields["Latency"] == "p50 200 ms · p95 290 ms"
    assert fields["Feedback"] == "👍 2 · 👎 1"
    assert (
        "Where did they meet? — 2×" in fields["Top questions"]
        or "where did they meet? — 2×" in fields["Top questions"]
    )
    assert "@everyone" not in fields["Top questions"] and "\\*bold\\*" in fields["Top questions"]
    assert "unchanged" in fields["Last re-index"] and "<@1>" in fields["Last re-index"]
    assert "3 articles" in fields["Index"]

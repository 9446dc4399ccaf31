"""Admin commands driven with fake interactions over a real (tiny) index: permissions on every
admin command, /reindex progress and summary, one re-index at a time, the /add-article flow,
/sources pages and /stats — and the rendering within Discord's limits."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from bot.answering import Answer, Citation
from bot.answering.service import AnswerService
from bot.app.admin_render import (
    ProgressState,
    check_embed,
    render_progress,
    render_sources_page,
    render_stats,
    render_summary,
    source_entries,
)
from bot.app.client import NegotiationsBot
from bot.app.cogs.admin import AdminCog, ConfirmReplaceView, SourcesView
from bot.app.db import Database, Stats
from bot.app.permissions import NOT_ALLOWED, admin_reason
from bot.app.render import EMBED_TOTAL_MAX
from bot.settings import Settings
from index.store import ReindexReport
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


@pytest.fixture
async def env(tmp_path, embed_model):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, (title, body) in ARTICLES.items():
        (corpus / name).write_text(article(title, body), "utf-8")
    settings = Settings(
        _env_file=None,
        corpus_dir=corpus,
        data_dir=tmp_path / "data",
        admin_role_ids=[ADMIN_ROLE],
        admin_user_ids=[ADMIN_USER],
        max_attachment_bytes=5_000,
    )
    model = SlowEmbed(embed_model)
    service = AnswerService.from_settings(settings, model)
    service.library.reindex()
    bot = NegotiationsBot(settings, service=service, db=Database(settings.database_path), sync_commands=False)
    await bot.db.open()
    cog = AdminCog(bot)
    cog.progress_interval = 0.05
    yield SimpleNamespace(
        bot=bot, cog=cog, corpus=corpus, settings=settings, library=service.library, model=model
    )
    model.hold.set()
    await bot.db.close()
    service.close()


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


# ---------------------------------------------------------------- /reindex


async def test_reindex_edits_progress_then_summary_and_records_it(env):
    (env.corpus / "03_new.txt").write_text(
        article("Doha round", "Envoys met in Doha for a third round."), "utf-8"
    )
    (env.corpus / "bad.md").write_bytes(b"\x00\x01\x02binary")
    interaction = admin(env.bot)
    assert await invoke(env.cog, "reindex", interaction)
    assert interaction.kinds()[0] == "defer" and interaction.log[0].ephemeral
    edits = [call for _, call in interaction.edits]
    assert edits and edits[0].embeds[0].title == "Re-indexing…"
    summary = edits[-1].embeds[0]
    assert summary.title == "Re-index finished" and check_embed(summary) == []
    assert "**1** added" in summary.description and "**3** unchanged" in summary.description
    assert "chunks" in summary.description and " s" in summary.description
    fields = {f.name: f.value for f in summary.fields}
    assert fields["Added (1)"] == "03\\_new.txt"
    assert "bad.md" in fields["Skipped files (1)"] and "binary" in fields["Skipped files (1)"]
    assert "03_new.txt" in env.library.version.articles
    run = await env.bot.db.last_reindex()
    assert run["outcome"] == "ok" and run["user_id"] == 1 and run["report"]["added"] == ["03_new.txt"]
    recorded = await actions(env.bot, "reindex")
    assert recorded[-1]["outcome"] == "ok" and json.loads(recorded[-1]["detail"])["added"] == 1
    assert env.cog.running is None


async def test_noop_reindex_says_nothing_to_do(env):
    interaction = admin(env.bot)
    await invoke(env.cog, "reindex", interaction)
    summary = interaction.last_embed()
    assert summary.title == "Re-index: nothing to do" and "nothing was rebuilt" in summary.description
    assert (await actions(env.bot, "reindex"))[-1]["outcome"] == "ok: nothing to do"


async def test_second_reindex_is_refused_with_progress_while_one_runs(env):
    (env.corpus / "03_new.txt").write_text(article("Doha round", "Envoys met in Doha."), "utf-8")
    env.model.hold.clear()
    env.model.entered.clear()
    first = admin(env.bot, user_id=1)
    task = asyncio.create_task(invoke(env.cog, "reindex", first))
    try:
        assert await asyncio.to_thread(env.model.entered.wait, 60)
        second = admin(env.bot, user_id=9)
        await invoke(env.cog, "reindex", second)
        assert second.kinds() == ["send_message"] and second.log[0].ephemeral
        assert "already running" in second.log[0].content and "embedding 0/1 chunks" in second.log[0].content
        # an upload meanwhile is saved but told the same, not queued silently
        upload = admin(env.bot, user_id=9)
        await invoke(
            env.cog,
            "add-article",
            upload,
            file=FakeAttachment("later.txt", article("Later", "Envoys met later.").encode()),
        )
        assert (env.corpus / "later.txt").exists()
        assert "already running" in upload.texts() and "/reindex" in upload.texts()
        # a re-index of the same data dir elsewhere (the CLI) is refused by the lock too
        from index.library import Library

        with pytest.raises(Exception, match="already running"):
            Library(env.settings.library_config(), embed_model=env.model).reindex()
    finally:
        env.model.hold.set()
        assert await asyncio.wait_for(task, 120)
    assert first.last_embed().title == "Re-index finished"
    outcomes = [(a["user_id"], a["action"], a["outcome"]) for a in await actions(env.bot)]
    assert (9, "reindex", "refused: already running") in outcomes
    assert (1, "reindex", "ok") in outcomes


async def test_progress_edits_are_throttled(env):
    state = ProgressState()
    interaction = admin(env.bot)
    await interaction.response.defer(ephemeral=True)
    env.cog.progress_interval = 0.4
    stop = asyncio.Event()

    async def busy_updates():
        i = 0
        while not stop.is_set():
            i += 1
            state.update("embedding", i, 10_000)
            await asyncio.sleep(0.005)

    updater = asyncio.create_task(busy_updates())
    editor = asyncio.create_task(env.cog._edit_progress(interaction, state, "Re-indexing…", "Admin"))
    await asyncio.sleep(1.3)
    editor.cancel()
    stop.set()
    await updater
    with pytest.raises(asyncio.CancelledError):
        await editor
    times = [t for t, _ in interaction.edits]
    assert 2 <= len(times) <= 4  # ~1.3 s / 0.4 s, not one per update (hundreds)
    assert all(b - a >= 0.35 for a, b in zip(times, times[1:]))
    assert all(check_embed(call.embeds[0]) == [] for _, call in interaction.edits)


async def test_failed_reindex_reports_and_keeps_serving(env, monkeypatch):
    version = env.library.version.name

    def broken(*a, **kw):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(env.library, "reindex", broken)
    interaction = admin(env.bot)
    await invoke(env.cog, "reindex", interaction)
    embed = interaction.last_embed()
    assert (
        embed.title == "Re-index failed"
        and "disk on fire" in embed.description
        and "still serving" in embed.description
    )
    assert env.library.version.name == version and env.cog.running is None
    assert (await actions(env.bot, "reindex"))[-1]["outcome"] == "failed"


async def test_version_published_by_the_cli_is_picked_up(env):
    from index.library import Library

    before = env.library.version.name
    assert await env.cog.refresh_once() is False  # nothing new
    (env.corpus / "04_cli.txt").write_text(article("CLI added", "Envoys met in Jeddah on Monday."), "utf-8")
    cli = Library(env.settings.library_config(), embed_model=env.model).reindex()
    assert cli.published and env.library.version.name == before
    assert await env.cog.refresh_once() is True
    assert env.library.version.name == cli.version and "04_cli.txt" in env.library.version.articles


# ---------------------------------------------------------------- /add-article


async def test_add_article_saves_and_indexes_incrementally(env):
    interaction = admin(env.bot)
    file = FakeAttachment(
        "Jeddah talks.md",
        article("Jeddah talks", "Ukraine accepted a 30-day ceasefire proposal in Jeddah.").encode(),
    )
    await invoke(env.cog, "add-article", interaction, file=file)
    assert (env.corpus / "Jeddah talks.md").read_bytes() == file.data
    summary = interaction.last_embed()
    assert summary.title == "Re-index finished" and "**1** added" in summary.description
    assert "Saved" in summary.description and check_embed(summary) == []
    assert "Jeddah talks.md" in env.library.version.articles
    hits = env.library.search("30-day ceasefire proposal Jeddah")
    assert hits[0].node.metadata["doc"] == "Jeddah talks.md"
    outcomes = [(a["action"], a["outcome"]) for a in await actions(env.bot)]
    assert outcomes == [("add-article", "saved"), ("reindex", "ok")]


@pytest.mark.parametrize(
    "filename,data,size,reason,downloaded",
    [
        ("../../x.txt", b"Title: X\n\nBody.\n", None, "path", False),
        ("report.pdf", b"%PDF-1.4", None, "only .txt or .md", False),
        ("big.txt", b"x", 10_000_000, "too big", False),
        ("binary.txt", b"\x00\x01\x02\x03 not text", None, "binary", True),
        ("latin1.txt", "Caf\xe9".encode("latin-1"), None, "not UTF-8", True),
        ("empty.md", b"   \n", None, "empty", True),
        (".hidden.txt", b"Body.", None, "hidden", False),
    ],
)
async def test_bad_uploads_are_refused_with_a_reason(env, tmp_path, filename, data, size, reason, downloaded):
    before = sorted(p.name for p in env.corpus.iterdir())
    file = FakeAttachment(filename, data, size)
    interaction = admin(env.bot)
    await invoke(env.cog, "add-article", interaction, file=file)
    assert reason in interaction.texts()
    assert all(call.ephemeral for call in interaction.log if call.kind in ("send_message", "defer"))
    assert file.reads == (1 if downloaded else 0)
    assert sorted(p.name for p in env.corpus.iterdir()) == before
    assert not (tmp_path / "x.txt").exists()
    recorded = await actions(env.bot, "add-article")
    assert recorded[-1]["outcome"].startswith("rejected: ") and reason in recorded[-1]["outcome"]


async def test_existing_name_asks_for_confirmation_then_cancel_or_replace(env):
    original = (env.corpus / "00_geneva.txt").read_bytes()
    new = article("Geneva talks", "Delegations met in Geneva again and agreed on a prisoner swap.").encode()
    interaction = admin(env.bot)
    await invoke(env.cog, "add-article", interaction, file=FakeAttachment("00_geneva.txt", new))
    prompt = interaction.log[-1]
    assert "already exists" in prompt.content and isinstance(prompt.view, ConfirmReplaceView)
    assert (env.corpus / "00_geneva.txt").read_bytes() == original
    view = prompt.view

    stranger = admin(env.bot, user_id=42)
    assert await view.interaction_check(stranger) is False
    assert "Only the admin who uploaded" in stranger.log[0].content

    click = admin(env.bot)
    assert await view.interaction_check(click) is True
    await view.cancel.callback(click)
    assert click.log[0].kind == "edit_message" and "nothing was changed" in click.log[0].content
    assert (env.corpus / "00_geneva.txt").read_bytes() == original

    interaction = admin(env.bot)
    await invoke(env.cog, "add-article", interaction, file=FakeAttachment("00_geneva.txt", new))
    view = interaction.log[-1].view
    click = admin(env.bot)
    await view.replace.callback(click)
    assert (env.corpus / "00_geneva.txt").read_bytes() == new
    summary = click.last_embed()
    assert summary.title == "Re-index finished" and "**1** changed" in summary.description
    assert "Replaced" in summary.description
    outcomes = [a["outcome"] for a in await actions(env.bot, "add-article")]
    assert outcomes == [
        "awaiting confirmation: file exists",
        "cancelled",
        "awaiting confirmation: file exists",
        "replaced",
    ]


async def test_confirmation_by_a_demoted_admin_is_refused(env):
    interaction = AdminInteraction(env.bot, user_id=8, roles=[ADMIN_ROLE])
    await invoke(
        env.cog, "add-article", interaction, file=FakeAttachment("00_geneva.txt", b"Title: G\n\nNew body.\n")
    )
    view = interaction.log[-1].view
    demoted = AdminInteraction(env.bot, user_id=8, roles=[])
    assert await view.interaction_check(demoted) is False
    assert demoted.log[0].content == NOT_ALLOWED


async def test_unconfirmed_replacement_expires(env):
    interaction = admin(env.bot)
    await invoke(
        env.cog, "add-article", interaction, file=FakeAttachment("00_geneva.txt", b"Title: G\n\nNew body.\n")
    )
    view = interaction.log[-1].view
    await view.on_timeout()
    assert "nothing was changed" in interaction.log[-1].content and interaction.log[-1].view is None
    assert (await actions(env.bot, "add-article"))[-1]["outcome"] == "expired: not confirmed"


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


# ---------------------------------------------------------------- rendering limits


names = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=300)


@hsettings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    added=st.lists(names, max_size=400),
    changed=st.lists(names, max_size=50),
    removed=st.lists(names, max_size=50),
    skipped=st.lists(st.tuples(names, names), max_size=200),
    recovered=st.one_of(st.none(), names),
)
def test_summary_always_fits_discord_limits(added, changed, removed, skipped, recovered):
    report = ReindexReport(
        added=added,
        changed=changed,
        removed=removed,
        unchanged=["u"] * 5000,
        skipped=skipped,
        chunks=123456,
        embedded_chunks=99,
        seconds=3725.4,
        version="v-000001-x-y",
        published=bool(added or changed or removed),
        recovered=recovered,
    )
    embed = render_summary(report, note="Saved `x.txt` (12 KB).\nNote: " + "long warning " * 200)
    assert check_embed(embed) == []
    total = sum(len(f.name) + len(f.value) for f in embed.fields) + len(embed.title) + len(embed.description)
    assert total <= EMBED_TOTAL_MAX
    for field in embed.fields:
        if "… and" in field.value:
            assert field.value.rsplit("… and ", 1)[1].split(" ")[0].replace(",", "").isdigit()


def test_summary_escapes_names_and_counts_the_rest():
    report = ReindexReport(
        added=["@everyone.txt", "*bold*_x.md", "<@123>.txt"] + [f"a{i:04d}.txt" for i in range(500)],
        skipped=[("big.txt", "too large (6,000,000 bytes; the limit is 5,000,000)")],
        published=True,
    )
    embed = render_summary(report)
    added = embed.fields[0].value
    assert "@\u200beveryone" in added and "\\*bold\\*\\_x.md" in added and "\\<@\u200b123>" in added
    assert added.endswith("more") and embed.fields[0].name == "Added (503)"
    assert "too large" in embed.fields[1].value


@pytest.mark.parametrize("stage", ["starting", "reading", "chunking", "embedding", "writing", "publishing"])
def test_progress_fits_and_shows_counts_and_eta(stage):
    state = ProgressState(started=0.0)
    for s, total in (
        ("reading", 1000),
        ("chunking", 1000),
        ("embedding", 4000),
        ("writing", 1),
        ("publishing", 1),
    ):
        state.update(s, 0, total, now=1.0)
        if s == stage:
            state.update(s, total // 4, total, now=11.0)
            break
        state.update(s, total, total, now=1.0)
    embed = render_progress(state, who="@everyone <@1> " + "x" * 500, now=11.0)
    assert check_embed(embed) == []
    assert "@everyone" not in embed.description
    if stage == "embedding":
        assert "1,000/4,000 chunks (25%)" in embed.description and "about 30 s left" in embed.description
        assert "✅ Chunking articles (1,000 articles)" in embed.description


def test_sources_page_fits_with_huge_titles():
    articles = {
        f"{'n' * 200}{i}.txt": {
            "title": "T*" * 300 + "@everyone",
            "source": "S" * 500,
            "published": "2025-01-01",
            "chunks": i,
        }
        for i in range(40)
    }
    entries = source_entries(articles)
    for page in range(4):
        embed = render_sources_page(entries, page, version="v-000002-x-y")
        assert check_embed(embed) == [] and "@everyone" not in embed.description


def test_sources_are_newest_first_then_undated():
    entries = source_entries(
        {"a.txt": {"published": "2024-01-01"}, "b.txt": {"published": "2025-06-01"}, "c.txt": {}}
    )
    assert [doc for doc, _ in entries] == ["b.txt", "a.txt", "c.txt"]


def test_stats_fit_with_long_questions():
    stats = Stats(
        answered=10**6,
        refused=10**5,
        latency_p50_ms=1234.0,
        latency_p95_ms=98765.0,
        votes_up=5,
        votes_down=7,
        top_questions=[("Q" * 4000 + " @here", 10**6)] * 5,
    )
    report = ReindexReport(
        added=["x"] * 3, skipped=[("a", "b")], chunks=10, seconds=2.0, finished="2026-01-01T00:00:00Z"
    )
    embed = render_stats(
        stats, last_report=report, last_run={"user_id": 1, "started": 0.0, "outcome": "ok" * 2000}, now=100.0
    )
    assert check_embed(embed) == [] and "@here" not in embed.fields[3].value

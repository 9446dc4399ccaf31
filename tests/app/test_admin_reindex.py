"""Admin commands that change the index, driven with fake interactions over a real (tiny) index:
/reindex progress and summary, one re-index at a time, throttled progress edits, failures, a version
published by the CLI; the /add-article flow (incremental indexing, refused uploads, confirming a
replacement).
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.app.admin_render import ProgressState, check_embed
from bot.app.cogs.admin import ConfirmReplaceView
from bot.app.permissions import NOT_ALLOWED
from tests.app.admin_support import (
    ADMIN_ROLE,
    AdminInteraction,
    FakeAttachment,
    actions,
    admin,
    article,
    invoke,
)

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
    # Only the added file was looked at: the cost of one article, whatever the corpus size.
    assert env.library.last_report.partial and env.library.last_report.added == ["Jeddah talks.md"]
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

"""/add-url and /feeds driven with fake interactions over a real (tiny) index and the local news
site: admins only, the reply names the saved title, source and date, bad pages are refused with
nothing saved, feeds are subscribed, listed, removed and polled in the background (answers keep
flowing meanwhile), and /stats shows the last poll with its errors."""

from __future__ import annotations

import asyncio
import json
import re
from types import SimpleNamespace

import discord
import pytest
from discord import app_commands

from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.cogs.admin import AdminCog
from bot.app.cogs.news import NewsCog
from bot.app.db import Database
from bot.app.permissions import NOT_ALLOWED
from bot.app.render import ZWSP
from bot.settings import Settings
from index.articles import read_article
from index.web.config import WebConfig
from index.web.ingest import WebIngest
from tests.app.admin_support import actions, admin, article, member
from tests.helpers.web_fixture import ATOM, RSS, TALKS, TALKS_AMP

TALKS_TITLE = "Envoys agree on a sailor exchange at Istanbul talks"


@pytest.fixture
async def news_bot(tmp_path, embed_model, news_site):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "00_geneva.txt").write_text(
        article("Geneva talks", "Delegations met in Geneva to discuss a ceasefire along the front line."),
        "utf-8",
    )
    settings = Settings(
        _env_file=None,
        corpus_dir=corpus,
        data_dir=tmp_path / "data",
        fetch_allow_private=True,
        fetch_timeout_s=3,
        feed_poll_minutes=0,
        admin_guild_ids=[100],  # the fakes' server is an admin server (docs/SECURITY.md)
    )
    service = AnswerService.from_settings(settings, embed_model)
    service.library.reindex()
    bot = NegotiationsBot(settings, service=service, db=Database(settings.database_path), sync_commands=False)
    await bot.db.open()
    await bot.add_cog(AdminCog(bot))
    await bot.add_cog(NewsCog(bot))
    bot.get_cog("AdminCog").progress_interval = 0.05
    yield SimpleNamespace(
        bot=bot,
        cog=bot.get_cog("NewsCog"),
        corpus=corpus,
        library=service.library,
        site=news_site,
        settings=settings,
    )
    await bot.remove_cog("NewsCog")
    await bot.remove_cog("AdminCog")
    await bot.db.close()
    service.close()


def news_command(bot, name: str):
    """``add-url`` or a ``feeds`` subcommand ("feeds add") as the bot registered it."""
    group, _, sub = name.partition(" ")
    command = bot.tree.get_command(group)
    return command.get_command(sub) if sub else command


async def run(cog, name: str, interaction, **kwargs) -> bool:
    """As discord.py runs a slash command: its checks, then the callback; False if refused."""
    command = news_command(cog.bot, name)
    interaction.command = command
    try:
        if not await command._check_can_run(interaction):
            return False
    except app_commands.CheckFailure as exc:
        await cog.cog_app_command_error(interaction, exc)
        return False
    await command.callback(cog, interaction, **kwargs)
    return True


def shown(interaction) -> str:
    """Everything the admin was shown, as Discord displays it (escapes undone)."""
    return re.sub(r"\\(.)", r"\1", interaction.texts()).replace(ZWSP, "")


def corpus_files(corpus) -> list[str]:
    return sorted(p.relative_to(corpus).as_posix() for p in corpus.rglob("*") if p.is_file())


# ---------------------------------------------------------------- permissions


@pytest.mark.parametrize(
    "name,kwargs",
    [
        ("add-url", {"url": TALKS}),
        ("feeds add", {"url": RSS}),
        ("feeds list", {}),
        ("feeds remove", {"url": RSS}),
    ],
)
async def test_news_commands_are_for_admins_only(news_bot, name, kwargs):
    kwargs = {k: news_bot.site.url(v) for k, v in kwargs.items()}
    version = news_bot.library.version.name
    interaction = member(news_bot.bot, roles=[123])
    assert await run(news_bot.cog, name, interaction, **kwargs) is False
    assert [(c.kind, c.ephemeral, c.content) for c in interaction.log] == [
        ("send_message", True, NOT_ALLOWED)
    ]
    assert news_bot.site.requests == [] and corpus_files(news_bot.corpus) == ["00_geneva.txt"]
    assert news_bot.library.version.name == version and await news_bot.bot.db.feeds() == []
    assert [(a["user_id"], a["outcome"]) for a in await actions(news_bot.bot)] == [(2, "denied")]


def test_news_commands_are_hidden_from_members_by_default(news_bot):
    add_url = news_command(news_bot.bot, "add-url")
    assert add_url.default_permissions == discord.Permissions(manage_guild=True) and add_url.guild_only
    group = news_bot.bot.tree.get_command("feeds")
    assert group.default_permissions == discord.Permissions(manage_guild=True) and group.guild_only
    assert all(news_command(news_bot.bot, f"feeds {sub}").checks for sub in ("add", "list", "remove"))


# ---------------------------------------------------------------- /add-url


async def test_add_url_saves_indexes_and_replies_with_title_source_and_date(news_bot):
    interaction = admin(news_bot.bot)
    assert await run(
        news_bot.cog, "add-url", interaction, url=news_bot.site.url(TALKS + "?utm_source=discord")
    )
    assert interaction.kinds()[0] == "defer" and interaction.log[0].ephemeral
    summary = interaction.last_embed()
    assert summary.title == "Re-index finished"
    assert f"Added “{TALKS_TITLE}” — The Harbour Ledger, 2025-05-16" in summary.description
    (doc,) = [name for name in corpus_files(news_bot.corpus) if name.startswith("web/")]
    assert doc in news_bot.library.version.articles  # indexed
    assert f"Saved as {doc}" in shown(interaction)
    outcomes = [(a["action"], a["outcome"]) for a in await actions(news_bot.bot)]
    assert outcomes == [("add-url", "added"), ("reindex", "ok")]
    detail = json.loads((await actions(news_bot.bot, "add-url"))[0]["detail"])
    assert detail["doc"] == doc and detail["canonical_url"] == news_bot.site.url(TALKS)

    answer = await news_bot.bot.service.ask(
        "How many detained merchant sailors will Russia and Ukraine exchange?"
    )
    assert not answer.refused
    cited = [c for c in answer.citations if c.doc == doc]
    body_start = read_article(news_bot.corpus / doc, news_bot.corpus).body_start
    assert cited and all(c.start >= body_start for c in cited)
    assert any("412 detained merchant sailors" in c.quote for c in cited)

    again = admin(news_bot.bot)
    await run(news_bot.cog, "add-url", again, url=news_bot.site.url(TALKS_AMP))
    assert "Already in the library, unchanged: “Envoys agree" in again.last_embed().description
    assert again.last_embed().title == "Re-index: nothing to do"
    assert corpus_files(news_bot.corpus) == ["00_geneva.txt", doc]


@pytest.mark.parametrize(
    "path,reason",
    [
        ("/status/500", "the server answered HTTP 500 Internal Server Error"),
        ("/image.png", "not an HTML page (Content-Type: image/png)"),
        ("/subscribe/wall", "no article text found on the page"),
        ("/redirect/metadata", "refused the redirect to http://169.254.169.254/latest/meta-data/"),
    ],
)
async def test_add_url_refuses_bad_pages_and_saves_nothing(news_bot, path, reason):
    version = news_bot.library.version.name
    interaction = admin(news_bot.bot)
    await run(news_bot.cog, "add-url", interaction, url=news_bot.site.url(path))
    assert interaction.kinds() == ["defer", "edit"]
    assert shown(interaction).strip().startswith(f"Can't add that page: {reason}")
    assert shown(interaction).strip().endswith("Nothing was saved.")
    assert corpus_files(news_bot.corpus) == ["00_geneva.txt"] and news_bot.library.version.name == version
    (recorded,) = await actions(news_bot.bot)
    assert recorded["action"] == "add-url" and recorded["outcome"].startswith("rejected: ")


async def test_add_url_refuses_private_addresses_unless_allowed(news_bot):
    strict = NewsCog(
        news_bot.bot, ingest=WebIngest(WebConfig(), news_bot.corpus)
    )  # FETCH_ALLOW_PRIVATE unset
    interaction = admin(news_bot.bot)
    await run(strict, "add-url", interaction, url=news_bot.site.url(TALKS))
    await strict.ingest.aclose()
    assert "refused: 127.0.0.1 is a loopback address" in shown(interaction)
    assert news_bot.site.requests == [] and corpus_files(news_bot.corpus) == ["00_geneva.txt"]


# ---------------------------------------------------------------- /feeds


async def test_feeds_add_list_remove_and_the_poll_it_starts(news_bot):
    added = admin(news_bot.bot)
    await run(news_bot.cog, "feeds add", added, url=news_bot.site.url(RSS))
    assert "Subscribed to “The Harbour Ledger – World”" in shown(added) and "2 item(s)" in shown(added)
    await news_bot.cog.background_done()  # the poll the subscription started
    poll = news_bot.cog.last_poll
    assert (poll.trigger, poll.added, poll.failed, poll.index_error) == ("discord", 2, 0, None)
    web_docs = [name for name in corpus_files(news_bot.corpus) if name.startswith("web/")]
    assert len(web_docs) == 2 and all(doc in news_bot.library.version.articles for doc in web_docs)

    again = admin(news_bot.bot)
    await run(news_bot.cog, "feeds add", again, url=news_bot.site.url(RSS))
    assert "Already subscribed" in shown(again)
    wrong = admin(news_bot.bot)
    await run(news_bot.cog, "feeds add", wrong, url=news_bot.site.url("/feeds/not-a-feed.xml"))
    assert "Can't subscribe to that feed: not an RSS or Atom feed" in shown(wrong)

    listed = admin(news_bot.bot)
    await run(news_bot.cog, "feeds list", listed)
    embed = listed.last_embed()
    assert embed.title == "News feeds (1)" and "2 article(s) saved" in embed.description
    assert "The Harbour Ledger – World" in embed.description

    removed = admin(news_bot.bot)
    await run(news_bot.cog, "feeds remove", removed, url=news_bot.site.url(RSS))
    assert "Unsubscribed from “The Harbour Ledger – World”" in shown(removed)
    assert "2 saved article(s) stay in the library" in shown(removed)
    assert await news_bot.bot.db.feeds() == [] and len(corpus_files(news_bot.corpus)) == 3
    outcomes = [
        (a["action"], a["outcome"]) for a in await actions(news_bot.bot) if a["action"].startswith("feeds")
    ]
    assert outcomes[0] == ("feeds add", "added") and outcomes[1] == ("feeds add", "exists")
    assert outcomes[2][1].startswith("rejected: not an RSS or Atom feed")
    assert outcomes[3:] == [("feeds list", "ok"), ("feeds remove", "removed")]


async def test_questions_are_answered_while_a_poll_waits_on_a_slow_page(news_bot):
    slow_feed = news_bot.site.page("feed.rss").replace(
        news_bot.site.url("/europe/grain-corridor-geneva").encode(), news_bot.site.url("/slow").encode()
    )
    news_bot.site.serve("/feeds/slow.rss", body=slow_feed, content_type="application/rss+xml")
    await news_bot.bot.db.add_feed(news_bot.site.url("/feeds/slow.rss"), "Slow", None)
    poll = asyncio.create_task(news_bot.cog.poll_once("background"))
    while news_bot.site.hits("/slow") == 0:  # the poll is now waiting for the slow page
        await asyncio.sleep(0.02)
    answer = await news_bot.bot.service.ask("Where did delegations meet to discuss a ceasefire?")
    assert not answer.refused and not poll.done()
    report = await poll
    assert report.added == 1 and report.failed == 1 and "timed out" in report.errors[0]["error"]


async def test_the_background_poller_runs_and_stats_show_the_last_poll(news_bot):
    await news_bot.bot.db.add_feed(news_bot.site.url(ATOM), "Latest", None)
    assert news_bot.cog._poller is None  # FEED_POLL_MINUTES=0: no background polling
    settings = news_bot.settings.model_copy(update={"feed_poll_minutes": 0.001})
    news_bot.bot.settings = settings
    poller = NewsCog(news_bot.bot)
    await poller.cog_load()
    try:
        for _ in range(500):
            if poller.last_poll is not None:
                break
            await asyncio.sleep(0.02)
    finally:
        await poller.cog_unload()
        news_bot.bot.settings = news_bot.settings
    assert poller.last_poll.trigger == "background" and poller.last_poll.added == 1

    interaction = admin(news_bot.bot)
    await news_bot.bot.get_cog("AdminCog").stats.callback(news_bot.bot.get_cog("AdminCog"), interaction)
    fields = {f.name: f.value for f in interaction.last_embed().fields}
    poll_text = fields["Last feed poll"]
    assert "(background): 1 feed(s) · 1 added · 0 updated · 1 failed" in poll_text
    assert "/status/404 — the server answered HTTP 404 Not Found" in poll_text

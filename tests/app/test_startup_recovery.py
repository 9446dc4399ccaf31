"""Issue 15, item 7: a crash right after an upload or in the middle of a re-index is recovered —
admin work is recorded as "started" when it is claimed (and marked interrupted by the next
start), and at start-up the bot re-indexes only what differs between the corpus and the live
index, and removes uploads that never finished.

Names new with these fixes are imported inside the tests that use them, so that each test runs
(and fails) on the code before them, rather than the whole module failing to import."""

from __future__ import annotations

import asyncio
import json
import os
import time

from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.db import Database
from tests.app.admin_support import actions, admin, article, invoke
from tests.app.test_client import FakeService


async def start(settings, embed_model) -> NegotiationsBot:
    bot = NegotiationsBot(
        settings, service=AnswerService.from_settings(settings, embed_model), sync_commands=False
    )
    await bot._async_setup_hook()
    await bot.setup_hook()
    await bot.warm_task  # loads the index, then catches up
    return bot


async def test_an_article_saved_before_a_crash_is_indexed_at_the_next_start(
    make_settings, corpus_dir, embed_model
):
    settings = make_settings()
    bot = await start(settings, embed_model)  # the first start builds the index
    first = bot.service.library.version.name
    await bot.close()

    # saved by /add-article just before the bot died, never indexed; and two upload leftovers
    (corpus_dir / "doha.txt").write_text(
        article("Doha round", "Envoys met in Doha for a third round."), "utf-8"
    )
    stale, fresh = corpus_dir / ".upload-dead.tmp", corpus_dir / ".upload-busy.tmp"
    stale.write_bytes(b"half an upload")
    fresh.write_bytes(b"an upload in flight")
    os.utime(stale, (time.time() - 3600, time.time() - 3600))

    bot = await start(settings, embed_model)
    try:
        library = bot.service.library
        assert "doha.txt" in library.version.articles and library.version.name != first
        run = await bot.db.last_reindex()
        assert run["outcome"] == "ok" and run["user_id"] is None and run["finished"] is not None
        report = run["report"]
        assert report["added"] == ["doha.txt"] and report["removed"] == [] and len(report["unchanged"]) == 1
        assert report["reused_chunks"] > 0 and not report["rebuilt_from_scratch"]  # only the new one embedded
        (action,) = await actions(bot, "reindex")
        assert action["user_id"] is None and action["outcome"] == "ok"
        assert json.loads(action["detail"]) == {"trigger": "start-up", "added": 1, "changed": 0, "removed": 0}
        assert not stale.exists() and fresh.exists()
    finally:
        await bot.close()

    bot = await start(settings, embed_model)  # nothing changed: nothing is re-indexed or recorded
    try:
        assert len(await actions(bot, "reindex")) == 1
    finally:
        await bot.close()


async def test_claimed_work_is_recorded_as_started_before_it_runs(env):
    from bot.app.db import RUNNING, STARTED

    (env.corpus / "03_new.txt").write_text(article("Doha round", "Envoys met in Doha."), "utf-8")
    env.model.hold.clear()
    env.model.entered.clear()
    task = asyncio.create_task(invoke(env.cog, "reindex", admin(env.bot)))
    try:
        assert await asyncio.to_thread(env.model.entered.wait, 60)  # mid-way through the embedding
        assert [(a["action"], a["outcome"]) for a in await actions(env.bot)] == [("reindex", STARTED)]
        run = await env.bot.db.last_reindex()
        assert run["outcome"] == RUNNING and run["finished"] is None
    finally:
        env.model.hold.set()
        await asyncio.wait_for(task, 120)
    assert [(a["action"], a["outcome"]) for a in await actions(env.bot)] == [("reindex", "ok")]
    assert (await env.bot.db.last_reindex())["outcome"] == "ok"


async def test_work_a_crash_left_started_is_marked_interrupted_at_the_next_start(make_settings):
    from bot.app.db import INTERRUPTED, RUNNING, STARTED

    settings = make_settings()
    async with Database(settings.database_path, clock=lambda: time.time() - 60) as db:
        await db.record_admin_action(1, "add-article", {"filename": "x.txt"}, STARTED)
        await db.record_reindex(
            started=time.time() - 60, finished=None, user_id=1, outcome=RUNNING, report=None
        )
    bot = NegotiationsBot(settings, service=FakeService(), sync_commands=False)
    await bot._async_setup_hook()
    await bot.setup_hook()
    try:
        (action,) = await bot.db.admin_actions()
        assert action["outcome"] == INTERRUPTED
        assert (await bot.db.last_reindex())["outcome"] == INTERRUPTED
    finally:
        await bot.close()

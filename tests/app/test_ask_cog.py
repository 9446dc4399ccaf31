"""/ask driven with fake interactions over a real index of seeds/."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from types import SimpleNamespace

import discord
import pytest

from bot.answering import QuestionError
from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot, intents_for
from bot.app.cogs.ask import MSG_ERROR, MSG_LOADING, MSG_UNAVAILABLE, AskCog
from bot.app.cogs.feedback import FeedbackButton, parse_feedback_custom_id
from bot.app.db import Database
from bot.app.render import RenderedMessage, check_limits
from tests.app.fakes import FakeInteraction

QUESTION = "What did Putin agree to?"


@pytest.fixture
async def make_bot(make_settings, seed_answerer, tmp_path):
    made = []

    async def make(service=None, db_path=None, **overrides):
        settings = make_settings(**overrides)
        service = service or AnswerService(seed_answerer)
        bot = NegotiationsBot(
            settings, service=service, db=Database(db_path or settings.database_path), sync_commands=False
        )
        await bot.db.open()
        made.append(bot)
        return bot, AskCog(bot)

    yield make
    for bot in made:
        await bot.db.close()
        bot.service.close()


async def ask(cog, question, user_id=1):
    interaction = FakeInteraction(cog.bot, user_id=user_id)
    await cog.ask.callback(cog, interaction, question=question)
    return interaction


def shown_text(call) -> str:
    parts = [call.content or ""]
    for embed in call.embeds:
        parts += [embed.title or "", embed.description or ""] + [f"{f.name}\n{f.value}" for f in embed.fields]
    return "\n".join(parts)


async def test_ask_defers_then_answers_with_citations_and_buttons(make_bot, caplog):
    bot, cog = await make_bot()
    with caplog.at_level(logging.INFO):
        interaction = await ask(cog, QUESTION)
    assert interaction.kinds() == ["defer", "followup"]
    assert interaction.log[0].kwargs["thinking"] is True and not interaction.log[0].ephemeral
    follow = interaction.log[1]
    assert check_limits([RenderedMessage(follow.embeds)]) == []
    embed = follow.embeds[0]
    assert embed.title == QUESTION and "[1]" in embed.description and embed.fields
    # the quoted span comes from the seed article
    answer_id = parse_feedback_custom_id(follow.view.children[0].custom_id)[0]
    stored = await bot.db.get_answer(answer_id)
    assert stored["question"] == QUESTION and stored["message_id"] is not None and stored["latency_ms"] > 0
    assert stored["citations"] and stored["citations"][0]["quote"][:40] in shown_text(follow).replace(
        "\\", ""
    )
    assert [parse_feedback_custom_id(c.custom_id)[1] for c in follow.view.children] == ["up", "down"]
    assert follow.view.timeout is None
    # one INFO line for the question, with the outcome and latency, without the question's text
    lines = [
        r.getMessage() for r in caplog.records if r.name == "bot.app.cogs.ask" and r.levelno == logging.INFO
    ]
    assert len(lines) == 1 and "outcome=answered" in lines[0] and "latency_ms=" in lines[0]
    assert all("Putin" not in r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)


async def test_refusal_is_answered_not_guessed(make_bot):
    _, cog = await make_bot()
    interaction = await ask(cog, "What is the capital of Mars according to the talks about penguins?")
    follow = interaction.log[-1]
    assert interaction.kinds() == ["defer", "followup"]
    assert "don't say" in follow.embeds[0].description and not follow.embeds[0].fields


@pytest.mark.parametrize(
    "question, expected",
    [
        ("", "empty"),
        ("   \u200b\u200b  ", "empty"),
        ("x" * 10_000, "10,000 characters"),
        ("🙂🙂🙂 🎉", "no words"),
    ],
)
async def test_bad_questions_get_an_ephemeral_message_before_deferring(make_bot, question, expected):
    _, cog = await make_bot()
    interaction = await ask(cog, question)
    assert interaction.kinds() == ["send_message"]
    assert interaction.log[0].ephemeral and expected in interaction.log[0].content


async def test_everyone_and_code_fences_in_the_question_ping_nobody(make_bot):
    bot, cog = await make_bot()
    interaction = await ask(cog, "@everyone ```what``` did <@123456789012345678> Putin agree to?")
    follow = interaction.log[-1]
    assert interaction.kinds() == ["defer", "followup"]
    text = shown_text(follow)
    assert "@everyone" not in text and "<@123456789012345678>" not in text and "```" not in text
    mentions = bot.allowed_mentions
    assert not (mentions.everyone or mentions.users or mentions.roles or mentions.replied_user)


async def test_rate_limit_is_ephemeral_and_checked_before_deferring(make_bot):
    _, cog = await make_bot(rate_limit_questions=2, rate_limit_seconds=60)
    for _ in range(2):
        assert (await ask(cog, QUESTION)).kinds() == ["defer", "followup"]
    limited = await ask(cog, QUESTION)
    assert limited.kinds() == ["send_message"] and limited.log[0].ephemeral
    assert "try again in" in limited.log[0].content and "2 questions" in limited.log[0].content
    assert (await ask(cog, QUESTION, user_id=2)).kinds() == ["defer", "followup"]  # others unaffected


async def test_rate_limit_survives_restart(make_bot, tmp_path):
    path = tmp_path / "shared.sqlite3"
    bot, cog = await make_bot(db_path=path, rate_limit_questions=1, rate_limit_seconds=600)
    assert (await ask(cog, QUESTION)).kinds() == ["defer", "followup"]
    await bot.limiter.flush()  # what close() does before closing the database
    await bot.db.close()
    _, cog2 = await make_bot(db_path=path, rate_limit_questions=1, rate_limit_seconds=600)
    assert (await ask(cog2, QUESTION)).kinds() == ["send_message"]


class FakeLibrary:
    def __init__(self, version=None):
        self.version = version


async def test_still_loading_and_unavailable(make_bot):
    service = SimpleNamespace(library=FakeLibrary(None), close=lambda: None)
    bot, cog = await make_bot(service=service)
    bot.warm_task = asyncio.get_running_loop().create_future()  # the first load is still running
    interaction = await ask(cog, QUESTION)
    assert interaction.kinds() == ["send_message"] and interaction.log[0].ephemeral
    assert interaction.log[0].content == MSG_LOADING.replace("—", "—")
    bot.warm_task.set_result(None)  # loading finished without an index (it failed)
    interaction = await ask(cog, QUESTION)
    assert "isn't available" in interaction.log[0].content and interaction.log[0].content.startswith(
        MSG_UNAVAILABLE[:20]
    )


class FlakyService:
    """Fails once with an unexpected error, then raises a QuestionError, then answers."""

    def __init__(self, real: AnswerService):
        self.real = real
        self.library = real.library
        self.calls = 0

    async def ask(self, question, history=None):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("disk on fire")
        if self.calls == 2:
            raise QuestionError("That question cannot be asked like that.")
        return await self.real.ask(question, history)

    def close(self):
        self.real.close()


async def test_errors_are_reported_logged_and_the_bot_keeps_serving(make_bot, seed_answerer, caplog):
    _, cog = await make_bot(service=FlakyService(AnswerService(seed_answerer)))
    with caplog.at_level(logging.ERROR):
        first = await ask(cog, QUESTION)
    assert first.kinds() == ["defer", "followup"] and first.log[-1].content == MSG_ERROR
    assert "disk on fire" in caplog.text
    second = await ask(cog, QUESTION, user_id=2)
    assert second.log[-1].content == "That question cannot be asked like that."
    third = await ask(cog, QUESTION, user_id=3)
    assert third.log[-1].embeds and third.log[-1].embeds[0].fields


async def test_answers_without_a_database(make_bot, tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("")
    bot, cog = await make_bot(db_path=blocker / "bot.sqlite3")
    assert not bot.db.available
    interaction = await ask(cog, QUESTION)
    follow = interaction.log[-1]
    assert follow.embeds and follow.embeds[0].fields
    assert follow.view is discord.utils.MISSING  # no answer id to vote on


class SlowAnswerer:
    """A real answerer that takes a while (blocking, in the service's threads)."""

    def __init__(self, real, delay: float):
        self.real, self.library, self.delay = real, real.library, delay
        self.threads: set[str] = set()

    def ask(self, question, history=None):
        self.threads.add(threading.current_thread().name)
        time.sleep(self.delay)
        return self.real.ask(question, history)


async def test_answering_never_blocks_the_event_loop(make_bot, seed_answerer):
    slow = SlowAnswerer(seed_answerer, 0.4)
    _, cog = await make_bot(service=AnswerService(slow, workers=2))
    ticks: list[float] = []

    async def heartbeat():
        while True:
            ticks.append(time.perf_counter())
            await asyncio.sleep(0.02)

    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    results = await asyncio.gather(*(ask(cog, QUESTION, user_id=i) for i in range(4)))
    elapsed = time.perf_counter() - started
    beat.cancel()
    assert all(r.kinds() == ["defer", "followup"] and r.log[-1].embeds for r in results)
    assert all(name.startswith("answer") for name in slow.threads)  # the service's pool, not the loop
    gaps = [b - a for a, b in zip(ticks, ticks[1:])]
    assert max(gaps) < 0.3, max(gaps)  # the loop kept running while four answers took 0.8 s+
    assert elapsed >= 0.8  # 4 questions × 0.4 s on 2 workers


async def test_shutdown_finishes_answers_in_flight(make_bot, seed_answerer):
    slow = SlowAnswerer(seed_answerer, 0.5)
    bot, cog = await make_bot(service=AnswerService(slow))
    pending = asyncio.create_task(ask(cog, QUESTION))
    await asyncio.sleep(0.1)
    assert bot.answers_in_flight == 1
    await bot.close()
    interaction = await pending
    assert interaction.kinds() == ["defer", "followup"] and interaction.log[-1].embeds
    assert not bot.db.available  # closed after the answer went out
    late = await ask(cog, QUESTION, user_id=9)
    assert late.kinds() == ["send_message"] and "restarting" in late.log[0].content


def test_intents_are_minimal(make_settings):
    with_mentions = intents_for(make_settings(mention_answers=True))
    assert with_mentions.message_content and with_mentions.guild_messages and with_mentions.guilds
    assert not with_mentions.members and not with_mentions.presences and not with_mentions.dm_messages
    slash_only = intents_for(make_settings(mention_answers=False))
    assert slash_only.value == discord.Intents(guilds=True).value


async def test_feedback_button_round_trip_and_vote(make_bot):
    bot, cog = await make_bot()
    interaction = await ask(cog, QUESTION)
    view = interaction.log[-1].view
    up = view.children[0]
    answer_id, _ = parse_feedback_custom_id(up.custom_id)
    # what discord.py does on a click after a restart: match the template, rebuild the item
    match = FeedbackButton.__discord_ui_compiled_template__.fullmatch(up.custom_id)
    click = FakeInteraction(bot, user_id=55)
    item = await FeedbackButton.from_custom_id(click, up, match)
    assert (item.answer_id, item.vote) == (answer_id, "up")
    await item.callback(click)
    assert click.log[-1].ephemeral and "Thanks" in click.log[-1].content
    down = await FeedbackButton.from_custom_id(
        click, up, FeedbackButton.__discord_ui_compiled_template__.fullmatch(view.children[1].custom_id)
    )
    again = FakeInteraction(bot, user_id=55)
    await down.callback(again)
    assert "Changed your vote" in again.log[-1].content
    assert await bot.db.vote_counts(answer_id) == (0, 1)

"""Issue 15, item 5: notices do not spam and pre-checks cost nothing — the channel allow-list and
the rate limits come before any database read or Discord API call, a notice is posted at most
once per user, kind and window, and /sources and votes have a rate limit."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from bot.answering import Answer
from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.cogs.ask import AskCog
from bot.app.cogs.feedback import FeedbackButton
from bot.app.db import Database
from bot.app.ratelimit import RateLimiter
from tests.app.admin_support import invoke, member
from tests.app.fakes import FakeInteraction
from tests.app.test_threads import BOT_ID, FakeChannel, FakeMessage, FakeThread, RecordingService

QUESTION = f"<@{BOT_ID}> What did Putin agree to?"


@pytest.fixture
async def make_cog(make_settings, seed_answerer):
    made = []

    async def make(**overrides):
        settings = make_settings(answer_in_threads=False, **overrides)
        bot = NegotiationsBot(
            settings,
            service=RecordingService(AnswerService(seed_answerer)),
            db=Database(settings.database_path),
            sync_commands=False,
        )
        bot._connection.user = SimpleNamespace(id=BOT_ID)
        await bot.db.open()
        lookups = bot.lookups = []
        is_bot_thread = bot.db.is_bot_thread

        async def spy(thread_id):
            lookups.append(thread_id)
            return await is_bot_thread(thread_id)

        bot.db.is_bot_thread = spy
        made.append(bot)
        return AskCog(bot)

    yield make
    for bot in made:
        await bot.db.close()
        bot.service.close()


def replies(messages) -> list[str]:
    return [r.content for m in messages for r in m.replies]


async def test_a_flood_of_invalid_mentions_gets_one_reply_per_user(make_cog):
    cog = await make_cog()
    channel = FakeChannel(10)
    flood = [FakeMessage(channel, f"<@{BOT_ID}>", mentions_bot=True) for _ in range(5)]
    for message in flood:
        await cog.on_message(message)
    other = FakeMessage(channel, f"<@{BOT_ID}>", mentions_bot=True, author_id=2)
    await cog.on_message(other)
    assert len(replies(flood)) == 1 and "empty" in replies(flood)[0]
    assert len(replies([other])) == 1  # another user is told too


async def test_a_rate_limited_user_is_told_once_per_window(make_cog):
    cog = await make_cog(rate_limit_questions=1)
    channel = FakeChannel(11)
    await cog.on_message(FakeMessage(channel, QUESTION, mentions_bot=True))
    assert len(channel.sent) == 1  # answered
    flood = [FakeMessage(channel, QUESTION, mentions_bot=True) for _ in range(5)]
    for message in flood:
        await cog.on_message(message)
    assert len(replies(flood)) == 1 and "try again in" in replies(flood)[0]
    assert len(channel.sent) == 1 and len(cog.bot.service.calls) == 1


class Unfetchable(FakeChannel):
    """A channel whose messages must be fetched from Discord's API (counted)."""

    def __init__(self, channel_id):
        super().__init__(channel_id)
        self.fetches = 0

    async def fetch_message(self, message_id):
        self.fetches += 1
        raise AttributeError("not found")  # what the cog treats as "no such message"


def unresolved_reply(channel) -> FakeMessage:
    return FakeMessage(channel, "and then?", reference=SimpleNamespace(message_id=123, resolved=None))


async def test_the_allow_list_comes_before_any_lookup(make_cog):
    cog = await make_cog(answer_channel_ids=[13])
    elsewhere = Unfetchable(14)
    await cog.on_message(FakeMessage(FakeThread(77, elsewhere.id), "What did Putin agree to?"))
    await cog.on_message(unresolved_reply(elsewhere))
    assert cog.bot.lookups == [] and elsewhere.fetches == 0


async def test_the_rate_limit_comes_before_any_lookup(make_cog):
    cog = await make_cog(rate_limit_questions=1)
    channel = Unfetchable(15)
    await cog.on_message(FakeMessage(channel, QUESTION, mentions_bot=True))  # uses up the one question
    thread = FakeThread(78, channel.id)
    await cog.on_message(FakeMessage(thread, "What did Putin agree to?"))
    await cog.on_message(unresolved_reply(channel))
    assert cog.bot.lookups == [] and channel.fetches == 0 and thread.sent == []


async def test_whether_a_thread_is_the_bots_is_looked_up_once(make_cog):
    cog = await make_cog()
    thread = FakeThread(79, 16)
    for _ in range(3):
        await cog.on_message(FakeMessage(thread, "Just chatting here."))
    assert cog.bot.lookups == [79] and thread.sent == []


async def test_sources_pages_are_rate_limited(env):
    env.bot.action_limiter = RateLimiter(2, 60)
    calls = []
    for _ in range(3):
        interaction = member(env.bot)
        await invoke(env.cog, "sources", interaction)
        calls.append(interaction.log[0])
    assert [bool(c.embeds) for c in calls] == [True, True, False]
    assert calls[2].ephemeral and "too often" in calls[2].content


async def test_votes_are_rate_limited(make_settings):
    settings = make_settings(rate_limit_actions=2)
    bot = NegotiationsBot(
        settings, service=SimpleNamespace(library=None), db=Database(settings.database_path)
    )
    assert bot.action_limiter.limit == 2 and bot.action_limiter.window == settings.rate_limit_seconds
    await bot.db.open()
    try:
        ids = [await bot.db.record_answer(Answer("q", "a", False), user_id=1) for _ in range(3)]
        told = []
        for answer_id in ids:
            interaction = FakeInteraction(bot, user_id=5)
            await FeedbackButton(answer_id, "up").callback(interaction)
            told.append(interaction.log[0].content)
        assert [await bot.db.vote_counts(i) for i in ids] == [(1, 0), (1, 0), (0, 0)]
        assert "too often" in told[2]
    finally:
        await bot.db.close()

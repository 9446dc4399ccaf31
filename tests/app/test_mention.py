"""The @mention flow with dpytest: mentions, channel restriction, replies, no pings."""

from __future__ import annotations

import discord
import discord.ext.test as dpytest
import pytest

from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.db import Database

QUESTION = "What did Putin agree to?"


@pytest.fixture
async def make_bot(make_settings, seed_answerer):
    made = []

    async def make(**overrides):
        overrides.setdefault("answer_in_threads", False)  # dpytest has no threads
        settings = make_settings(**overrides)
        # dpytest derives a message's mentions from its guild's member cache, which discord.py only
        # fills with the members intent; the bot itself asks for fewer (see test_intents_are_minimal).
        bot = NegotiationsBot(
            settings,
            service=AnswerService(seed_answerer),
            db=Database(settings.database_path),
            sync_commands=False,
            intents=discord.Intents.all(),
        )
        await bot._async_setup_hook()  # what login() does before setup_hook
        await bot.setup_hook()
        dpytest.configure(bot)
        # dpytest drops a message's reference, components and allowed_mentions: record the
        # payloads discord.py hands to the HTTP layer to check those.
        bot.payloads = []
        send = bot.http.send_message

        async def spy(channel_id, *, params):
            channel = bot.get_channel(channel_id)  # noqa: F841 - dpytest reads its caller's `channel`
            bot.payloads.append(params.payload)
            return await send(channel_id, params=params)

        bot.http.send_message = spy
        made.append(bot)
        return bot

    yield make
    await dpytest.empty_queue()
    for bot in made:
        bot.ws = None  # dpytest's fake websocket cannot be closed
        await bot.close()


def sent_messages() -> list[discord.Message]:
    out = []
    while not dpytest.sent_queue.empty():
        out.append(dpytest.sent_queue.get_nowait())
    return out


def mention(bot) -> str:
    return f"<@{bot.user.id}>"


async def test_mention_is_answered_with_cited_embed_and_buttons(make_bot):
    bot = await make_bot()
    question = await dpytest.message(f"{mention(bot)} {QUESTION}")
    await bot.wait_idle(30)
    replies = sent_messages()
    assert len(replies) == 1
    reply = replies[0]
    embed = reply.embeds[0]
    assert embed.title == QUESTION and "[1]" in embed.description and embed.fields
    stored = await bot.db.answer_for_message(reply.id)
    assert stored is not None and stored["question"] == QUESTION
    assert stored["citations"][0]["quote"][:30] in embed.fields[0].value.replace("\\", "")
    (payload,) = bot.payloads
    assert payload["message_reference"]["message_id"] == question.id  # a reply to the question
    assert payload["allowed_mentions"] == {"parse": [], "replied_user": False}  # that pings no one
    # buttons carry the answer id
    custom_ids = [c["custom_id"] for row in payload["components"] for c in row["components"]]
    assert custom_ids == [f"nb:fb:{stored['id']}:up", f"nb:fb:{stored['id']}:down"]


async def test_plain_messages_are_ignored(make_bot):
    bot = await make_bot()
    await dpytest.message(QUESTION)  # no mention, not a reply, not in a bot thread
    await bot.wait_idle(30)
    assert sent_messages() == []


async def test_mention_only_in_configured_channels(make_bot):
    bot = await make_bot(answer_channel_ids=[1])  # not the test channel
    await dpytest.message(f"{mention(bot)} {QUESTION}")
    await bot.wait_idle(30)
    assert sent_messages() == []


async def test_mention_answers_disabled(make_bot):
    bot = await make_bot(mention_answers=False)
    await dpytest.message(f"{mention(bot)} {QUESTION}")
    await bot.wait_idle(30)
    assert sent_messages() == []


async def test_everyone_in_the_question_pings_nobody(make_bot):
    bot = await make_bot()
    await dpytest.message(f"{mention(bot)} @everyone {QUESTION}")
    await bot.wait_idle(30)
    (reply,) = sent_messages()
    assert "@everyone" not in (reply.embeds[0].title or "")
    assert all(
        p["allowed_mentions"]["parse"] == [] and not p["allowed_mentions"]["replied_user"]
        for p in bot.payloads
    )


async def test_bad_question_and_rate_limit_get_a_short_reply(make_bot):
    bot = await make_bot(rate_limit_questions=1)
    await dpytest.message(f"{mention(bot)}")  # only the mention: an empty question
    await bot.wait_idle(30)
    (empty,) = sent_messages()
    assert "empty" in empty.content and not empty.embeds
    await dpytest.message(f"{mention(bot)} {QUESTION}")
    await bot.wait_idle(30)
    assert sent_messages()[0].embeds
    await dpytest.message(f"{mention(bot)} {QUESTION}")
    await bot.wait_idle(30)
    (limited,) = sent_messages()
    assert "try again in" in limited.content


async def test_thread_fallback_when_threads_cannot_be_opened(make_bot, caplog):
    bot = await make_bot(answer_in_threads=True)  # dpytest cannot create threads: answer in the channel
    await dpytest.message(f"{mention(bot)} {QUESTION}")
    await bot.wait_idle(30)
    (reply,) = sent_messages()
    assert reply.embeds and reply.embeds[0].fields
    assert "could not open a thread" in caplog.text

"""Conversation threads and replies: follow-ups are answered in the context of earlier questions.

dpytest has no threads or message references, so these drive the ask cog's listener with small
fakes of discord.py's channel, thread and message objects (subclasses, so isinstance holds)."""

from __future__ import annotations

import itertools
from types import SimpleNamespace

import discord
import pytest

from bot.answering import contextualize
from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.cogs.ask import AskCog
from bot.app.db import Database

BOT_ID = 999
_ids = itertools.count(50_000)


class Sent(SimpleNamespace):
    pass


class _Sends:
    def _init_sends(self):
        self.sent: list[Sent] = []

    async def send(self, content=None, **kwargs):
        message = Sent(id=next(_ids), content=content, author=SimpleNamespace(id=BOT_ID), **kwargs)
        self.sent.append(message)
        return message


class FakeThread(_Sends, discord.Thread):
    def __init__(self, thread_id: int, parent_id: int, name: str = ""):
        self.id, self.parent_id, self.name = thread_id, parent_id, name
        self._init_sends()

    def __repr__(self):
        return f"<FakeThread {self.id}>"


class FakeChannel(_Sends, discord.TextChannel):
    def __init__(self, channel_id: int):
        self.id = channel_id
        self.name = f"channel-{channel_id}"
        self._init_sends()
        self.opened: list[FakeThread] = []


class FakeMessage:
    def __init__(
        self, channel, content: str, *, author_id: int = 1, mentions_bot: bool = False, reference=None
    ):
        self.id = next(_ids)
        self.channel = channel
        self.content = content
        self.author = SimpleNamespace(id=author_id, bot=False)
        self.guild = SimpleNamespace(id=1)
        self.mentions = [SimpleNamespace(id=BOT_ID)] if mentions_bot else []
        self.reference = reference
        self.type = discord.MessageType.reply if reference else discord.MessageType.default
        self.replies: list[Sent] = []

    async def create_thread(self, *, name: str, auto_archive_duration: int):
        thread = FakeThread(next(_ids), self.channel.id, name)
        self.channel.opened.append(thread)
        return thread

    async def reply(self, content=None, **kwargs):
        self.replies.append(Sent(content=content, **kwargs))


class RecordingService:
    def __init__(self, real: AnswerService):
        self.real, self.library = real, real.library
        self.calls: list[tuple[str, list[str]]] = []

    async def ask(self, question, history=None):
        self.calls.append((question, list(history or [])))
        return await self.real.ask(question, history)

    def close(self):
        self.real.close()


@pytest.fixture
async def cog(make_settings, seed_answerer):
    settings = make_settings()
    bot = NegotiationsBot(
        settings,
        service=RecordingService(AnswerService(seed_answerer)),
        db=Database(settings.database_path),
        sync_commands=False,
    )
    bot._connection.user = SimpleNamespace(id=BOT_ID)
    await bot.db.open()
    yield AskCog(bot)
    await bot.db.close()
    bot.service.close()


async def test_mention_opens_a_thread_and_follow_ups_there_are_answered_in_context(cog):
    channel = FakeChannel(10)
    first = FakeMessage(channel, f"<@{BOT_ID}> What did Putin agree to?", mentions_bot=True)
    await cog.on_message(first)
    (thread,) = channel.opened
    assert thread.name == "What did Putin agree to?"
    assert channel.sent == [] and len(thread.sent) == 1  # the answer is in the thread
    assert thread.sent[0].embeds[0].fields and thread.sent[0].reference is None
    assert await cog.bot.db.is_bot_thread(thread.id)

    follow_up = FakeMessage(thread, "and what about the Black Sea?")  # no mention needed in the bot's thread
    await cog.on_message(follow_up)
    assert len(thread.sent) == 2
    calls = cog.bot.service.calls
    assert calls[0] == ("What did Putin agree to?", [])
    assert calls[1] == ("and what about the Black Sea?", ["What did Putin agree to?"])
    history = await cog.bot.db.thread_history(thread.id)
    assert history == [
        "What did Putin agree to?",
        contextualize("and what about the Black Sea?", ["What did Putin agree to?"]),
    ]

    third = FakeMessage(thread, "who proposed it?")
    await cog.on_message(third)
    assert calls[2][1] == history  # the whole (rewritten) history, so context carries over turns
    stored = await cog.bot.db.get_answer(3)
    assert stored["thread_id"] == thread.id


async def test_reply_to_an_answer_uses_its_question_as_context(cog):
    cog.settings.answer_in_threads = False
    channel = FakeChannel(11)
    await cog.on_message(FakeMessage(channel, f"<@{BOT_ID}> What did Putin agree to?", mentions_bot=True))
    (answer_message,) = channel.sent
    assert answer_message.reference.content.endswith("What did Putin agree to?")
    bot_message = discord.Message.__new__(discord.Message)  # what the reference resolves to
    bot_message.id, bot_message.author = answer_message.id, SimpleNamespace(id=BOT_ID)
    reference = SimpleNamespace(message_id=answer_message.id, resolved=bot_message)
    reply = FakeMessage(channel, "and the Black Sea?", reference=reference)
    await cog.on_message(reply)
    assert len(channel.sent) == 2
    assert cog.bot.service.calls[-1] == ("and the Black Sea?", ["What did Putin agree to?"])


async def test_other_threads_and_replies_to_others_are_ignored(cog):
    channel = FakeChannel(12)
    stranger_thread = FakeThread(77, channel.id)
    await cog.on_message(FakeMessage(stranger_thread, "What did Putin agree to?"))
    other = discord.Message.__new__(discord.Message)
    other.id, other.author = 5, SimpleNamespace(id=4242)
    await cog.on_message(
        FakeMessage(
            channel, "What did Putin agree to?", reference=SimpleNamespace(message_id=5, resolved=other)
        )
    )
    assert stranger_thread.sent == [] and channel.sent == [] and cog.bot.service.calls == []


async def test_channel_restriction_covers_threads_of_allowed_channels(cog):
    cog.settings.answer_channel_ids = [13]
    allowed, elsewhere = FakeChannel(13), FakeChannel(14)
    await cog.on_message(FakeMessage(elsewhere, f"<@{BOT_ID}> What did Putin agree to?", mentions_bot=True))
    assert elsewhere.opened == [] and elsewhere.sent == []
    await cog.on_message(FakeMessage(allowed, f"<@{BOT_ID}> What did Putin agree to?", mentions_bot=True))
    (thread,) = allowed.opened
    await cog.on_message(FakeMessage(thread, "and what about the Black Sea?"))
    assert len(thread.sent) == 2


async def test_slash_ask_inside_the_bots_thread_is_a_follow_up(cog):
    from tests.app.fakes import FakeInteraction

    channel = FakeChannel(15)
    await cog.on_message(FakeMessage(channel, f"<@{BOT_ID}> What did Putin agree to?", mentions_bot=True))
    (thread,) = channel.opened
    interaction = FakeInteraction(cog.bot, user_id=2, channel_id=thread.id)
    interaction.channel = thread
    await cog.ask.callback(cog, interaction, question="and what about the Black Sea?")
    assert interaction.kinds() == ["defer", "followup"]
    assert cog.bot.service.calls[-1] == ("and what about the Black Sea?", ["What did Putin agree to?"])
    assert len(await cog.bot.db.thread_history(thread.id)) == 2
    # elsewhere, /ask has no history
    plain = FakeInteraction(cog.bot, user_id=3, channel_id=99)
    await cog.ask.callback(cog, plain, question="What did Putin agree to?")
    assert cog.bot.service.calls[-1] == ("What did Putin agree to?", [])

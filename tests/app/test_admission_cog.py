"""Issue 15, item 4 in the Discord app: a "busy" or timed-out answer becomes a polite message, and
each server has a question limit beside each user's."""

from __future__ import annotations

import pytest

from bot.answering import AnswerBusy, AnswerTimeout
from bot.answering.service import AnswerService
from bot.app.client import NegotiationsBot
from bot.app.cogs.ask import MSG_BUSY, MSG_TIMEOUT, AskCog
from bot.app.db import Database
from tests.app.fakes import FakeInteraction

QUESTION = "What did Putin agree to?"


class Turning(AnswerService):
    """The real service, but every answer it is asked for raises ``error`` (a lost race for the
    last slot, or a deadline), or it reports itself full."""

    def __init__(self, answerer, error: Exception | None = None, full: bool = False):
        super().__init__(answerer)
        self.error, self._full = error, full

    @property
    def full(self) -> bool:
        return self._full

    async def ask(self, question, history=None):
        if self.error is not None:
            raise self.error
        return await super().ask(question, history)


@pytest.fixture
async def make_cog(make_settings, seed_answerer):
    made = []

    async def make(service=None, **overrides):
        settings = make_settings(**overrides)
        bot = NegotiationsBot(
            settings,
            service=service or AnswerService(seed_answerer),
            db=Database(settings.database_path),
            sync_commands=False,
        )
        await bot.db.open()
        made.append(bot)
        return AskCog(bot)

    yield make
    for bot in made:
        await bot.db.close()
        bot.service.close()


async def ask(cog, user_id=1, guild_id=100):
    interaction = FakeInteraction(cog.bot, user_id=user_id, guild_id=guild_id)
    await cog.ask.callback(cog, interaction, question=QUESTION)
    return interaction


async def test_a_full_service_is_told_politely_before_anything_is_used_up(make_cog, seed_answerer):
    cog = await make_cog(Turning(seed_answerer, full=True), rate_limit_questions=1)
    interaction = await ask(cog)
    assert [(c.kind, c.ephemeral) for c in interaction.log] == [("send_message", True)]
    assert MSG_BUSY in interaction.log[0].content.replace("\\", "")
    assert await cog.bot.limiter.retry_after(1) == 0.0  # the user's question was not used up


@pytest.mark.parametrize(
    "error, message", [(AnswerBusy("full"), MSG_BUSY), (AnswerTimeout("late"), MSG_TIMEOUT)]
)
async def test_busy_or_late_answers_become_a_polite_notice(make_cog, seed_answerer, error, message):
    cog = await make_cog(Turning(seed_answerer, error=error))
    interaction = await ask(cog)
    assert interaction.kinds() == ["defer", "followup"]
    assert interaction.log[1].content.replace("\\", "") == message and not interaction.log[1].embeds


async def test_each_server_has_a_limit_beside_each_users(make_cog):
    cog = await make_cog(rate_limit_questions=5, rate_limit_server_questions=2)
    first, second = await ask(cog, user_id=1), await ask(cog, user_id=2)
    assert first.kinds() == second.kinds() == ["defer", "followup"]
    third = await ask(cog, user_id=3)  # a new user, but the server has used its two
    assert third.kinds() == ["send_message"] and third.log[0].ephemeral
    assert "This server has reached its limit of 2 questions" in third.log[0].content
    elsewhere = await ask(cog, user_id=3, guild_id=200)
    assert elsewhere.kinds() == ["defer", "followup"]

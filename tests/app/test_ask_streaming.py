"""Streamed (generated) answers in the ask cog: paced edits of verified sentences, then the final
authoritative answer with its sources and buttons — for /ask and for @mentions.

The answerer is a scripted stand-in for ``bot.answering.generative.GenerativeAnswerer``: its ``astream`` yields
verified sentences (``StreamedSentence``) at scripted times and then the final ``Answer``, through
the real ``AnswerService.stream`` and the real pacer (``bot.app.pacing.paced``). Time is virtual: the
tests run on an event loop whose clock jumps to the next timer instead of waiting, so the one-second
pacing is checked exactly and instantly (no wall-clock sleeps); the database is the real one.
"""

from __future__ import annotations

import asyncio
import re
import selectors
from types import SimpleNamespace

import discord
import pytest

from bot.answering import Answer, CheckFailure, Fallback, FallbackKind
from bot.answering.generative import StreamedSentence
from bot.answering.service import Admission, AnswerService
from bot.app.client import NegotiationsBot
from bot.app.cogs.ask import EDIT_INTERVAL_S, MSG_ERROR, NO_PINGS, AskCog
from bot.app.cogs.feedback import parse_feedback_custom_id
from bot.app.db import Database
from bot.app.render import RenderedMessage, check_limits
from tests.app.fakes import Call, FakeInteraction

QUESTION = "What did Putin agree to?"
BOT_ID = 4242


# ---------------------------------------------------------------- virtual time


class _JumpingSelector(selectors.DefaultSelector):
    def __init__(self, loop: VirtualClockLoop):
        super().__init__()
        self._loop = loop

    def select(self, timeout=None):
        if timeout is None or timeout <= 0:
            return super().select(timeout)  # nothing scheduled: wait for real I/O (thread results)
        ready = super().select(0)
        if not ready:
            self._loop.virtual_now += timeout  # the next timer is due: let that much time pass at once
        return ready


class VirtualClockLoop(asyncio.SelectorEventLoop):
    """The loop's clock jumps ahead to the next timer instead of waiting for it. Everything on the
    loop (asyncio.sleep, asyncio.wait timeouts, loop.time()) sees one consistent clock; work in
    threads (the database) still takes real time, during which the clock may jump — harmless here,
    since nothing in these tests waits for a thread with a timeout (the one test answering in a
    thread turns the answer deadline off)."""

    def __init__(self):
        self.virtual_now = 0.0
        super().__init__(_JumpingSelector(self))

    def time(self) -> float:
        return self.virtual_now


def run_virtual(main):
    loop = VirtualClockLoop()
    try:
        return loop.run_until_complete(main())
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()


def test_the_virtual_clock_jumps_instead_of_waiting():
    import time

    async def main():
        loop = asyncio.get_running_loop()
        start = loop.time()
        await asyncio.sleep(3600)
        return loop.time() - start

    real = time.monotonic()
    assert run_virtual(main) == pytest.approx(3600)
    assert time.monotonic() - real < 5


# ---------------------------------------------------------------- a scripted generative answerer


class ScriptedStreamer:
    """Stands in for GenerativeAnswerer: ``astream`` yields each scripted item after its delay."""

    def __init__(self, library, script: list[tuple[float, object]], backend: str = "openai"):
        self.library = library
        self.backend = SimpleNamespace(name=backend)
        self.script = script
        self.yielded = 0

    @property
    def finished(self) -> bool:
        return self.yielded == len(self.script)

    async def astream(self, question, history=None, executor=None, deadline=None):
        for delay, item in self.script:
            await asyncio.sleep(delay)
            self.yielded += 1
            if isinstance(item, Exception):
                raise item
            yield item


def sentence(i: int, text: str, citations=()) -> StreamedSentence:
    return StreamedSentence(i, text, tuple(citations))


SENTENCES = [
    "Putin agreed to a pause in attacks on energy infrastructure [1].",
    "He ordered the military to comply [1].",
    "Talks on the Black Sea were to begin [1].",
    "The White House said the call went well [1].",
    "Both leaders spoke of a lasting peace [1].",
]


def generated(real: Answer, sentences: list[str], backend: str = "openai") -> Answer:
    """The final answer a model backend returns for ``sentences``: cited by the real citation [1]."""
    return Answer(
        question=real.question,
        answer=" ".join(sentences),
        refused=False,
        citations=real.citations[:1],
        backend=backend,
        index_version=real.index_version,
    )


@pytest.fixture(scope="module")
def real_answer(seed_answerer) -> Answer:
    answer = seed_answerer.ask(QUESTION)
    assert answer.citations and not answer.refused
    return answer


async def make_bot(make_settings, library, script, backend="openai", **overrides):
    settings = make_settings(**overrides)
    streamer = ScriptedStreamer(library, script, backend)
    bot = NegotiationsBot(
        settings, service=AnswerService(streamer), db=Database(settings.database_path), sync_commands=False
    )
    await bot.db.open()
    bot._connection.user = SimpleNamespace(id=BOT_ID)  # what login would set (mentions are stripped by id)
    cog = AskCog(bot)
    return bot, cog, streamer


async def close(bot) -> None:
    await bot.limiter.flush()
    await bot.db.close()
    bot.service.close()


# ---------------------------------------------------------------- what was shown


def unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text or "").replace("\u200b", "")


def description(call: Call) -> str:
    return unescape(" ".join(e.description or "" for e in call.embeds))


def footer(call: Call) -> str:
    return call.embeds[-1].footer.text or ""


def quotes(call: Call) -> list[str]:
    return [unescape(f.value) for e in call.embeds for f in e.fields]


def assert_paced(calls: list[Call], interval: float = EDIT_INTERVAL_S) -> None:
    times = [c.t for c in calls]
    gaps = [b - a for a, b in zip(times, times[1:])]
    assert all(gap >= interval - 1e-6 for gap in gaps), f"edits closer than {interval} s: {gaps}"


def assert_verified_prefixes(drafts: list[Call], sentences: list[str]) -> list[int]:
    """Each draft shows the first k verified sentences, whole, k growing; returns the k's."""
    counts = []
    for call in drafts:
        shown = description(call)
        k = next((k for k in range(1, len(sentences) + 1) if shown == " ".join(sentences[:k])), None)
        assert k is not None, f"a draft shows something other than whole verified sentences: {shown!r}"
        assert not any(e.fields for e in call.embeds), "sources come with the final answer"
        assert "Writing with the OpenAI-compatible model" in footer(call)
        counts.append(k)
    assert counts == sorted(set(counts)), f"drafts must only extend the text: {counts}"
    return counts


def assert_no_pings(calls: list[Call]) -> None:
    for call in calls:
        assert call.kwargs.get("allowed_mentions") is NO_PINGS, call


# ---------------------------------------------------------------- /ask


def test_ask_streams_paced_verified_sentences_then_the_final_answer_with_sources_and_buttons(
    make_settings, seed_answerer, real_answer
):
    final = generated(real_answer, SENTENCES)
    # s0 at 0.2 s; s1-s3 within the next second (coalesced into one edit); s4 1.5 s later; then the answer
    script = [
        (0.2, sentence(0, SENTENCES[0])),
        (0.3, sentence(1, SENTENCES[1])),
        (0.3, sentence(2, SENTENCES[2])),
        (0.3, sentence(3, SENTENCES[3])),
        (1.5, sentence(4, SENTENCES[4])),
        (0.2, final),
    ]

    async def main():
        bot, cog, streamer = await make_bot(make_settings, seed_answerer.library, script)
        try:
            interaction = FakeInteraction(bot)
            await cog.ask.callback(cog, interaction, question=QUESTION)
            stored = await bot.db.get_answer(
                parse_feedback_custom_id(interaction.log[-1].view.children[0].custom_id)[0]
            )
            return interaction, stored, streamer
        finally:
            await close(bot)

    interaction, stored, streamer = run_virtual(main)
    assert streamer.finished
    kinds = interaction.kinds()
    assert kinds[0] == "defer" and set(kinds[1:]) == {"edit_original"}, kinds  # one message, edited
    edits = interaction.log[1:]
    drafts, last = edits[:-1], edits[-1]
    assert_paced(edits)
    counts = assert_verified_prefixes(drafts, SENTENCES)
    assert counts[0] == 1 and counts[-1] == len(SENTENCES)
    assert len(drafts) < len(SENTENCES), "sentences arriving within a second are shown in one edit"
    assert drafts[0].t == pytest.approx(0.2), "the first verified sentence is shown at once"
    # the final edit: the authoritative answer, its sources (exact quotes) and the feedback buttons
    assert description(last) == final.answer
    assert quotes(last) and real_answer.citations[0].quote[:50] in quotes(last)[0]
    assert "Written by the OpenAI-compatible model" in footer(last)
    assert [parse_feedback_custom_id(c.custom_id)[1] for c in last.view.children] == ["up", "down"]
    for call in edits:
        assert check_limits([RenderedMessage(call.embeds)]) == []
    assert_no_pings(edits)
    # what is stored is the final answer, pointing at the edited message
    assert (
        stored["answer"] == final.answer
        and stored["backend"] == "openai"
        and stored["fallback_reason"] is None
    )
    assert stored["message_id"] == interaction.original_id and stored["citations"]


def test_a_fallback_replaces_the_streamed_text(make_settings, seed_answerer, real_answer):
    fallback = Answer(
        real_answer.question,
        real_answer.answer,
        False,
        list(real_answer.citations),
        backend="extractive",
        fallback=Fallback(
            FallbackKind.REJECTED,
            "rejected: sentence 2 not supported by the cited source: the name “Mars” is "
            "not in the cited source: 'The capital of Mars is Paris [1].'",
            2,
            CheckFailure.UNSUPPORTED,
        ),
        index_version=real_answer.index_version,
    )
    script = [(0.5, sentence(0, SENTENCES[1])), (2.0, fallback)]

    async def main():
        bot, cog, _ = await make_bot(make_settings, seed_answerer.library, script)
        try:
            interaction = FakeInteraction(bot)
            await cog.ask.callback(cog, interaction, question=QUESTION)
            answer_id = parse_feedback_custom_id(interaction.log[-1].view.children[0].custom_id)[0]
            return interaction, await bot.db.get_answer(answer_id)
        finally:
            await close(bot)

    interaction, stored = run_virtual(main)
    assert interaction.kinds() == ["defer", "edit_original", "edit_original"]
    draft, last = interaction.log[1:]
    assert description(draft) == SENTENCES[1]
    assert_paced([draft, last])
    assert description(last) == real_answer.answer and SENTENCES[1] not in description(last)
    assert "Extractive answer" in footer(
        last
    ) and "sentence 2 is not supported by the source it cites" in footer(last)
    assert not any(
        "Mars" in unescape(c.embeds[-1].footer.text) + description(c) for c in interaction.log[1:]
    ), "the rejected sentence is not shown, not even in the reason"
    assert real_answer.citations[0].quote[:50] in quotes(last)[0] and last.view.children
    assert stored["backend"] == "extractive" and stored["fallback_reason"].startswith("rejected")


def test_a_fallback_before_any_sentence_is_sent_like_an_extractive_answer(
    make_settings, seed_answerer, real_answer
):
    fallback = Answer(
        real_answer.question,
        real_answer.answer,
        False,
        list(real_answer.citations),
        backend="extractive",
        fallback=Fallback(FallbackKind.TIMED_OUT, "timed out after 30 s (0 sentence(s) verified by then)"),
    )

    async def main():
        bot, cog, _ = await make_bot(make_settings, seed_answerer.library, [(30.0, fallback)])
        try:
            interaction = FakeInteraction(bot)
            await cog.ask.callback(cog, interaction, question=QUESTION)
            return interaction
        finally:
            await close(bot)

    interaction = run_virtual(main)
    assert interaction.kinds() == ["defer", "followup"]  # no edits: nothing was streamed
    assert description(interaction.log[1]) == real_answer.answer and "timed out" in footer(interaction.log[1])


def test_extractive_answers_are_not_streamed(make_settings, seed_answerer):
    """ANSWER_BACKEND=extractive: the service does not stream and the cog sends one message, unedited."""

    async def main():
        settings = make_settings()
        bot = NegotiationsBot(
            settings,
            # no answer deadline: on the virtual clock it would pass at once while a thread works
            service=AnswerService(seed_answerer, admission=Admission(timeout_s=None)),
            db=Database(settings.database_path),
            sync_commands=False,
        )
        await bot.db.open()
        try:
            assert not bot.service.streams and bot.service.backend_name == "extractive"
            interaction = FakeInteraction(bot)
            await AskCog(bot).ask.callback(AskCog(bot), interaction, question=QUESTION)
            return interaction
        finally:
            await close(bot)

    interaction = run_virtual(main)
    assert interaction.kinds() == ["defer", "followup"] and interaction.log[1].view.children


def test_a_long_streamed_answer_stays_within_discord_limits(make_settings, seed_answerer, real_answer):
    longs = [
        f"Sentence {i} " + "about the negotiations in great detail " * 55 + "[1]." for i in range(4)
    ]  # ~2,200 chars each
    final = generated(real_answer, longs)
    script = [(1.2, sentence(i, text)) for i, text in enumerate(longs)] + [(0.1, final)]

    async def main():
        bot, cog, _ = await make_bot(make_settings, seed_answerer.library, script)
        try:
            interaction = FakeInteraction(bot)
            await cog.ask.callback(cog, interaction, question=QUESTION)
            return interaction
        finally:
            await close(bot)

    interaction = run_virtual(main)
    kinds = interaction.kinds()
    assert (
        kinds[:2] == ["defer", "edit_original"] and "followup" in kinds
    )  # the final answer continues in a follow-up
    first_followup = kinds.index("followup")
    assert set(kinds[1:first_followup]) == {"edit_original"} and set(kinds[first_followup:]) == {"followup"}
    for call in interaction.log[1:]:
        assert check_limits([RenderedMessage(call.embeds)]) == [], call.kind
    assert_paced(interaction.log[1:first_followup])
    last = interaction.log[-1]
    assert last.view.children and quotes(last), "the last message carries the sources and the buttons"
    shown = " ".join(description(c) for c in interaction.log[first_followup - 1 :])
    assert " ".join(shown.split()) == " ".join(final.answer.split())


def test_an_error_after_drafts_replaces_them_with_the_notice(make_settings, seed_answerer, caplog):
    script = [(0.2, sentence(0, SENTENCES[0])), (1.5, RuntimeError("the answer threads were shut down"))]

    async def main():
        bot, cog, _ = await make_bot(make_settings, seed_answerer.library, script)
        try:
            interaction = FakeInteraction(bot)
            await cog.ask.callback(cog, interaction, question=QUESTION)
            return interaction
        finally:
            await close(bot)

    interaction = run_virtual(main)
    assert interaction.kinds() == ["defer", "edit_original", "edit_original"]
    last = interaction.log[-1]
    assert last.content == MSG_ERROR and last.embeds == [] and last.kwargs["allowed_mentions"] is NO_PINGS
    assert "the answer threads were shut down" in caplog.text


class EditFails(FakeInteraction):
    async def edit_original_response(self, **kw):
        raise discord.HTTPException(SimpleNamespace(status=500, reason="Server Error"), "edit failed")


def test_a_failed_draft_edit_stops_drafts_and_the_answer_still_arrives(
    make_settings, seed_answerer, real_answer
):
    final = generated(real_answer, SENTENCES[:3])
    script = [
        (0.2, sentence(0, SENTENCES[0])),
        (1.2, sentence(1, SENTENCES[1])),
        (1.2, sentence(2, SENTENCES[2])),
        (0.1, final),
    ]

    async def main():
        bot, cog, _ = await make_bot(make_settings, seed_answerer.library, script)
        try:
            interaction = EditFails(bot)
            await cog.ask.callback(cog, interaction, question=QUESTION)
            return interaction
        finally:
            await close(bot)

    interaction = run_virtual(main)
    assert interaction.kinds() == ["defer", "followup"]
    assert description(interaction.log[1]) == final.answer and interaction.log[1].view.children


# ---------------------------------------------------------------- @mentions


class FakeSent:
    def __init__(self, channel: FakeChannel):
        self.channel, self.id = channel, next(FakeChannel.ids)

    async def edit(
        self, *, content=discord.utils.MISSING, embeds=discord.utils.MISSING, view=discord.utils.MISSING, **kw
    ):
        self.channel.log.append(
            Call(
                "edit",
                None if content is discord.utils.MISSING else content,
                [] if embeds is discord.utils.MISSING else embeds,
                view,
                False,
                kw | {"message_id": self.id},
            )
        )
        return self


class FakeChannel:
    ids = iter(range(50_000, 60_000))

    def __init__(self, channel_id: int = 300):
        self.id = channel_id
        self.log: list[Call] = []

    async def send(self, content=None, *, embeds=None, view=discord.utils.MISSING, **kw):
        sent = FakeSent(self)
        self.log.append(Call("send", content, embeds or [], view, False, kw | {"message_id": sent.id}))
        return sent


def test_a_mention_reply_is_sent_with_the_first_sentence_then_edited(
    make_settings, seed_answerer, real_answer
):
    final = generated(real_answer, SENTENCES[:4])
    script = [
        (0.3, sentence(0, SENTENCES[0])),
        (0.4, sentence(1, SENTENCES[1])),
        (0.4, sentence(2, SENTENCES[2])),
        (1.1, sentence(3, SENTENCES[3])),
        (0.1, final),
    ]

    async def main():
        bot, cog, _ = await make_bot(make_settings, seed_answerer.library, script, answer_in_threads=False)
        try:
            channel = FakeChannel()
            message = SimpleNamespace(
                id=777,
                content=f"<@{BOT_ID}> {QUESTION} @everyone",
                author=SimpleNamespace(id=7, bot=False),
                guild=SimpleNamespace(id=100),
                channel=channel,
                reference=None,
            )
            outcome = await cog.answer_message(message, in_thread=False, replied_answer=None)
            return channel, outcome, await bot.db.get_answer(outcome.answer_id)
        finally:
            await close(bot)

    channel, outcome, stored = run_virtual(main)
    kinds = [c.kind for c in channel.log]
    assert kinds[0] == "send" and set(kinds[1:]) == {"edit"} and len(kinds) >= 3, kinds
    assert {c.kwargs["message_id"] for c in channel.log} == {channel.log[0].kwargs["message_id"]}, (
        "one message"
    )
    assert channel.log[0].kwargs["reference"].id == 777 and channel.log[0].kwargs["mention_author"] is False
    assert_paced(channel.log)
    assert_verified_prefixes(channel.log[:-1], SENTENCES)
    last = channel.log[-1]
    assert description(last) == final.answer and quotes(last) and last.view.children
    assert_no_pings(channel.log)
    assert outcome.status == "answered" and stored["answer"] == final.answer
    assert outcome.drafts == len(channel.log) - 1 and outcome.first_draft_ms is not None  # logged
    assert stored["message_id"] == channel.log[0].kwargs["message_id"]


# ---------------------------------------------------------------- shutdown (real time, short)


async def test_shutdown_finishes_a_streamed_answer_in_flight(make_settings, seed_answerer, real_answer):
    final = generated(real_answer, SENTENCES[:3])
    script = [(0.1, sentence(i, SENTENCES[i])) for i in range(3)] + [(0.1, final)]
    bot, cog, streamer = await make_bot(make_settings, seed_answerer.library, script)
    cog.edit_interval_s = 0.15
    interaction = FakeInteraction(bot)
    pending = asyncio.create_task(cog.ask.callback(cog, interaction, question=QUESTION))
    await asyncio.sleep(0.15)
    assert bot.answers_in_flight == 1 and "edit_original" in interaction.kinds()  # mid-stream
    await bot.close()  # waits for the answer in flight, then closes the database and the service
    await pending
    assert streamer.finished
    last = interaction.log[-1]
    assert last.kind == "edit_original" and description(last) == final.answer and last.view.children
    assert not bot.db.available

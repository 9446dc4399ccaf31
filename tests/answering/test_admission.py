"""Issue 15, item 4: admission control — a bounded number of answers running and waiting (then
"busy" at once), one deadline per answer covering the wait, retrieval and the model, a cap on
concurrent requests to an OpenAI-compatible server, and a deadline for re-indexes."""

from __future__ import annotations

import asyncio
import threading
import time
from types import SimpleNamespace

import pytest

from bot.answering import Answer, AnswerBusy, AnswerTimeout, FallbackKind
from bot.answering.backends import ModelBusyError, OpenAIBackend
from bot.answering.generative import GenerativeAnswerer
from bot.answering.service import Admission, AnswerService
from index.library import Library
from index.lock import ReindexTimeout
from tests.answering.generation_support import PAUSE, QUESTION, Scripted, source_n


class GatedAnswerer:
    """Answers only when the gate opens; counts the answers being worked on in threads."""

    def __init__(self):
        self.library = SimpleNamespace()
        self.gate = threading.Event()
        self.started = 0
        self.lock = threading.Lock()

    def ask(self, question, history=None):
        with self.lock:
            self.started += 1
        assert self.gate.wait(60), "the test never opened the gate"
        return Answer(question, "An answer [1].", False)


async def until(condition, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition never became true"
        await asyncio.sleep(0.01)


async def test_past_the_running_and_waiting_limits_an_answer_is_turned_away_at_once():
    answerer = GatedAnswerer()
    service = AnswerService(answerer, admission=Admission(max_running=2, max_waiting=1, timeout_s=None))
    try:
        admitted = [asyncio.create_task(service.ask(f"Question {i}?")) for i in range(3)]
        await until(lambda: answerer.started == 2 and service.answers_admitted == 3)
        assert service.full
        with pytest.raises(AnswerBusy, match="MAX_CONCURRENT_ANSWERS=2, ANSWER_QUEUE_DEPTH=1"):
            await service.ask("One too many?")
        with pytest.raises(AnswerBusy):
            [item async for item in service.stream("One too many?")]
        assert answerer.started == 2  # the third waits for a slot; the refused never reached a thread
        answerer.gate.set()
        assert [a.question for a in await asyncio.gather(*admitted)] == [f"Question {i}?" for i in range(3)]
        assert not service.full and (await service.ask("Now?")).question == "Now?"
    finally:
        answerer.gate.set()
        service.close()


async def test_one_deadline_covers_the_wait_for_a_slot_and_the_work():
    answerer = GatedAnswerer()
    service = AnswerService(answerer, admission=Admission(max_running=1, max_waiting=4, timeout_s=0.5))
    try:
        results = await asyncio.gather(
            service.ask("Stuck?"), service.ask("Waiting behind it?"), return_exceptions=True
        )
        assert [type(r) for r in results] == [AnswerTimeout, AnswerTimeout]
        assert "ANSWER_TIMEOUT_S" in str(results[0])
        assert service.answers_admitted == 0  # both places were given back
    finally:
        answerer.gate.set()
        service.close()


class SlowRetrieval(GenerativeAnswerer):
    def prepare(self, question, history=None):
        time.sleep(0.6)
        return super().prepare(question, history)


def test_retrieval_counts_toward_the_llm_timeout(library):
    prepared = GenerativeAnswerer(library, Scripted("")).prepare(QUESTION)
    backend = Scripted(f"{PAUSE} [{source_n(prepared, PAUSE)}].")
    answerer = SlowRetrieval(library, backend, timeout_s=0.3)
    answer = answerer.ask(QUESTION)
    assert answer.backend == "extractive" and answer.fallback.kind is FallbackKind.TIMED_OUT
    assert backend.messages is None  # no time was left for the model


async def test_the_answers_deadline_stops_a_slow_model_with_the_extractive_answer(library):
    prepared = GenerativeAnswerer(library, Scripted("")).prepare(QUESTION)
    first = f"{PAUSE} [{source_n(prepared, PAUSE)}]."
    backend = Scripted(first + " More.", hang_after=len(first) + 2)  # then silent for an hour
    answerer = GenerativeAnswerer(library, backend, timeout_s=600)  # LLM_TIMEOUT_S would never end it
    service = AnswerService(answerer, admission=Admission(timeout_s=2.0))
    try:
        items = [item async for item in service.stream(QUESTION)]
    finally:
        service.close()
    final = items[-1]
    assert isinstance(final, Answer) and final.backend == "extractive"
    assert final.fallback.kind is FallbackKind.TIMED_OUT and "deadline" in final.fallback_reason
    assert backend.closed


class HeldLLM:
    """Stands in for LlamaIndex's OpenAILike: each chat stream waits until released."""

    def __init__(self):
        self.running = 0
        self.most = 0
        self.release = asyncio.Event()

    async def astream_chat(self, messages):
        self.running += 1
        self.most = max(self.most, self.running)

        async def deltas():
            try:
                await self.release.wait()
                yield SimpleNamespace(delta="Putin accepted [1].")
            finally:
                self.running -= 1

        return deltas()


async def test_the_openai_backend_caps_concurrent_requests_and_refuses_past_its_queue():
    backend = OpenAIBackend("http://127.0.0.1:9/v1", "m", max_concurrent=2, max_queue=1)
    llm = HeldLLM()

    async def shared_llm():
        return llm

    backend._shared_llm = shared_llm

    async def one() -> str:
        return "".join([delta async for delta in backend.stream([{"role": "user", "content": "q"}])])

    tasks = [asyncio.create_task(one()) for _ in range(3)]
    await until(lambda: llm.running == 2 and backend.outstanding == 3)
    with pytest.raises(ModelBusyError, match="LLM_MAX_CONCURRENT=2, LLM_MAX_QUEUE=1"):
        await one()
    llm.release.set()
    assert await asyncio.gather(*tasks) == ["Putin accepted [1]."] * 3
    assert llm.most == 2 and backend.outstanding == 0


def test_a_reindex_past_its_deadline_stops_and_publishes_nothing(make_settings, corpus_dir, embed_model):
    library = Library(make_settings().library_config(), embed_model)
    library.reindex()
    before = library.version.name
    (corpus_dir / "new.txt").write_text("Title: New\n\nEnvoys met in Doha on Monday.\n", "utf-8")
    with pytest.raises(ReindexTimeout):
        library.reindex(deadline=time.monotonic() - 1)
    assert library.version.name == before and library.store.current_name() == before
    report = library.reindex()  # the lock was released; the next one does the work
    assert report.added == ["new.txt"] and library.version.name != before

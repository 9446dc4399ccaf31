"""The async face of answering (for the Discord bot): CPU work runs off the event loop, behind
admission control.

Embedding, retrieval and composing run in a small dedicated thread pool, so the gateway
heartbeat and other users are never blocked. Admission control bounds the work and the wait:

- at most ``Admission.max_running`` answers are worked on at once and ``max_waiting`` more wait
  for a slot; past that ``ask``/``stream`` raise ``AnswerBusy`` at once (the app says "busy, try
  again in a moment") instead of queueing without bound;
- every answer has one deadline, ``timeout_s`` after it was admitted, covering the wait for a
  slot, retrieval, composing and — for generated answers — the model (which falls back to the
  extractive answer when the deadline comes first); past it ``AnswerTimeout`` is raised. Work
  already running on a thread cannot be stopped and finishes unseen; work not yet started is
  cancelled;
- a re-index stops (publishing nothing) past ``reindex_timeout_s``.

One event loop uses a service (the bot's); the counters need no lock.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial

from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.factory import build_answerer
from bot.answering.model import Answer, AnswerBusy, AnswerTimeout
from index.lock import Progress
from index.store import ReindexReport


@dataclass(frozen=True)
class Admission:
    max_running: int = 4  # MAX_CONCURRENT_ANSWERS
    max_waiting: int = 16  # ANSWER_QUEUE_DEPTH
    timeout_s: float | None = 60.0  # ANSWER_TIMEOUT_S (None: no deadline)
    reindex_timeout_s: float | None = None  # REINDEX_TIMEOUT_S

    @classmethod
    def from_settings(cls, settings) -> Admission:
        return cls(
            max_running=settings.max_concurrent_answers,
            max_waiting=settings.answer_queue_depth,
            timeout_s=settings.answer_timeout_s,
            reindex_timeout_s=settings.reindex_timeout_s,
        )


class AnswerService:
    def __init__(self, answerer: ExtractiveAnswerer, workers: int = 2, admission: Admission = Admission()):
        self.answerer = answerer
        self.library = answerer.library
        self.admission = admission
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="answer")
        # Re-indexing gets its own thread so questions keep being answered meanwhile.
        self._reindex_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reindex")
        self._admitted = 0  # answers running or waiting for a slot
        self._slots: tuple[asyncio.AbstractEventLoop, asyncio.Semaphore] | None = None

    @classmethod
    def from_settings(cls, settings, embed_model=None) -> AnswerService:
        return cls(build_answerer(settings, embed_model), admission=Admission.from_settings(settings))

    async def _run(self, executor, func, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(executor, partial(func, *args, **kwargs))

    async def warm(self) -> None:
        await self._run(self._executor, self.library.warm)
        watch = getattr(self.library, "watch", None)
        if watch is not None:
            watch()  # serve what any process publishes (the CLI, another shard)

    # ---------------------------------------------------------------- admission control

    @property
    def answers_admitted(self) -> int:
        """Answers being worked on or waiting for a slot."""
        return self._admitted

    @property
    def full(self) -> bool:
        """No room for another answer now (asking would raise AnswerBusy)."""
        return self._admitted >= self.admission.max_running + self.admission.max_waiting

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._slots is None or self._slots[0] is not loop:
            self._slots = (loop, asyncio.Semaphore(self.admission.max_running))
        return self._slots[1]

    def _admit(self) -> float | None:
        """Take a place (running or waiting), or raise AnswerBusy; returns the answer's deadline
        on the loop's clock (None: none). The caller must call ``_leave`` when done."""
        limits = self.admission
        if self.full:
            raise AnswerBusy(
                f"{self._admitted} answers are being worked on or waiting "
                f"(MAX_CONCURRENT_ANSWERS={limits.max_running}, ANSWER_QUEUE_DEPTH={limits.max_waiting})"
            )
        self._admitted += 1
        if limits.timeout_s is None:
            return None
        return asyncio.get_running_loop().time() + limits.timeout_s

    def _leave(self) -> None:
        self._admitted -= 1

    def _timed_out(self) -> AnswerTimeout:
        return AnswerTimeout(f"no answer within {self.admission.timeout_s:g} s (ANSWER_TIMEOUT_S)")

    # ---------------------------------------------------------------- answers

    async def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Raises QuestionError for a question that cannot be asked as given, AnswerBusy when
        admission control turns it away, AnswerTimeout past its deadline."""
        deadline = self._admit()
        try:
            async with asyncio.timeout_at(deadline):
                async with self._semaphore():
                    return await self._run(self._executor, self.answerer.ask, question, history)
        except TimeoutError:
            raise self._timed_out() from None
        finally:
            self._leave()

    @property
    def streams(self) -> bool:
        """True when a model writes the answers and ``stream`` yields them sentence by sentence."""
        return getattr(self.answerer, "astream", None) is not None

    @property
    def backend_name(self) -> str:
        """``extractive`` | ``openai`` | ``llamacpp``: what writes the answers when nothing falls back."""
        return getattr(getattr(self.answerer, "backend", None), "name", None) or "extractive"

    async def stream(self, question: str, history: list[str] | None = None) -> AsyncIterator:
        """Yields ``StreamedSentence`` items (verified sentences, generated answers only)
        as they are ready, then one final ``Answer`` — authoritative: it replaces the streamed
        text (it differs when generation fell back to the extractive answer). An extractive
        answerer yields just the Answer. Raises QuestionError, AnswerBusy or AnswerTimeout
        before yielding anything (a model running late falls back instead).
        For message edits at most once a second, wrap it: ``bot.app.pacing.paced(service.stream(q))``."""
        astream = getattr(self.answerer, "astream", None)
        if astream is None:
            yield await self.ask(question, history)
            return
        deadline = self._admit()
        slots = self._semaphore()
        try:
            try:
                async with asyncio.timeout_at(deadline):  # no yield inside: only the wait for a slot
                    await slots.acquire()
            except TimeoutError:
                raise self._timed_out() from None
            try:
                items = astream(question, history, executor=self._executor, deadline=deadline)
                try:
                    async for item in items:
                        yield item
                finally:
                    await items.aclose()
            finally:
                slots.release()
        finally:
            self._leave()

    # ---------------------------------------------------------------- re-index

    async def reindex(self, progress: Progress | None = None, only: list[str] | None = None) -> ReindexReport:
        """Raises index.lock.IndexBusyError when one is already running, index.lock.ReindexTimeout
        past REINDEX_TIMEOUT_S. ``progress`` is called from the re-index thread: hop back to the
        loop with call_soon_threadsafe. ``only``: just these corpus files (new, changed or
        deleted), for a caller that knows what it wrote (an upload, a feed): it then costs what
        they cost, not a corpus scan."""
        limit = self.admission.reindex_timeout_s
        deadline = time.monotonic() + limit if limit else None
        return await self._run(
            self._reindex_executor, self.library.reindex, progress, deadline=deadline, only=only
        )

    async def pending_changes(self) -> ReindexReport | None:
        """What a re-index would change now (None: nothing), read off the event loop."""
        return await self._run(self._reindex_executor, self.library.pending_changes)

    def close(self) -> None:
        stop_watching = getattr(self.library, "stop_watching", None)
        if stop_watching is not None:
            stop_watching()
        self._executor.shutdown(wait=True, cancel_futures=False)
        self._reindex_executor.shutdown(wait=False, cancel_futures=True)

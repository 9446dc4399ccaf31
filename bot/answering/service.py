"""The async face of answering (for the Discord bot): CPU work runs off the event loop.

Embedding, retrieval and composing run in a small dedicated thread pool, so the gateway
heartbeat and other users are never blocked, and a burst of questions queues there instead of
spawning a thread each.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.factory import build_answerer
from bot.answering.model import Answer
from index.lock import Progress
from index.store import ReindexReport


class AnswerService:
    def __init__(self, answerer: ExtractiveAnswerer, workers: int = 2):
        self.answerer = answerer
        self.library = answerer.library
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="answer")
        # Re-indexing gets its own thread so questions keep being answered meanwhile.
        self._reindex_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="reindex")

    @classmethod
    def from_settings(cls, settings, embed_model=None) -> AnswerService:
        return cls(build_answerer(settings, embed_model))

    async def _run(self, executor, func, *args, **kwargs):
        return await asyncio.get_running_loop().run_in_executor(executor, partial(func, *args, **kwargs))

    async def warm(self) -> None:
        await self._run(self._executor, self.library.warm)
        self.library.watch()  # serve what any process publishes (the CLI, another shard)

    async def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Raises QuestionError for a question that cannot be asked as given."""
        return await self._run(self._executor, self.answerer.ask, question, history)

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
        answerer yields just the Answer. Raises QuestionError before yielding anything.
        For message edits at most once a second, wrap it: ``bot.app.pacing.paced(service.stream(q))``."""
        astream = getattr(self.answerer, "astream", None)
        if astream is None:
            yield await self.ask(question, history)
            return
        async for item in astream(question, history, executor=self._executor):
            yield item

    async def reindex(self, progress: Progress | None = None, only: list[str] | None = None) -> ReindexReport:
        """Raises index.lock.IndexBusyError when one is already running. ``progress`` is
        called from the re-index thread: hop back to the loop with call_soon_threadsafe.
        ``only``: just these corpus files (new, changed or deleted), for a caller that knows
        what it wrote (an upload, a feed): it then costs what they cost, not a corpus scan."""
        return await self._run(self._reindex_executor, self.library.reindex, progress, only=only)

    def close(self) -> None:
        self.library.stop_watching()
        self._executor.shutdown(wait=True, cancel_futures=False)
        self._reindex_executor.shutdown(wait=False, cancel_futures=True)

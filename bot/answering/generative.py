"""``GenerativeAnswerer``: retrieval as in the extractive answerer, a model writes the answer,
every sentence is verified before it is shown, and anything that fails falls back to the
extractive answer.

Flow of one question (``astream``):

1. Off the event loop: clean the question, retrieve (the extractive answerer's own code path),
   compose the extractive answer (the fallback) and pick the numbered sentence-level sources.
   If the extractive answer refuses — nothing retrieved supports an answer — the model is not
   asked and that refusal is returned (``fallback`` says so).
2. Stream the model's text, cut it into sentences (``SentenceSplitter``) and verify each one as
   soon as it is complete (``Verifier``). A verified sentence is yielded at once, with its
   markers renumbered in order of first use; a sentence without a marker is dropped; an invented
   marker, a fabricated quote or an unsupported sentence rejects the whole answer.
3. The final item is the ``Answer``: the verified sentences with citations built from the
   sources (exact spans), ``backend`` = ``openai`` | ``llamacpp``; or, when the generation was
   rejected, empty, timed out, busy or failed, the extractive answer with ``backend`` =
   ``extractive`` and ``fallback`` (why, as data) — and then it **replaces** whatever was streamed.

The whole attempt (retrieval, queueing, connecting, retries, generating, verifying) is bounded by
``timeout_s`` (LLM_TIMEOUT_S) from the moment the question arrives, and by the answer's own
deadline (ANSWER_TIMEOUT_S, passed by the service) when that comes first: past either, the model
is stopped and the extractive answer given; if retrieval itself is still running at the answer's
deadline, ``AnswerTimeout`` is raised. Nothing here blocks the event loop: CPU work runs in an
executor, the OpenAI backend is async HTTP and the llama.cpp backend runs on its own thread.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import dataclasses
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from functools import partial

from bot.answering.backends import Backend, ModelBusyError
from bot.answering.extractive import AnswerConfig, ExtractiveAnswerer, top_sentences
from bot.answering.model import (
    DEFAULT_MAX_QUESTION_CHARS,
    Answer,
    AnswerTimeout,
    Citation,
    Fallback,
    FallbackKind,
    with_markers,
)
from bot.answering.prompt import build_messages, select_sources
from bot.answering.verify import SentenceSplitter, SupportConfig, Verifier, is_refusal, normalise
from index.library import Library
from index.retrieval import Hit

log = logging.getLogger(__name__)

NOT_ASKED = "retrieval found nothing that supports an answer, so the model was not asked"


@dataclass(frozen=True)
class StreamedSentence:
    """One verified sentence, ready to show: ``text`` carries its renumbered markers."""

    index: int  # 0-based position in the answer
    text: str
    citations: tuple[Citation, ...]  # what its markers refer to (Citation.n == the shown number)


@dataclass
class Prepared:
    question: str
    query: str
    hits: list[Hit]
    fallback: Answer  # the extractive answer
    sources: list[Citation]  # numbered: n is the source number
    timings_ms: dict[str, float]


class GenerativeAnswerer(ExtractiveAnswerer):
    """An answerer whose answers a language model writes; ``ask`` / ``astream``."""

    def __init__(
        self,
        library: Library,
        backend: Backend,
        config: AnswerConfig = AnswerConfig(),
        max_question_chars: int = DEFAULT_MAX_QUESTION_CHARS,
        timeout_s: float = 30.0,
        support: SupportConfig = SupportConfig(),
        max_sources: int = 6,
    ):
        super().__init__(library, config, max_question_chars)
        self.backend = backend
        self.timeout_s = timeout_s
        self.support = support
        self.max_sources = max_sources

    # ------------------------------------------------------------ step 1: retrieval (blocking)

    def prepare(self, question: str, history: list[str] | None = None) -> Prepared:
        """Question → hits, extractive answer, numbered sources. Raises QuestionError. Blocking.

        The model is given sources whenever the best sentence shows semantic evidence (the fitted
        ``llm_threshold``, below the extractive answer's own threshold): a paraphrase the extractive
        answerer would refuse can still be answered, and the verifier decides what is shown."""
        t0 = time.perf_counter()
        context = self.retrieve(question, history)  # the same retrieval as ExtractiveAnswerer.ask
        t2 = time.perf_counter()
        fallback = self.compose(context)
        fallback.index_version = context.retriever.version.name
        sources = []
        time_refusal = context.timed is not None and context.timed.answer is not None and fallback.refused
        if (
            context.best >= self.calibration.llm_threshold
            and not context.refused_outright()
            and not time_refusal
        ):
            pinned = [] if fallback.refused else fallback.citations
            sources = select_sources(
                context.query,
                context.hits,
                context.retriever,
                self.max_sources,
                pinned,
                ranked=[(c.doc, c.start, c.end) for c in top_sentences(context, self.max_sources)],
            )
        t3 = time.perf_counter()
        timings = context.timings_ms | {"compose": _ms(t3 - t2), "prepare": _ms(t3 - t0)}
        return Prepared(context.question, context.query, context.hits, fallback, sources, timings)

    def messages(self, prepared: Prepared) -> list[dict[str, str]]:
        return build_messages(prepared.question, prepared.sources)

    # ------------------------------------------------------------ steps 2-3: generate and verify

    async def astream(
        self,
        question: str,
        history: list[str] | None = None,
        executor: concurrent.futures.Executor | None = None,
        deadline: float | None = None,
    ) -> AsyncIterator[StreamedSentence | Answer]:
        """Yields each verified sentence as a ``StreamedSentence`` as soon as it is complete and
        verified, then exactly one final ``Answer`` (which replaces the streamed text when it is
        a fallback). Raises ``QuestionError`` before yielding anything for a bad question, and
        ``AnswerTimeout`` if retrieval is still running at ``deadline`` (the loop's clock).
        ``executor`` runs the blocking parts (retrieval, embedding); default: the loop's."""
        loop = asyncio.get_running_loop()

        def run(func, *args) -> Awaitable:
            return loop.run_in_executor(executor, partial(func, *args))

        started = time.perf_counter()
        # LLM_TIMEOUT_S counts from here: retrieval is part of the attempt.
        model_deadline = loop.time() + self.timeout_s
        if deadline is not None and deadline < model_deadline:
            model_deadline = deadline
        try:
            async with asyncio.timeout_at(deadline):
                prepared = await run(self.prepare, question, history)
        except TimeoutError:
            raise AnswerTimeout("retrieval was still running at the answer's deadline") from None
        if prepared.fallback.refused or not prepared.sources:
            yield self._fallback(prepared, Fallback(FallbackKind.NOT_ASKED, NOT_ASKED), started, {})
            return
        queue: asyncio.Queue = asyncio.Queue()
        producer = asyncio.create_task(
            self._generate(prepared, queue.put_nowait, run, started, model_deadline)
        )
        done = object()
        producer.add_done_callback(lambda _: queue.put_nowait(done))
        try:
            while (item := await queue.get()) is not done:
                yield item
            yield producer.result()
        finally:
            if not producer.done():
                producer.cancel()
                try:
                    await producer
                except (asyncio.CancelledError, Exception):
                    pass

    def ask(self, question: str, history: list[str] | None = None) -> Answer:
        """Blocking: the final Answer. Call it from a thread (AnswerService does) or a script."""

        async def final() -> Answer:
            answer = None
            async for item in self.astream(question, history):
                answer = item
            return answer

        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(final())
        with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:  # called on a loop's thread
            return pool.submit(asyncio.run, final()).result()

    async def _generate(
        self,
        prepared: Prepared,
        emit: Callable[[StreamedSentence], None],
        run,
        started: float,
        model_deadline: float | None = None,
    ) -> Answer:
        verifier = Verifier(prepared.sources, self.library.embed_texts, self.support)
        shown: list[tuple[str, tuple[int, ...]]] = []  # (marker-free text, source numbers)
        numbering: dict[int, int] = {}  # source n -> shown n, in order of first use
        seen: set[str] = set()
        raw: list[str] = []
        counts = {"dropped": 0}
        reason: Fallback | None = None
        timings: dict[str, float] = {}
        t0 = time.perf_counter()

        async def take(sentence: str) -> bool:
            """Verify one sentence and show it; False when generation should stop."""
            nonlocal reason
            verdict = await run(verifier.check, sentence)
            log.debug("%s: %r (%s)", verdict.action, sentence, verdict.reason)
            if verdict.action == "ignore":
                return True
            if verdict.action == "drop":
                counts["dropped"] += 1
                return True
            if verdict.action == "reject":
                position = len(shown) + 1
                detail = f"rejected: sentence {position} {verdict.reason}: {sentence.strip()[:160]!r}"
                reason = Fallback(FallbackKind.REJECTED, detail, position, verdict.failure)
                return False
            key = normalise(verdict.text)
            if key in seen:
                return True  # a repeated sentence
            seen.add(key)
            for n in verdict.cited:
                numbering.setdefault(n, len(numbering) + 1)
            shown_numbers = [numbering[n] for n in verdict.cited]
            citations = tuple(_renumbered(prepared.sources[n - 1], numbering[n]) for n in verdict.cited)
            shown.append((verdict.text, verdict.cited))
            if len(shown) == 1:
                timings["first_sentence"] = _ms(time.perf_counter() - started)
            emit(StreamedSentence(len(shown) - 1, with_markers(verdict.text, shown_numbers), citations))
            return len(shown) < self.config.max_sentences

        loop = asyncio.get_running_loop()
        if model_deadline is None:
            model_deadline = loop.time() + self.timeout_s
        try:
            async with asyncio.timeout_at(model_deadline):
                await run(verifier.warm)
                splitter = SentenceSplitter()
                stream = self.backend.stream(self.messages(prepared))
                try:
                    going = True
                    async for delta in stream:
                        raw.append(delta)
                        for sentence in splitter.feed(delta):
                            if not (going := await take(sentence)):
                                break
                        if not going:
                            break
                    else:
                        for sentence in splitter.flush():
                            if not await take(sentence):
                                break
                finally:
                    await stream.aclose()
        except TimeoutError:
            elapsed = time.perf_counter() - started
            limit = (
                f"{self.timeout_s:g} s"
                if elapsed >= self.timeout_s - 0.05
                else f"{elapsed:.1f} s (the answer's deadline)"
            )
            detail = f"timed out after {limit} ({len(shown)} sentence(s) verified by then)"
            reason = Fallback(FallbackKind.TIMED_OUT, detail)
        except ModelBusyError as exc:
            reason = Fallback(FallbackKind.BUSY, f"busy: {exc}")
        except Exception as exc:
            log.warning("generation failed: %s", _describe(exc))
            reason = Fallback(FallbackKind.FAILED, f"generation failed: {_describe(exc)}")
        timings["generate"] = _ms(time.perf_counter() - t0)
        text = "".join(raw)
        if reason is None and not shown:
            if not text.strip():
                reason = Fallback(FallbackKind.EMPTY, "the model returned no text")
            elif is_refusal(text):
                reason = Fallback(
                    FallbackKind.MODEL_REFUSED, "the model said the sources don't contain the answer"
                )
            else:
                detail = f"no sentence carried a valid citation marker ({counts['dropped']} dropped)"
                reason = Fallback(FallbackKind.NO_MARKERS, detail)
        if reason is not None:
            log.info("falling back to the extractive answer: %s", reason)
            return self._fallback(prepared, reason, started, timings)
        citations = sorted(
            (_renumbered(prepared.sources[n - 1], shown_n) for n, shown_n in numbering.items()),
            key=lambda c: c.n,
        )
        answer_text = " ".join(with_markers(t, [numbering[n] for n in cited]) for t, cited in shown)
        timings.update(prepared.timings_ms)
        timings["total"] = _ms(time.perf_counter() - started)
        return Answer(
            question=prepared.question,
            answer=answer_text,
            refused=False,
            citations=citations,
            timings_ms=timings,
            backend=self.backend.name,
            index_version=prepared.fallback.index_version,
        )

    def _fallback(
        self, prepared: Prepared, reason: Fallback, started: float, timings: dict[str, float]
    ) -> Answer:
        answer = dataclasses.replace(prepared.fallback, backend="extractive", fallback=reason)
        answer.timings_ms = {**prepared.timings_ms, **timings, "total": _ms(time.perf_counter() - started)}
        return answer


def _renumbered(source: Citation, n: int) -> Citation:
    """A source as the answer cites it: same span, the number it is shown with."""
    return dataclasses.replace(source, n=n)


def _describe(exc: BaseException) -> str:
    text = f"{type(exc).__name__}: {exc}".strip()
    cause = exc.__cause__ or exc.__context__
    if cause is not None and str(cause) and str(cause) not in text:
        text += f" ({type(cause).__name__}: {cause})"
    return text[:300]


def _ms(seconds: float) -> float:
    return round(seconds * 1000, 1)

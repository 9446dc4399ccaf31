"""Generated answers (issue 6), the answerer at work with scripted backends: sentences streamed as soon
as they are verified, a timeout bounding the whole attempt, a failing backend falling back, paced
Discord updates, the answer service's stream, and the settings a generating backend needs.
"""

from __future__ import annotations

import asyncio
import importlib.util
import time

import pytest

from bot.answering import Answer
from bot.answering.generative import GenerativeAnswerer, StreamedSentence
from bot.app.pacing import paced
from tests.answering.generation_support import PAUSE, QUESTION, Scripted, generate, source_n

# ---------------------------------------------------------------- streaming, timeouts, failures


def test_sentences_stream_as_soon_as_they_are_verified_and_unverified_ones_never(library, prepared):
    n = source_n(prepared, PAUSE)
    backend = Scripted(
        f"Putin accepted a 30-day pause in energy infrastructure attacks [{n}]. The capital of Mars is X [{n}]. More text.",
        piece=3,
        delay=0.01,
    )
    answerer = GenerativeAnswerer(library, backend)

    async def run():
        seen = []
        async for item in answerer.astream(QUESTION):
            seen.append((item, backend.sent))
        return seen

    seen = asyncio.run(run())
    (first, sent_then), (final, _) = seen
    assert first.text == "Putin accepted a 30-day pause in energy infrastructure attacks [1]."
    assert sent_then < len(backend.text) - 20  # shown while the model was still writing
    assert final.backend == "extractive" and "Mars" in final.fallback_reason and "Mars" not in final.answer
    assert backend.closed  # generation was stopped at the rejected sentence


def test_timeout_bounds_the_whole_attempt(library, prepared):
    n = source_n(prepared, PAUSE)
    started = time.perf_counter()
    first = f"Putin accepted a 30-day pause in energy infrastructure attacks [{n}]."
    streamed, answer, backend = generate(
        library, first + " More text that never comes.", hang_after=len(first) + 4, timeout_s=1.5
    )
    elapsed = time.perf_counter() - started
    assert answer.backend == "extractive" and answer.fallback_reason.startswith("timed out after 1.5 s")
    assert len(streamed) == 1  # shown before the timeout; the final answer replaces it
    assert elapsed < 1.5 + 3 and backend.closed


def test_a_failing_backend_falls_back(library):
    _, answer, _ = generate(library, "Putin", error=ConnectionResetError("peer went away"))
    assert (
        answer.backend == "extractive"
        and "generation failed: ConnectionResetError: peer went away" in answer.fallback_reason
    )


def test_paced_updates_at_most_once_per_interval():
    async def source():
        for i in range(6):
            await asyncio.sleep(0.1)
            yield StreamedSentence(i, f"S{i} [1].", ())
        yield Answer("q", "final [1].", False)

    async def run():
        stamps = []
        async for text, final in paced(source(), min_interval_s=0.25):
            stamps.append((time.perf_counter(), text, final))
        return stamps

    stamps = asyncio.run(run())
    gaps = [b[0] - a[0] for a, b in zip(stamps, stamps[1:])]
    assert all(gap >= 0.24 for gap in gaps), gaps
    assert stamps[0][1] == "S0 [1]."  # the first sentence is shown at once
    assert stamps[-1][1:] == ("final [1].", stamps[-1][2]) and isinstance(stamps[-1][2], Answer)
    assert 2 <= len(stamps) <= 5  # coalesced: fewer updates than sentences
    assert all(final is None for _, _, final in stamps[:-1])


def test_answer_service_stream(seed_answerer, library, prepared):
    from bot.answering.service import AnswerService

    n = source_n(prepared, PAUSE)

    async def run(answerer):
        service = AnswerService(answerer)
        try:
            return [item async for item in service.stream(QUESTION)]
        finally:
            service.close()

    extractive = asyncio.run(run(seed_answerer))
    assert len(extractive) == 1 and extractive[0].backend == "extractive"
    generated = asyncio.run(run(GenerativeAnswerer(library, Scripted(f"{PAUSE} [{n}]."))))
    assert [type(i).__name__ for i in generated] == ["StreamedSentence", "Answer"] and generated[
        -1
    ].backend == "scripted"


# ---------------------------------------------------------------- settings


def test_settings_name_what_a_generating_backend_is_missing(make_settings, tmp_path):
    from pydantic import ValidationError

    assert make_settings().answer_backend == "extractive"
    with pytest.raises(ValidationError, match="LLM_BASE_URL"):
        make_settings(answer_backend="openai")
    if importlib.util.find_spec("llama_cpp") is not None:
        with pytest.raises(ValidationError, match="is not a file"):
            make_settings(answer_backend="llamacpp", llm_gguf_path=tmp_path / "missing.gguf")

"""Shared by the generated-answer tests (test_prompt, test_verify, test_generative, test_llm_backends):
the seed article and question they ask about, :class:`Scripted` (a backend that streams a fixed model
output in small pieces), and helpers to run the generative answerer and check its citations.
"""

from __future__ import annotations

import asyncio

from bot.answering import Answer
from bot.answering.generative import GenerativeAnswerer, StreamedSentence
from bot.answering.verify import MARKER, markers
from tests.conftest import SEEDS

SEED_DOC = "000_3b4e6e6ab3547b6d.txt"
SEED_TEXT = (SEEDS / SEED_DOC).read_text(encoding="utf-8")
QUESTION = "What did Putin agree to?"
PAUSE = "Putin accepted a 30-day pause in energy infrastructure attacks"


class Scripted:
    """A backend that streams a fixed model output in small pieces (crafted outputs)."""

    name = "scripted"

    def __init__(
        self,
        text: str,
        piece: int = 4,
        delay: float = 0.0,
        hang_after: int | None = None,
        error: Exception | None = None,
    ):
        self.text, self.piece, self.delay, self.hang_after, self.error = text, piece, delay, hang_after, error
        self.messages = None
        self.sent = 0
        self.closed = False

    async def stream(self, messages):
        self.messages = messages
        try:
            for i in range(0, len(self.text), self.piece):
                if self.hang_after is not None and i >= self.hang_after:
                    await asyncio.sleep(3600)
                if self.delay:
                    await asyncio.sleep(self.delay)
                self.sent = i + self.piece
                yield self.text[i : i + self.piece]
            if self.error is not None:
                raise self.error
        finally:
            self.closed = True


def source_n(prepared, needle: str) -> int:
    return next(s.n for s in prepared.sources if needle in s.quote)


def generate(
    library, text: str, question: str = QUESTION, **kwargs
) -> tuple[list[StreamedSentence], Answer, Scripted]:
    backend = Scripted(
        text, **{k: kwargs.pop(k) for k in ("piece", "delay", "hang_after", "error") if k in kwargs}
    )
    answerer = GenerativeAnswerer(library, backend, **kwargs)

    async def collect():
        return [item async for item in answerer.astream(question)]

    items = asyncio.run(collect())
    assert isinstance(items[-1], Answer) and all(isinstance(i, StreamedSentence) for i in items[:-1])
    return items[:-1], items[-1], backend


def assert_exact_citations(answer: Answer) -> None:
    for c in answer.citations:
        assert (SEEDS / c.doc).read_text(encoding="utf-8")[c.start : c.end] == c.quote
    assert {n for m in MARKER.finditer(answer.answer) for n in markers(m.group(0))} == {
        c.n for c in answer.citations
    }

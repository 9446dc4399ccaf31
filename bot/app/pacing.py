"""Pacing a streamed answer for message edits: Discord allows a few edits per channel every few
seconds, so a model's verified sentences are shown at most once per interval."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

from bot.answering.model import Answer


async def paced(
    stream: AsyncIterator, min_interval_s: float = 1.0
) -> AsyncIterator[tuple[str, Answer | None]]:
    """At most one update per ``min_interval_s``: yields ``(text_so_far, None)`` while sentences
    arrive (coalescing those that come faster), then ``(answer.answer, answer)`` once. The final
    text replaces everything before it (it differs when the answer fell back)."""
    loop = asyncio.get_running_loop()
    iterator = stream.__aiter__()
    parts: list[str] = []
    last = -float("inf")
    pending = False
    next_item: asyncio.Future | None = None
    try:
        while True:
            if next_item is None:
                next_item = asyncio.ensure_future(iterator.__anext__())
            wait = max(0.0, last + min_interval_s - loop.time()) if pending else None
            done, _ = await asyncio.wait({next_item}, timeout=wait)
            if not done:
                last, pending = loop.time(), False
                yield " ".join(parts), None
                continue
            try:
                item = next_item.result()
            except StopAsyncIteration:
                return
            finally:
                next_item = None
            if isinstance(item, Answer):
                await asyncio.sleep(max(0.0, last + min_interval_s - loop.time()))
                yield item.answer, item
                return
            parts.append(item.text)
            if loop.time() - last >= min_interval_s:
                last, pending = loop.time(), False
                yield " ".join(parts), None
            else:
                pending = True
    finally:
        if next_item is not None and not next_item.done():
            next_item.cancel()
        await _aclose(iterator)


async def _aclose(iterator) -> None:
    close = getattr(iterator, "aclose", None)
    if close is not None:
        await close()

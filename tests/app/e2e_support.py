"""Shared by the end-to-end tests (test_e2e, test_e2e_streaming): settings of the bot process run
against the Discord stand-in, :class:`E2E` (the stand-in process, its client and the real bot process
``python -m bot run``, with waits for its responses), the bot's environment, and helpers that read the
answers as Discord shows them and check their citations are verbatim seed text.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.helpers.discord_standin import StandInClient, StandInProcess

PROJECT = Path(__file__).resolve().parents[2]
SEED_FILE = PROJECT / "seeds" / "000_3b4e6e6ab3547b6d.txt"
TOKEN = "e2e-fake-token.not-a-real-discord-token"
RATE_LIMIT = 3
READY_TIMEOUT = 150.0  # process start + model load + first index build, bounded
ANSWER_TIMEOUT = 90.0
DEADLINE = 3.0  # Discord's initial-response deadline for an interaction
ZWSP = "\u200b"


def seed_text() -> str:
    return " ".join(SEED_FILE.read_text(encoding="utf-8").split())


def displayed(text: str) -> str:
    """What Discord shows for bot text: backslash escapes of punctuation drop, zero-width spaces are invisible."""
    return re.sub(r"\\([!-/:-@\[-`{-~])", r"\1", text).replace(ZWSP, "")


def field_quotes(sent: dict) -> dict[int, str]:
    """``{n: displayed quote}`` from the source fields ``[n] title`` / ``> “quote”``."""
    quotes = {}
    for embed in sent["embeds"]:
        for fld in embed.get("fields") or []:
            number = re.match(r"\[(\d+)\]", fld["name"])
            quote = re.search(r"“(.*?)”", fld["value"], re.S)
            if number and quote:
                quotes[int(number.group(1))] = displayed(quote.group(1))
    return quotes


def visible_text(sent: dict) -> str:
    parts = [sent.get("content") or ""]
    for embed in sent["embeds"]:
        parts += [embed.get("title") or "", embed.get("description") or ""]
        for fld in embed.get("fields") or []:
            parts += [fld.get("name") or "", fld.get("value") or ""]
        parts.append((embed.get("footer") or {}).get("text") or "")
    return "\n".join(parts)


def assert_cited_answer(sents: list[dict], must_quote: str | None = None) -> None:
    """The answer has ``[n]`` markers, each with a source field whose quote is verbatim seed text."""
    assert sents, "no answer message"
    seed = seed_text()
    descriptions = " ".join(e.get("description") or "" for s in sents for e in s["embeds"])
    markers = {int(n) for n in re.findall(r"\[(\d+)\]", displayed(descriptions))}
    quotes: dict[int, str] = {}
    for sent in sents:
        quotes |= field_quotes(sent)
    assert markers, f"no [n] citation markers in the answer: {descriptions!r}"
    assert markers <= set(quotes), f"markers {sorted(markers)} without a source field {sorted(quotes)}"
    for n, quote in quotes.items():
        body = " ".join(quote.rstrip("…").split())
        assert body and body in seed, f"[{n}] quote is not verbatim from the seed article: {quote!r}"
    if must_quote is not None:
        assert any(must_quote in q for q in quotes.values()), f"no quote contains {must_quote!r}: {quotes}"


@dataclass
class E2E:
    standin: StandInProcess
    client: StandInClient
    world: dict
    workdir: Path
    env: dict
    bot: subprocess.Popen | None = None
    log_path: Path | None = None
    started: float = 0.0
    timings: dict = field(default_factory=dict)
    startup_probe: dict | None = None
    _log_files: list = field(default_factory=list)

    def start_bot(self, log_name: str) -> subprocess.Popen:
        """Start ``python -m bot run`` (the real program) with its output in ``log_name``."""
        python = PROJECT / ".venv" / "bin" / "python"
        self.log_path = self.workdir / log_name
        log_file = open(self.log_path, "w", encoding="utf-8")  # noqa: SIM115 (closed in stop())
        self._log_files.append(log_file)
        self.started = time.monotonic()
        self.bot = subprocess.Popen(
            [str(python if python.exists() else sys.executable), "-m", "bot", "run"],
            cwd=self.workdir,  # no .env here: only the environment configures the bot
            env=self.env,
            stdout=log_file,
            stderr=subprocess.STDOUT,
        )
        return self.bot

    def wait_identified(self, sessions_before: int = 0) -> None:
        def identified():
            if self.bot.poll() is not None:
                raise RuntimeError(
                    f"the bot exited with {self.bot.returncode} before connecting:\n{self.log()[-3000:]}"
                )
            return (
                len(self.client.state()["identifies"]) > sessions_before
                and self.client.state()["ready_sessions"]
            )

        self.client.wait_for(
            identified, READY_TIMEOUT, interval=0.25, what="the bot identifying on the gateway"
        )

    def wait_ready_to_answer(self, user: str) -> None:
        """Ready = a question is deferred to be answered (not turned away because the index is loading)."""
        deadline = time.monotonic() + READY_TIMEOUT
        while True:
            probe = self.ask(user, "What did Putin accept?")
            if self.wait_callback(probe["id"])["json"]["type"] == 5:
                self.wait_followups(probe["id"])
                return
            if time.monotonic() > deadline or self.bot.poll() is not None:
                raise RuntimeError(f"the bot never became ready to answer:\n{self.log()[-3000:]}")
            time.sleep(1.0)

    def close(self) -> None:
        if self.bot is not None:
            _stop_bot(self.bot)
        for log_file in self._log_files:
            log_file.close()

    def user(self, name: str) -> str:
        return self.world["users"][name]

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def requests(self, kind: str | None = None) -> list[dict]:
        return [r for r in self.client.requests() if kind is None or r["kind"] == kind]

    def callbacks(self, interaction_id: str) -> list[dict]:
        return [
            r
            for r in self.requests("interaction_callback")
            if f"/interactions/{interaction_id}/" in r["path"]
        ]

    def sent_for(self, interaction_id: str) -> list[dict]:
        return [s for s in self.client.sent() if s["interaction_id"] == interaction_id]

    def wait_callback(self, interaction_id: str, timeout: float = 10.0) -> dict:
        return self.client.wait_for(
            lambda: self.callbacks(interaction_id),
            timeout,
            what=f"a response to interaction {interaction_id}",
        )[0]

    def wait_followups(self, interaction_id: str, timeout: float = ANSWER_TIMEOUT) -> list[dict]:
        def done():
            sents = [s for s in self.sent_for(interaction_id) if s["kind"] == "followup"]
            # the answer is complete when its last message carries the feedback buttons (or it is a notice)
            if sents and (sents[-1]["components"] or not sents[-1]["embeds"]):
                return sents
            return None

        return self.client.wait_for(
            done, timeout, interval=0.2, what=f"the follow-up for interaction {interaction_id}"
        )

    def ask(self, user: str, question: str, channel_id: str | None = None) -> dict:
        return self.client.slash(
            "ask", {"question": question}, user_id=self.user(user), channel_id=channel_id
        )

    def bot_messages_in(self, channel_id: str, after_seq: int = 0) -> list[dict]:
        return [
            s
            for s in self.client.sent()
            if s["channel_id"] == channel_id and s["seq"] > after_seq and s["kind"] == "channel_message"
        ]


def _bot_env(standin: StandInProcess, corpus: Path, data: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "PYTEST_"))}
    env |= {
        "DISCORD_TOKEN": TOKEN,
        "DISCORD_API_BASE": standin.info["api_base"],
        "DISCORD_GATEWAY_URL": standin.info["gateway_url"],
        "DISCORD_GUILD_ID": standin.info["world"]["guild_id"],
        "CORPUS_DIR": str(corpus),
        "DATA_DIR": str(data),
        "RATE_LIMIT_QUESTIONS": str(RATE_LIMIT),
        "RATE_LIMIT_SECONDS": "600",
        "MAX_QUESTION_CHARS": "500",
        "MENTION_ANSWERS": "true",
        "LOG_LEVEL": "INFO",
        "PYTHONPATH": str(PROJECT),
        "PYTHONUNBUFFERED": "1",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TOKENIZERS_PARALLELISM": "false",
    }
    return env


def _stop_bot(bot: subprocess.Popen, timeout: float = 60.0) -> int:
    if bot.poll() is None:
        os.kill(bot.pid, signal.SIGTERM)
        try:
            bot.wait(timeout)
        except subprocess.TimeoutExpired:
            os.kill(bot.pid, signal.SIGKILL)
            bot.wait(10)
    return bot.returncode

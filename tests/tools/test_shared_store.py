"""Several processes, one truth (DATABASE_URL): two long-running ``ask -`` processes on one
PostgreSQL database keep answering while a third process adds an article and re-indexes; both then
answer from the new article, without a restart. Also: a wrong DATABASE_URL ends a command with one
clear line. Real processes, the real model, a real server (bot/tools/pgtemp.py)."""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]
NEW_ARTICLE = (
    "Title: Envoys agree on a Reykjavik prisoner protocol\nSource: Test Wire\nPublished: 2025-04-02\n\n"
    "Negotiators signed a Reykjavik protocol on the exchange of wounded prisoners on Wednesday.\n"
    "The protocol names the Icelandic Red Cross as the neutral inspector of every exchange.\n"
)
QUESTION = "Who is the neutral inspector named by the Reykjavik protocol on wounded prisoners?"


def environment(data: Path, corpus: Path, url: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ANSWER_", "LLM_"))}
    return env | {
        "DATA_DIR": str(data),
        "CORPUS_DIR": str(corpus),
        "DATABASE_URL": url,
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }


class AskSession:
    """A running ``negotiations-bot ask --json -``: one question in, one JSON line out."""

    def __init__(self, env: dict):
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "bot", "ask", "--json", "-"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT,
            env=env,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for line in self.proc.stdout:
            self.lines.put(line)

    def ask(self, question: str, timeout: float = 180) -> dict:
        self.proc.stdin.write(question + "\n")
        self.proc.stdin.flush()
        try:
            return json.loads(self.lines.get(timeout=timeout))
        except queue.Empty:
            raise AssertionError(f"no answer; stderr: {self.proc.stderr.read()[-2000:]}") from None

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def cited_docs(answer: dict) -> set[str]:
    return {c["doc"] for c in answer.get("citations", [])}


@pytest.mark.slow
def test_two_running_processes_answer_from_what_a_third_reindexed(tmp_path, database_url):
    corpus = tmp_path / "corpus"
    shutil.copytree(PROJECT / "seeds", corpus)
    # Each process has its own data dir: nothing is shared through the disk, only the database.
    envs = [environment(tmp_path / f"data-{i}", corpus, database_url) for i in range(3)]
    built = subprocess.run(
        [sys.executable, "-m", "bot", "reindex"],
        env=envs[2],
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert built.returncode == 0, built.stderr[-2000:]
    sessions = [AskSession(envs[0]), AskSession(envs[1])]
    try:
        before = [s.ask(QUESTION) for s in sessions]
        assert all("reykjavik.txt" not in cited_docs(a) for a in before)
        versions_before = {a["index_version"] for a in before}
        assert len(versions_before) == 1

        (corpus / "reykjavik.txt").write_text(NEW_ARTICLE, "utf-8")
        added = subprocess.run(
            [sys.executable, "-m", "bot", "reindex", "--json"],
            env=envs[2],
            cwd=PROJECT,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert added.returncode == 0, added.stderr[-2000:]
        report = json.loads(added.stdout)
        assert report["added"] == ["reykjavik.txt"] and report["published"]

        for session in sessions:
            deadline = time.monotonic() + 60
            answer = session.ask(QUESTION)
            while answer["index_version"] != report["version"] and time.monotonic() < deadline:
                time.sleep(0.5)
                answer = session.ask(QUESTION)
            assert answer["index_version"] == report["version"], "the running process never switched"
            assert "reykjavik.txt" in cited_docs(answer) and "Red Cross" in answer["answer"]
    finally:
        for session in sessions:
            session.close()


@pytest.mark.parametrize("command", [["ask", "What did Putin accept?"], ["reindex"]])
def test_an_unreachable_database_ends_a_command_with_one_clear_line(tmp_path, command):
    env = environment(
        tmp_path / "data", PROJECT / "seeds", "postgresql://bot:secret@127.0.0.1:1/negotiations"
    )
    result = subprocess.run(
        [sys.executable, "-m", "bot", *command],
        env=env,
        cwd=PROJECT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: cannot connect to PostgreSQL at bot@127.0.0.1:1/negotiations: connection refused (is the server running?)"
    )
    assert "secret" not in result.stderr + result.stdout

"""Every command line README.md shows works as written.

Commands are read from README's shell blocks and from inline code in its tables; optional parts
(``[--json]``) are tried with and without, alternatives (``dense|bm25``) each, and placeholders
(``DIR``, ``FILE``, ``URL``) are filled with the seed corpus, the dev questions and pages and feeds
of a local news site (tests/helpers/web_fixture.py). Each one is parsed by the real argument
parser, and the cheap ones are run for real in a subprocess.
"""

from __future__ import annotations

import itertools
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.tools.cli import build_parser
from tests.helpers.web_fixture import RSS, TALKS, NewsSite

PROJECT = Path(__file__).resolve().parents[2]
README = PROJECT / "README.md"
PROGRAMS = ("negotiations-bot", ".venv/bin/negotiations-bot", ".venv/bin/python -m bot")


def _variants(command: str) -> list[str]:
    """``a [--x] [--y A\\|B]`` → every combination of the optional parts and alternatives."""
    command = command.replace("\\|", "|")
    parts = re.split(r"(\[[^\]]*\])", command)
    choices = []
    for part in parts:
        if part.startswith("["):
            inner = part[1:-1]
            options = [""]
            head, _, alternatives = inner.rpartition(" ")
            if "|" in alternatives:
                options += [f"{head} {alt}" for alt in alternatives.split("|")]
            else:
                options.append(inner)
            choices.append(options)
        else:
            choices.append([part])
    return [" ".join("".join(combo).split()) for combo in itertools.product(*choices)]


def readme_commands() -> list[str]:
    text = README.read_text("utf-8")
    found: list[str] = []
    for block in re.findall(r"```(?:sh|bash)?\n(.*?)```", text, re.S):
        for line in block.splitlines():
            line = re.split(r"\s+#\s", line, maxsplit=1)[0].strip()
            if line.startswith(PROGRAMS) or line.startswith("make "):
                found.append(line)
    for code in re.findall(r"`([^`\n]+)`", text):
        if code.startswith(("negotiations-bot ", "make ")):
            found.append(code)
    commands = [variant for command in found for variant in _variants(command)]
    return list(dict.fromkeys(commands))


def _argv(command: str) -> tuple[list[str], str | None]:
    """The arguments after the program name, and the stdin file of a ``< file`` redirect."""
    stdin = None
    if " < " in command:
        command, stdin = (part.strip() for part in command.split(" < ", 1))
    for program in sorted(PROGRAMS, key=len, reverse=True):
        if command.startswith(program + " "):
            command = command[len(program) :]
            break
    return shlex.split(command), stdin


COMMANDS = readme_commands()
BOT_COMMANDS = [c for c in COMMANDS if not c.startswith("make ")]


def test_readme_shows_the_two_newcomer_commands_and_the_console_commands():
    assert {"make run", "make test"} <= set(COMMANDS)
    verbs = {_argv(c)[0][0] for c in BOT_COMMANDS if _argv(c)[0]}
    assert {"ask", "reindex", "eval", "bench", "run", "add-url", "feeds"} <= verbs, verbs


@pytest.mark.parametrize("command", BOT_COMMANDS)
def test_every_readme_command_parses(command):
    argv, _ = _argv(command)
    placeholders = {"DIR": "seeds", "FILE": "tests/data/questions.dev.jsonl", "URL": "https://news.example/a"}
    argv = [placeholders.get(a, a) for a in argv]
    args = build_parser().parse_args(argv)  # SystemExit (a usage error) fails the test
    assert callable(args.func)


@pytest.mark.parametrize("target", ["run", "test"])
def test_make_targets_exist(target):
    result = subprocess.run(["make", "-n", target], cwd=PROJECT, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def sandbox(tmp_path_factory):
    root = tmp_path_factory.mktemp("readme")
    shutil.copytree(PROJECT / "seeds", root / "corpus")
    (root / "questions.txt").write_text("Where will the talks begin?\nWhat did Putin accept?\n", "utf-8")
    return root


@pytest.fixture(scope="module")
def site():
    """The local news site the add-url and feeds commands fetch from (URL: a page or a feed)."""
    with NewsSite() as news_site:
        yield news_site


# `bench` takes minutes (tests/tools/test_bench.py runs its quick mode); the rest run here.
RUNNABLE = [c for c in BOT_COMMANDS if _argv(c)[0][:1] != ["bench"]]


@pytest.mark.slow
@pytest.mark.parametrize("command", RUNNABLE)
def test_every_readme_command_runs(command, sandbox, site):
    argv, stdin_name = _argv(command)
    corpus = sandbox / "corpus"
    url = site.url(TALKS if argv[:1] == ["add-url"] else RSS)
    placeholders = {"DIR": str(corpus), "FILE": str(PROJECT / "tests/data/questions.dev.jsonl"), "URL": url}
    argv = [placeholders.get(a, a) for a in argv]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ANSWER_", "LLM_", "FETCH_"))}
    env |= {"CORPUS_DIR": str(corpus), "DATA_DIR": str(sandbox / "data"), "HF_HUB_OFFLINE": "1"}
    env |= {"FETCH_ALLOW_PRIVATE": "1"}  # the news site listens on 127.0.0.1
    if argv[:1] == ["eval"]:
        argv += ["--data", str(sandbox / "eval-data")]
    stdin = (sandbox / stdin_name).read_text("utf-8") if stdin_name else None

    def run(args):
        return subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=PROJECT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=600,
        )

    if argv[:2] == ["feeds", "remove"]:  # something to remove, whichever command ran before
        assert run(["feeds", "add", url]).returncode == 0
    result = run(argv)
    if argv[:1] == ["run"]:  # no DISCORD_TOKEN in the test environment: a clear message, exit 1
        assert result.returncode == 1 and "DISCORD_TOKEN is not set" in result.stderr
        return
    assert result.returncode == 0, f"{command}\n{result.stderr[-2000:]}"
    assert result.stdout.strip()
    assert "Traceback" not in result.stderr

"""The console commands as a user runs them: a real subprocess, real index, no Discord."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

PROJECT = Path(__file__).resolve().parents[2]


def run_cli(*args, data_dir, corpus_dir, stdin=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")}
    env |= {
        "DATA_DIR": str(data_dir),
        "CORPUS_DIR": str(corpus_dir),
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
    }
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT,
        env=env,
    )


@pytest.fixture(scope="module")
def cli_dirs(tmp_path_factory):
    import shutil

    root = tmp_path_factory.mktemp("cli")
    shutil.copytree(PROJECT / "seeds", root / "corpus")
    return root / "data", root / "corpus"


def test_first_ask_builds_the_index_and_prints_cited_answer(cli_dirs):
    data, corpus = cli_dirs
    result = run_cli("ask", "What did Putin accept?", data_dir=data, corpus_dir=corpus)
    assert result.returncode == 0, result.stderr
    answer, _, sources = result.stdout.partition("\n\n")
    assert "[1]" in answer
    assert sources.startswith('[1] "Putin accepted a 30-day pause in energy infrastructure attacks')
    assert "— Trump and Putin agree" in sources and "(News Country, 2025-03-18)" in sources
    assert f"· {corpus.as_posix()}/000_3b4e6e6ab3547b6d.txt" in sources
    assert (data / "index" / "CURRENT").exists()


def test_ask_json_from_stdin_one_object_per_line(cli_dirs):
    data, corpus = cli_dirs
    questions = "Where will the talks begin?\n\nWho won the 2024 Super Bowl?\n\n" + "x" * 1200 + "\n"
    result = run_cli("ask", "--json", "-", data_dir=data, corpus_dir=corpus, stdin=questions)
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 3
    talks, bowl, long = lines
    assert not talks["refused"] and "Middle East" in talks["citations"][0]["quote"]
    text = (corpus / talks["citations"][0]["doc"]).read_text("utf-8")
    assert (
        text[talks["citations"][0]["start"] : talks["citations"][0]["end"]] == talks["citations"][0]["quote"]
    )
    assert bowl["refused"] and bowl["citations"] == []
    assert long["refused"] and "limit is 1,000" in long["error"]
    assert result.returncode == 2  # one question was bad input


def test_python_m_bot_and_console_script_agree(cli_dirs):
    data, corpus = cli_dirs
    script = Path(sys.executable).with_name("negotiations-bot")
    if not script.exists():
        pytest.skip("console script not installed in this environment")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DISCORD_")} | {
        "DATA_DIR": str(data),
        "CORPUS_DIR": str(corpus),
    }
    a = subprocess.run(
        [str(script), "ask", "--json", "Where will the talks begin?"],
        capture_output=True,
        text=True,
        env=env,
        cwd=PROJECT,
        timeout=300,
    )
    b = run_cli("ask", "--json", "Where will the talks begin?", data_dir=data, corpus_dir=corpus)
    assert json.loads(a.stdout)["answer"] == json.loads(b.stdout)["answer"]


def test_empty_question_is_a_clear_error(cli_dirs):
    data, corpus = cli_dirs
    result = run_cli("ask", "   ", data_dir=data, corpus_dir=corpus)
    assert result.returncode == 2
    assert "The question is empty" in result.stderr


def test_missing_corpus_is_a_clear_error(tmp_path):
    result = run_cli("ask", "Anything?", data_dir=tmp_path / "data", corpus_dir=tmp_path / "missing")
    assert result.returncode == 1
    assert "corpus directory" in result.stderr and "does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_reindex_summary_and_corrupt_index_is_rebuilt(cli_dirs, tmp_path):
    data, corpus = cli_dirs
    (corpus / "bad.txt").write_bytes(b"\xff\xfe\x00binary")
    result = run_cli("reindex", data_dir=data, corpus_dir=corpus)
    assert result.returncode == 0, result.stderr
    assert "1 unchanged" in result.stdout or "1 added" in result.stdout
    assert "skipped bad.txt: binary file" in result.stdout
    # Corrupt the live version: the next ask rebuilds instead of crashing.
    version = data / "index" / (data / "index" / "CURRENT").read_text().strip()
    (version / "vectors.faiss").write_bytes(b"garbage")
    result = run_cli("ask", "--json", "Where will the talks begin?", data_dir=data, corpus_dir=corpus)
    assert result.returncode == 0, result.stderr
    assert "Middle East" in json.loads(result.stdout)["answer"]


def test_ask_first_re_indexes_a_corpus_that_changed_since_the_index_was_built(tmp_path):
    import shutil

    corpus, data = tmp_path / "corpus", tmp_path / "data"
    shutil.copytree(PROJECT / "seeds", corpus)
    (corpus / "broken.txt").write_bytes(b"\xff\xfe\x00binary")  # skipped, and must not re-index every time
    question = "Which port will the first group of released sailors cross through?"
    first = run_cli("ask", "--json", question, data_dir=data, corpus_dir=corpus)
    assert first.returncode == 0, first.stderr
    assert json.loads(first.stdout)["refused"]
    # An article added after the index was built (as an admin would drop it into the corpus).
    (corpus / "sailors.txt").write_text(
        "Title: Sailors to be exchanged at Izmail\nSource: Harbour Wire\nPublished: 2025-04-02\n"
        "URL: https://example.org/sailors\n\n"
        "The first group of released sailors will cross through the port of Izmail on Friday, "
        "officials from both delegations said.\n",
        encoding="utf-8",
    )
    second = run_cli("ask", "--json", question, data_dir=data, corpus_dir=corpus)
    assert second.returncode == 0, second.stderr
    assert "differs from the index" in second.stderr and "1 added" in second.stderr
    answer = json.loads(second.stdout)
    assert not answer["refused"] and answer["citations"][0]["doc"] == "sailors.txt"
    third = run_cli("ask", "--json", question, data_dir=data, corpus_dir=corpus)
    assert "differs from the index" not in third.stderr
    assert json.loads(third.stdout)["citations"][0]["doc"] == "sailors.txt"


def test_ask_answers_from_the_corpus_asked_about_not_an_index_built_from_another(tmp_path):
    import shutil

    seeds, other, data = tmp_path / "seeds", tmp_path / "other", tmp_path / "data"
    shutil.copytree(PROJECT / "seeds", seeds)
    other.mkdir()
    (other / "grain.txt").write_text(
        "Title: Grain corridor talks resume\nSource: Harbour Wire\nPublished: 2025-05-10\n\n"
        "Negotiators resumed talks on the Black Sea grain corridor in Istanbul on Monday.\n",
        encoding="utf-8",
    )
    built = run_cli("ask", "--json", "What did Putin accept?", data_dir=data, corpus_dir=seeds)
    assert not json.loads(built.stdout)["refused"], built.stderr
    result = run_cli("ask", "--json", "What did Putin accept?", data_dir=data, corpus_dir=other)
    assert result.returncode == 0, result.stderr
    assert "1 added, 0 changed, 1 removed" in result.stderr
    answer = json.loads(result.stdout)
    assert all(c["doc"] == "grain.txt" for c in answer["citations"]), answer

"""``add-url`` and ``feeds`` from the console, against the local news site: JSON results, one
article per story, every bad case refused with exit code 2 and nothing saved or indexed, feeds
kept in the bot's database and polled; and, as a user runs it, a question about a just-added
article answered with a citation inside that article's body."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from index.articles import read_article
from tests.helpers.web_fixture import ATOM, RSS, TALKS, TALKS_AMP

PROJECT = Path(__file__).resolve().parents[2]
BOILERPLATE = ("We use cookies", "newsletter", "seawatcher77", "Related stories", "All rights reserved")


@pytest.fixture
def console(tmp_path, monkeypatch, embed_model, news_site):
    """The CLI in this process, on an empty corpus, with the session's embedding model."""
    import index.embedding

    monkeypatch.setattr(index.embedding, "load_embed_model", lambda *a, **k: embed_model)
    monkeypatch.chdir(tmp_path)  # no .env from the project
    corpus, data = tmp_path / "corpus", tmp_path / "data"
    corpus.mkdir()
    for key, value in {
        "CORPUS_DIR": corpus,
        "DATA_DIR": data,
        "FETCH_ALLOW_PRIVATE": "1",
        "FETCH_TIMEOUT_S": "2",
        "FETCH_MAX_BYTES": "300000",
    }.items():
        monkeypatch.setenv(key, str(value))

    def run(capsys, *args) -> tuple[int, str, str]:
        from bot.tools.cli import main

        code = main([a if not a.startswith("/") else news_site.url(a) for a in args])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    run.corpus, run.data, run.site = corpus, data, news_site
    return run


def files(corpus: Path) -> dict[str, bytes]:
    return {
        p.relative_to(corpus).as_posix(): p.read_bytes() for p in sorted(corpus.rglob("*")) if p.is_file()
    }


def test_add_url_json_added_then_unchanged_then_updated(console, capsys):
    code, out, _ = console(capsys, "add-url", "--json", TALKS + "?utm_source=rss&fbclid=1")
    added = json.loads(out)
    assert code == 0
    assert {k: added[k] for k in ("status", "title", "source", "published", "url")} == {
        "status": "added",
        "title": "Envoys agree on a sailor exchange at Istanbul talks",
        "source": "The Harbour Ledger",
        "published": "2025-05-16",
        "url": console.site.url(TALKS),
    }
    assert (console.corpus / added["doc"]).is_file() and added["index"]["embedded_chunks"] > 0

    code, out, _ = console(capsys, "add-url", "--json", TALKS_AMP)
    same = json.loads(out)
    assert code == 0 and (same["status"], same["doc"]) == ("unchanged", added["doc"])
    assert same["index"]["embedded_chunks"] == 0 and not same["index"]["published"]  # nothing embedded

    page = console.site.page("istanbul-talks.html").replace(
        b"at Odesa.</p>", b"at Odesa.</p><p>Update: talks resume.</p>"
    )
    console.site.serve(TALKS, body=page)
    code, out, _ = console(capsys, "add-url", TALKS)
    assert code == 0
    assert (
        out.splitlines()[0]
        == "updated: “Envoys agree on a sailor exchange at Istanbul talks” — The Harbour Ledger, 2025-05-16"
    )
    assert "index: 0 added, 1 changed, 0 removed" in out
    assert list(files(console.corpus)) == [added["doc"]]  # replaced, not duplicated


@pytest.mark.parametrize(
    "path,message",
    [
        ("/status/404", "the server answered HTTP 404 Not Found"),
        ("/status/500", "the server answered HTTP 500 Internal Server Error"),
        ("/image.png", "not an HTML page (Content-Type: image/png)"),
        ("/huge", "too big: more than 300,000 bytes (FETCH_MAX_BYTES); stopped reading"),
        ("/huge-declared", "too big: 50,000,000 bytes"),
        ("/subscribe/wall", "no article text found on the page"),
        ("/redirect/loop-a", "redirect loop"),
        ("/redirect/chain/10", "too many redirects (more than 5)"),
        ("/redirect/metadata", "169.254.169.254 is a cloud metadata address"),
        ("/slow", "timed out: no complete answer within 2 s"),
        ("ftp://127.0.0.1/a.txt", "only http:// and https:// URLs can be fetched"),
    ],
)
def test_bad_urls_exit_2_and_nothing_is_saved_or_indexed(console, capsys, path, message):
    code, out, err = console(capsys, "add-url", path)
    assert code == 2 and out == ""
    assert err.startswith("error: cannot add ") and message in err
    code, out, _ = console(capsys, "add-url", "--json", path)
    failed = json.loads(out)
    assert code == 2 and failed["status"] == "failed" and message in failed["error"]
    assert files(console.corpus) == {} and not (console.data / "index").exists()


def test_private_addresses_are_refused_without_fetch_allow_private(console, capsys, monkeypatch):
    monkeypatch.delenv("FETCH_ALLOW_PRIVATE")
    code, _, err = console(capsys, "add-url", TALKS)
    assert code == 2
    assert "refused: 127.0.0.1 is a loopback address (set FETCH_ALLOW_PRIVATE=1" in err
    assert console.site.requests == [] and files(console.corpus) == {}


def test_feeds_add_list_poll_twice_and_remove(console, capsys):
    code, out, _ = console(capsys, "feeds", "add", "--json", RSS)
    assert code == 0 and json.loads(out) == {
        "status": "added",
        "url": console.site.url(RSS),
        "title": "The Harbour Ledger – World",
        "items": 2,
    }
    assert console(capsys, "feeds", "add", ATOM)[0] == 0
    code, _, err = console(capsys, "feeds", "add", "/feeds/not-a-feed.xml")
    assert code == 2 and "cannot subscribe to" in err and "not an RSS or Atom feed" in err

    code, out, _ = console(capsys, "feeds", "poll", "--json")
    first = json.loads(out)
    assert code == 2  # one item's page is gone: reported, the rest added
    assert (first["feeds"], first["added"], first["failed"]) == (2, 3, 1)
    assert first["errors"] == [
        {
            "feed": console.site.url(ATOM),
            "url": console.site.url("/status/404"),
            "error": "the server answered HTTP 404 Not Found",
        }
    ]
    assert first["index"]["added"] == 3 and first["index_error"] is None
    assert len(files(console.corpus)) == 3

    code, out, _ = console(capsys, "feeds", "poll", "--json")
    second = json.loads(out)
    assert (second["added"], second["updated"], second["index"]) == (0, 0, None)  # nothing new: no re-index

    code, out, _ = console(capsys, "feeds", "list", "--json")
    listed = {f["url"]: f for f in json.loads(out)["feeds"]}
    assert listed[console.site.url(RSS)]["items"] == 2 and listed[console.site.url(ATOM)]["items"] == 1
    code, out, _ = console(capsys, "feeds", "list")
    assert "“The Harbour Ledger – World”: 2 item(s) saved, last polled" in out

    assert console(capsys, "feeds", "remove", ATOM)[0] == 0
    code, _, err = console(capsys, "feeds", "remove", ATOM)
    assert code == 2 and "not subscribed to" in err
    code, out, _ = console(capsys, "feeds", "list", "--json")
    assert [f["url"] for f in json.loads(out)["feeds"]] == [console.site.url(RSS)]
    assert len(files(console.corpus)) == 3  # the removed feed's article stays


@pytest.mark.slow
def test_a_question_about_a_just_added_article_cites_its_body(tmp_path, news_site):
    """As a user runs it: a subprocess adds the page to a copy of seeds/, another asks about it."""
    import shutil

    corpus, data = tmp_path / "corpus", tmp_path / "data"
    shutil.copytree(PROJECT / "seeds", corpus)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "ANSWER_", "LLM_", "FETCH_"))}
    env |= {
        "CORPUS_DIR": str(corpus),
        "DATA_DIR": str(data),
        "FETCH_ALLOW_PRIVATE": "1",
        "HF_HUB_OFFLINE": "1",
    }

    def cli(*args):
        result = subprocess.run(
            [sys.executable, "-m", "bot", *args],
            cwd=PROJECT,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        return json.loads(result.stdout)

    added = cli("add-url", "--json", news_site.url(TALKS))
    answer = cli("ask", "--json", "Through which port will the first group of sailors cross?")
    assert not answer["refused"] and answer["citations"]
    article = read_article(corpus / added["doc"], corpus)
    ours = [c for c in answer["citations"] if c["doc"] == added["doc"]]
    assert ours, answer
    for citation in ours:
        assert citation["start"] >= article.body_start  # inside the body, not the header
        assert article.text[citation["start"] : citation["end"]] == citation["quote"]
        assert not any(text in citation["quote"] for text in BOILERPLATE)
    assert any("Constanța" in c["quote"] for c in ours)
    assert (citation["title"], citation["source"], citation["published"]) == (
        "Envoys agree on a sailor exchange at Istanbul talks",
        "The Harbour Ledger",
        "2025-05-16",
    )

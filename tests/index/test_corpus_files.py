"""Issue 15, item 6: the corpus reader reads regular files inside the corpus directory only, and
never more than the size limit (plus one byte), whatever ``stat()`` reports."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from index.articles import load_corpus

SECRET = "DISCORD_TOKEN=MTIz.fake-token-from-outside"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, "utf-8")


@pytest.fixture
def corpus(tmp_path) -> Path:
    _write(tmp_path / "corpus" / "good.txt", "Title: Good\n\nEnvoys met in Geneva.\n")
    return tmp_path / "corpus"


def test_links_to_files_outside_the_corpus_are_skipped_unread(corpus, tmp_path):
    _write(tmp_path / "outside" / "secrets.txt", f"Title: Secrets\n\n{SECRET}\n")
    (corpus / "leak.txt").symlink_to(tmp_path / "outside" / "secrets.txt")
    (corpus / "proc.txt").symlink_to("/proc/self/environ")  # stat() says 0 bytes
    (corpus / "nested").symlink_to(tmp_path / "outside", target_is_directory=True)
    load = load_corpus(corpus)
    assert [a.doc_id for a in load.articles] == ["good.txt"]
    assert all(SECRET not in a.text for a in load.articles)
    reasons = dict(load.skipped)
    assert "outside the corpus directory" in reasons["leak.txt"]
    assert "outside the corpus directory" in reasons["proc.txt"]


def test_links_within_the_corpus_still_work(corpus):
    _write(corpus / "archive" / "talks.md", "Title: Talks\n\nDelegations met in Riyadh.\n")
    (corpus / "latest.md").symlink_to(corpus / "archive" / "talks.md")
    assert sorted(a.doc_id for a in load_corpus(corpus).articles) == [
        "archive/talks.md",
        "good.txt",
        "latest.md",
    ]


def test_special_files_are_skipped_without_blocking(corpus):
    os.mkfifo(corpus / "pipe.txt")  # reading a FIFO with no writer would block forever
    load = load_corpus(corpus)
    assert [a.doc_id for a in load.articles] == ["good.txt"]
    assert "not a regular file" in dict(load.skipped)["pipe.txt"]


def test_no_more_than_the_limit_is_read_whatever_stat_says(corpus, monkeypatch):
    _write(corpus / "huge.txt", "Title: Huge\n\n" + "word " * 10_000)
    real_stat = Path.stat

    def lying_stat(self, *args, **kwargs):  # as /proc and device files do
        result = real_stat(self, *args, **kwargs)
        if self.name == "huge.txt":
            return os.stat_result((result.st_mode, *result[1:6], 0, *result[7:]))
        return result

    monkeypatch.setattr(Path, "stat", lying_stat)
    load = load_corpus(corpus, max_bytes=1000)
    assert [a.doc_id for a in load.articles] == ["good.txt"]
    assert "too large" in dict(load.skipped)["huge.txt"]

import os
from pathlib import Path

import pytest

from index.articles import CorpusError, load_corpus, parse_header, read_article, readable_title

SEED = "000_3b4e6e6ab3547b6d.txt"


def test_seed_article_is_byte_identical_to_shared_copy():
    shared = Path(__file__).resolve().parents[2].parent / "shared" / "seeds" / SEED
    if not shared.exists():
        pytest.skip("../shared/seeds is not beside this checkout")
    assert (Path(__file__).resolve().parents[2] / "seeds" / SEED).read_bytes() == shared.read_bytes()


def test_seed_article_gets_human_metadata_from_sidecar(corpus_dir):
    article = read_article(corpus_dir / SEED, corpus_dir)
    assert article.doc_id == SEED
    assert article.title.startswith("Trump and Putin agree")
    assert article.source == "News Country"
    assert article.published == "2025-03-18"
    assert article.body_start == 0  # the sidecar leaves the file's text untouched
    assert article.text.encode("utf-8") == (corpus_dir / SEED).read_bytes()


def test_sidecar_changes_content_hash(corpus_dir):
    before = read_article(corpus_dir / SEED, corpus_dir).content_hash
    sidecar = corpus_dir / (SEED + ".meta")
    sidecar.write_text(sidecar.read_text("utf-8").replace("News Country", "Other"), "utf-8")
    assert read_article(corpus_dir / SEED, corpus_dir).content_hash != before


def test_header_block_is_parsed_and_body_offset_is_exact():
    text = "Title: A headline\nSource: The Wire\nPublished: 2024-01-02\nURL: http://x\n\nBody starts here.\nMore."
    metadata, body_start = parse_header(text)
    assert metadata == {
        "title": "A headline",
        "source": "The Wire",
        "published": "2024-01-02",
        "url": "http://x",
    }
    assert text[body_start:].startswith("Body starts here.")


def test_header_with_crlf_line_endings():
    text = "Title: T\r\nSource: S\r\n\r\nBody."
    metadata, body_start = parse_header(text)
    assert metadata["source"] == "S"
    assert text[body_start:] == "Body."


def test_no_header_means_no_metadata():
    assert parse_header("Just an article. Title: not a header.") == ({}, 0)


@pytest.mark.parametrize(
    ("name", "body", "expected"),
    [
        ("ceasefire_talks-riyadh.txt", "x", "Ceasefire talks riyadh"),
        ("000_3b4e6e6ab3547b6d.txt", "Kremlin signals openness. More text.", "Kremlin signals openness."),
    ],
)
def test_readable_title_never_a_hash(name, body, expected):
    assert readable_title(name, body) == expected


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def test_bad_files_are_skipped_with_reasons_and_the_rest_indexed(tmp_path):
    good = "Title: Good\n\nA real article about talks."
    _write(tmp_path / "good.md", good.encode())
    _write(tmp_path / "empty.txt", b"")
    _write(tmp_path / "blank.txt", b"   \n\n ")
    _write(tmp_path / "latin1.txt", "Caf\xe9 talks".encode("latin-1"))
    _write(tmp_path / "binary.txt", b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR")
    _write(tmp_path / "huge.txt", b"word " * 300)
    _write(tmp_path / "header-only.txt", b"Title: Nothing else\n\n")
    _write(tmp_path / "ignored.pdf", b"%PDF-1.4")
    load = load_corpus(tmp_path, max_bytes=1000)
    assert [a.doc_id for a in load.articles] == ["good.md"]
    reasons = dict(load.skipped)
    assert reasons["empty.txt"].startswith("empty file")
    assert reasons["blank.txt"].startswith("empty file")
    assert "not UTF-8" in reasons["latin1.txt"] and "0xe9" in reasons["latin1.txt"]
    assert "binary" in reasons["binary.txt"]
    assert "too large" in reasons["huge.txt"] and "1,000" in reasons["huge.txt"]
    assert "no article text after the header" in reasons["header-only.txt"]
    assert "ignored.pdf" not in reasons


def test_unreadable_file_is_skipped(tmp_path, monkeypatch):
    # Tests run as root in CI, where chmod 000 does not stop reads: make the read itself fail.
    _write(tmp_path / "ok.txt", b"Fine article.")
    _write(tmp_path / "locked.txt", b"Secret article.")
    real_open = os.open

    def open_file(path, *args, **kwargs):  # the reader opens files with os.open (no links followed)
        if Path(path).name == "locked.txt":
            raise PermissionError(13, "Permission denied")
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", open_file)
    load = load_corpus(tmp_path)
    assert [a.doc_id for a in load.articles] == ["ok.txt"]
    assert dict(load.skipped)["locked.txt"] == "cannot be read: permission denied"


def test_missing_and_empty_corpus_dirs_are_clear_errors(tmp_path):
    with pytest.raises(CorpusError, match="does not exist"):
        load_corpus(tmp_path / "nope")
    with pytest.raises(CorpusError, match=r"no readable \.txt/\.md articles"):
        load_corpus(tmp_path)
    _write(tmp_path / "empty.txt", b"")
    with pytest.raises(CorpusError, match=r"empty\.txt \(empty file"):
        load_corpus(tmp_path)


def test_bom_is_dropped_and_newlines_are_kept(tmp_path):
    _write(tmp_path / "bom.txt", "\ufeffFirst line.\r\nSecond line.".encode("utf-8"))
    article = load_corpus(tmp_path).articles[0]
    assert article.text == "First line.\r\nSecond line."

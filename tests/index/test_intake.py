"""Validation and saving of articles uploaded with /add-article (no Discord, no model)."""

from __future__ import annotations

import os
import threading

import pytest

from index.articles import load_corpus
from index.intake import (
    SaveOutcome,
    UploadRejected,
    check_size,
    check_upload,
    safe_filename,
    save_upload,
)

GOOD = (
    b"Title: Talks resume in Riyadh\nSource: Wire\nPublished: 2025-02-18\n\nDelegations met for four hours.\n"
)
LIMIT = 10_000


@pytest.fixture
def corpus(tmp_path):
    path = tmp_path / "corpus"
    path.mkdir()
    (path / "existing.txt").write_text("Title: Old\n\nThe old text.\n", "utf-8")
    return path


# ---------------------------------------------------------------- names


@pytest.mark.parametrize(
    "name",
    [
        "../../x.txt",
        "..\\..\\x.txt",
        "/etc/passwd.txt",
        "C:\\Windows\\x.txt",
        "sub/dir.txt",
        "\uff0e\uff0e\uff0fx.txt",  # fullwidth "../" becomes a real one under NFKC
    ],
)
def test_paths_and_traversal_are_refused(name):
    with pytest.raises(UploadRejected, match="path"):
        safe_filename(name)


@pytest.mark.parametrize("name", [".hidden.txt", ".txt", "..txt", "   .md"])
def test_hidden_names_are_refused(name):
    with pytest.raises(UploadRejected, match="hidden"):
        safe_filename(name)


@pytest.mark.parametrize(
    "name", ["report.pdf", "notes", "x.txt.exe", "x.meta", "article.txt.meta", "x.html", ""]
)
def test_only_txt_and_md(name):
    with pytest.raises(UploadRejected):
        safe_filename(name)


@pytest.mark.parametrize("name", ["evil\x00.txt", "a\nb.txt", "rtl\u202etxt.md", "zero\u200bwidth.txt"])
def test_control_and_invisible_characters_are_refused(name):
    with pytest.raises(UploadRejected, match="control or invisible"):
        safe_filename(name)


@pytest.mark.parametrize(
    "name,expected",
    [
        ("talks.txt", "talks.txt"),
        ("Talks.TXT", "Talks.txt"),
        ("Переговоры в Женеве.md", "Переговоры в Женеве.md"),
        ("cafe\u0301.txt", "café.txt"),  # NFKC composes the accent
        ("a:b*c?.txt", "a_b_c.txt"),
        ("a\u2215b.txt", "a_b.txt"),  # a look-alike slash is not a separator, just replaced
        ("  spaced   out  .md", "spaced out.md"),
        ("CON.txt", "CON_article.txt"),
        ("x" * 300 + ".txt", "x" * 96 + ".txt"),
    ],
)
def test_names_are_normalised(name, expected):
    assert safe_filename(name) == expected


def test_name_of_only_symbols_is_refused():
    with pytest.raises(UploadRejected, match="no usable characters"):
        safe_filename("???.txt")


# ---------------------------------------------------------------- content


def test_good_upload_is_parsed_with_its_header():
    upload = check_upload("riyadh.txt", GOOD, LIMIT)
    assert upload.filename == "riyadh.txt"
    assert upload.title == "Talks resume in Riyadh"
    assert upload.metadata == {"title": "Talks resume in Riyadh", "source": "Wire", "published": "2025-02-18"}
    assert upload.warnings == ()


def test_upload_without_header_gets_title_from_name_and_a_warning():
    upload = check_upload("black_sea_truce.md", b"Ships may pass again.\n", LIMIT)
    assert upload.title == "Black sea truce" and upload.metadata == {}
    assert any("no metadata header" in w for w in upload.warnings)


def test_bad_date_is_a_warning_not_a_refusal():
    upload = check_upload("x.txt", b"Title: T\nPublished: last Tuesday\n\nBody.\n", LIMIT)
    assert any("not a date" in w for w in upload.warnings)


def test_too_big_is_refused_before_and_after_download():
    with pytest.raises(UploadRejected, match="too big"):
        check_size(LIMIT + 1, LIMIT)
    check_size(LIMIT, LIMIT)
    with pytest.raises(UploadRejected, match="too big"):
        check_upload("x.txt", b"a" * (LIMIT + 1), LIMIT)


@pytest.mark.parametrize("data", [b"", b"   \n\t\n", "\ufeff".encode()])
def test_empty_is_refused(data):
    with pytest.raises(UploadRejected, match="empty"):
        check_upload("x.txt", data, LIMIT)


def test_header_without_body_is_refused():
    with pytest.raises(UploadRejected, match="no article text"):
        check_upload("x.txt", b"Title: Only a title\nSource: Wire\n\n   \n", LIMIT)


@pytest.mark.parametrize(
    "data,reason",
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "PNG"),
        (b"hello\x00world", "binary"),
        (bytes(range(1, 32)) * 20, "binary"),
    ],
)
def test_binary_is_refused(data, reason):
    with pytest.raises(UploadRejected, match=reason):
        check_upload("x.txt", data, LIMIT)


def test_not_utf8_is_refused_with_the_byte():
    with pytest.raises(UploadRejected, match=r"not UTF-8 \(invalid byte 0xe9"):
        check_upload("x.txt", "Caf\xe9 talks".encode("latin-1"), LIMIT)


def test_bad_name_is_refused_even_with_good_content():
    with pytest.raises(UploadRejected, match="path"):
        check_upload("../../x.txt", GOOD, LIMIT)


# ---------------------------------------------------------------- saving


def test_save_new_article_atomically_and_the_indexer_reads_it(corpus):
    result = save_upload(check_upload("riyadh.txt", GOOD, LIMIT), corpus)
    assert result.outcome is SaveOutcome.SAVED and result.changed_corpus
    assert (corpus / "riyadh.txt").read_bytes() == GOOD
    assert oct((corpus / "riyadh.txt").stat().st_mode & 0o777) == "0o644"
    assert sorted(os.listdir(corpus)) == ["existing.txt", "riyadh.txt"]  # no temporary left behind
    loaded = {a.doc_id: a for a in load_corpus(corpus).articles}
    assert loaded["riyadh.txt"].title == "Talks resume in Riyadh"


def test_existing_name_needs_confirmation_and_is_not_touched(corpus):
    before = (corpus / "existing.txt").read_bytes()
    upload = check_upload("existing.txt", GOOD, LIMIT)
    result = save_upload(upload, corpus)
    assert result.outcome is SaveOutcome.EXISTS and result.needs_confirmation and not result.changed_corpus
    assert "already exists" in result.message and "onfirm" in result.message
    assert (corpus / "existing.txt").read_bytes() == before
    replaced = save_upload(upload, corpus, replace=True)
    assert replaced.outcome is SaveOutcome.REPLACED and (corpus / "existing.txt").read_bytes() == GOOD
    assert sorted(os.listdir(corpus)) == ["existing.txt"]


def test_case_variant_of_existing_name_is_the_same_article(corpus):
    result = save_upload(check_upload("EXISTING.TXT", GOOD, LIMIT), corpus)
    assert result.outcome is SaveOutcome.EXISTS and result.filename == "existing.txt"
    save_upload(check_upload("EXISTING.TXT", GOOD, LIMIT), corpus, replace=True)
    assert sorted(os.listdir(corpus)) == ["existing.txt"] and (corpus / "existing.txt").read_bytes() == GOOD


def test_identical_reupload_is_a_no_op(corpus):
    data = (corpus / "existing.txt").read_bytes()
    result = save_upload(check_upload("existing.txt", data, LIMIT), corpus)
    assert (
        result.outcome is SaveOutcome.UNCHANGED
        and not result.changed_corpus
        and not result.needs_confirmation
    )


def test_existing_directory_or_symlink_is_never_replaced(corpus, tmp_path):
    (corpus / "dir.txt").mkdir()
    outside = tmp_path / "outside.txt"
    outside.write_text("secret", "utf-8")
    (corpus / "link.txt").symlink_to(outside)
    for name in ("dir.txt", "link.txt"):
        with pytest.raises(UploadRejected, match="not a regular file"):
            save_upload(check_upload(name, GOOD, LIMIT), corpus, replace=True)
    assert outside.read_text("utf-8") == "secret"


def test_racing_uploads_of_the_same_new_name_never_overwrite(corpus):
    uploads = [
        check_upload("race.txt", f"Title: Writer {i}\n\nText {i}.\n".encode(), LIMIT) for i in range(8)
    ]
    results = []
    barrier = threading.Barrier(len(uploads))

    def save(upload):
        barrier.wait(5)
        results.append(save_upload(upload, corpus))

    threads = [threading.Thread(target=save, args=(u,)) for u in uploads]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    outcomes = [r.outcome for r in results]
    assert outcomes.count(SaveOutcome.SAVED) == 1 and outcomes.count(SaveOutcome.EXISTS) == len(uploads) - 1
    content = (corpus / "race.txt").read_bytes()
    assert content in {u.data for u in uploads}
    assert not [n for n in os.listdir(corpus) if n.startswith(".")]


def test_missing_corpus_dir_is_a_clear_refusal(tmp_path):
    with pytest.raises(UploadRejected, match="corpus directory"):
        save_upload(check_upload("x.txt", GOOD, LIMIT), tmp_path / "nope")

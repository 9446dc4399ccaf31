"""Incremental re-indexing by segments: answers identical to a full rebuild's after additions,
changes, removals and renames, and again after merges; an addition writes one new segment and
leaves the others untouched (and loaded); unchanged files are not read; ``only`` re-indexes named
files; merges carry deletions published meanwhile; the merge policy; a watching library follows
what another process publishes. Tests taking ``store_url`` run against both stores (files and
PostgreSQL); the reference full rebuild is always the files store's, so they also show that both
stores answer alike.

A deterministic stand-in embedder (same text, same vector, whatever the batch) makes "identical"
mean bit for bit: the real model's vectors differ in the last bits with the batch they are in.
"""

from __future__ import annotations

import os
import shutil

import numpy as np
import pytest

from index.library import Library, LibraryConfig
from index.merge import MergePolicy, plan_merge
from tests.index.store_support import TOPICS, HashEmbed, write_corpus

QUESTIONS = [
    "Where did the delegations meet to discuss a ceasefire?",
    "What did Moscow demand before a maritime truce, according to The Kyiv Independent?",
    "Which ships left Odesa, as reported by Reuters on 2025-03-11?",
    "How many prisoners were exchanged and who mediated, and what was agreed in the phone call?",
    "What was published on March 18, 2025 about energy strikes?",
    "talks",
]

EXTRA = {
    "reuters/odesa.txt": (
        "Reuters",
        "2025-03-11",
        "Three grain ships left Odesa at dawn. Insurers raised rates.",
    ),
    "kyiv/truce.md": (
        "The Kyiv Independent",
        "2025-03-18",
        "Moscow demanded sanctions relief first. Kyiv refused.",
    ),
    "kyiv/drones.md": (
        "The Kyiv Independent",
        "2025-03-20",
        "Drone strikes hit the energy grid. Talks stalled.",
    ),
    "wire/summit.txt": (
        "AP",
        "2025-03-25",
        "A summit in Riyadh was proposed. Delegations met to discuss a ceasefire.",
    ),
}


def write_extra(corpus, names=EXTRA):
    for name in names:
        source, date, body = EXTRA[name]
        path = corpus / name
        path.parent.mkdir(parents=True, exist_ok=True)
        title = name.split("/")[1].split(".")[0].capitalize()
        path.write_text(f"Title: {title}\nSource: {source}\nPublished: {date}\n\n{body}\n", "utf-8")


def backdate(corpus, seconds: int = 3600):
    """Files written seconds ago are read again at the next re-index (their stat is not yet
    trusted): age them, as a corpus written earlier would be."""
    for path in corpus.rglob("*"):
        if path.is_file():
            st = path.stat()
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns - seconds * 10**9))


def make(data, corpus, url=None, **config) -> Library:
    return Library(
        LibraryConfig(data_dir=data, corpus_dir=corpus, database_url=url, **config), embed_model=HashEmbed()
    )


def forget_loaded_segments():
    """As a fresh process: segments already loaded here are not reused (both stores' caches)."""
    import index.filestore
    import index.pgstore

    index.filestore._loaded.clear()
    index.pgstore._loaded.clear()


def answers(library: Library) -> list[list[tuple]]:
    return [
        [(h.node.node_id, h.score, h.dense, h.bm25) for h in library.search(q, top_k=8)] for q in QUESTIONS
    ]


def rebuilt(tmp_path, corpus) -> list[list[tuple]]:
    """What a full rebuild of the corpus as it is now answers (a fresh data dir)."""
    data = tmp_path / f"full-{len(list(tmp_path.iterdir()))}"
    library = make(data, corpus, background_merge=False)
    report = library.reindex()
    assert report.rebuilt_from_scratch and len(library.version.segments) == 1
    return answers(library)


def test_incremental_versions_and_merges_answer_exactly_like_a_full_rebuild(tmp_path, store_url):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    library = make(tmp_path / "data", corpus, store_url, background_merge=False)
    library.reindex()
    assert answers(library) == rebuilt(tmp_path, corpus)

    write_extra(corpus, ["reuters/odesa.txt", "kyiv/truce.md"])  # additions
    library.reindex()
    write_extra(corpus, ["kyiv/drones.md"])
    (corpus / "00_geneva_talks.txt").write_text(  # a change
        (corpus / "00_geneva_talks.txt").read_text("utf-8") + "They will meet again in Istanbul.\n", "utf-8"
    )
    library.reindex()
    (corpus / "02_prisoner_exchange.txt").unlink()  # a removal
    (corpus / "03_energy_strikes_pause.txt").rename(corpus / "energy.txt")  # a rename
    write_extra(corpus, ["wire/summit.txt"])
    report = library.reindex()
    assert report.removed == ["02_prisoner_exchange.txt", "03_energy_strikes_pause.txt"]
    version = library.version
    assert len(version.segments) == 4 and version.live_rows is not None  # deleted rows in old segments
    assert answers(library) == rebuilt(tmp_path, corpus)

    # Merging two of the segments, then all of them: same answers, no deleted row left.
    assert library.merge([s.id for s in version.segments[1:3]])
    assert len(library.version.segments) == 3
    assert answers(library) == rebuilt(tmp_path, corpus)
    assert library.merge([s.id for s in library.version.segments])
    assert len(library.version.segments) == 1 and library.version.live_rows is None
    assert answers(library) == rebuilt(tmp_path, corpus)

    # A fresh process loading the merged version from its store answers the same.
    forget_loaded_segments()
    assert answers(make(tmp_path / "data", corpus, store_url)) == rebuilt(tmp_path, corpus)


def test_an_addition_writes_one_segment_and_keeps_the_others_loaded_and_untouched(tmp_path, store_url):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    backdate(corpus)
    library = make(tmp_path / "data", corpus, store_url)
    library.reindex()
    before = library.version
    segments_dir = tmp_path / "data" / "index" / "segments"  # (empty with PostgreSQL)
    files = {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in segments_dir.rglob("*") if p.is_file()}
    assert bool(files) == (store_url is None)

    write_extra(corpus, ["reuters/odesa.txt"])
    report = library.reindex()
    after = library.version
    assert report.added == ["reuters/odesa.txt"] and report.files_read == 1
    assert report.embedded_chunks == after.articles["reuters/odesa.txt"]["chunks"]
    assert after.segments[0] is before.segments[0]  # the same object: not loaded again
    assert len(after.segments) == 2 and after.segments[1].n_chunks == report.embedded_chunks
    assert {p: (p.stat().st_mtime_ns, p.stat().st_ino) for p in files} == files  # not rewritten
    assert library.search("grain ships Odesa insurers")[0].node.metadata["doc"] == "reuters/odesa.txt"


def test_unchanged_files_are_not_read_and_a_touched_one_is_read_but_unchanged(tmp_path):
    corpus = tmp_path / "corpus"
    names = write_corpus(corpus)
    library = make(tmp_path / "data", corpus)
    library.reindex()
    version = library.version
    report = library.reindex()  # files written just now are read again (their stat is not trusted yet)
    assert report.no_op and report.files_read == len(TOPICS)
    backdate(corpus)
    library.reindex()  # their stat is recorded by this run...
    report = library.reindex()  # ...so this one reads nothing
    assert report.no_op and report.files_read == 0 and len(report.unchanged) == len(TOPICS)
    st = (corpus / names[1]).stat()
    os.utime(corpus / names[1], ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    report = library.reindex()
    assert report.no_op and report.files_read == 1
    assert library.version.name == version.name


def test_only_reindexes_the_named_files(tmp_path, store_url):
    corpus = tmp_path / "corpus"
    names = write_corpus(corpus)
    library = make(tmp_path / "data", corpus, store_url)
    library.reindex()
    backdate(corpus)
    library.reindex()
    write_extra(corpus, ["reuters/odesa.txt", "kyiv/truce.md"])
    (corpus / names[0]).unlink()
    report = library.reindex(only=["reuters/odesa.txt", names[0], "../outside.txt", "notes.pdf"])
    assert report.partial and report.added == ["reuters/odesa.txt"] and report.removed == [names[0]]
    assert report.files_read == 1 and not report.unchanged
    assert dict(report.skipped) == {
        "../outside.txt": "not a path inside the corpus directory",
        "notes.pdf": "not a .txt or .md file",
    }
    articles = library.version.articles
    assert "reuters/odesa.txt" in articles and "kyiv/truce.md" not in articles and names[0] not in articles
    report = library.reindex()  # the whole corpus: picks up the file nobody named
    assert report.added == ["kyiv/truce.md"] and not report.removed


def test_a_merge_carries_over_deletions_published_while_it_ran(tmp_path, store_url):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    library = make(tmp_path / "data", corpus, store_url, background_merge=False)
    library.reindex()
    write_extra(corpus, ["reuters/odesa.txt", "kyiv/truce.md"])
    library.reindex()
    base = library.version
    (corpus / "reuters" / "odesa.txt").unlink()  # deleted after the merge "started" from base
    library.reindex()
    from index.merge import merge

    merged = merge(library.store, base, [s.id for s in base.segments])
    assert merged is not None and len(merged.segments) == 1
    assert "reuters/odesa.txt" not in merged.articles
    assert merged.manifest["deleted"] == {merged.segments[0].id: ["reuters/odesa.txt"]}
    library.refresh()
    assert library.version.name == merged.name
    assert answers(library) == rebuilt(tmp_path, corpus)


def test_the_merge_policy_merges_a_full_tier_and_rewrites_mostly_deleted_segments(tmp_path, store_url):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    policy = MergePolicy(factor=3, floor_chunks=1000, max_deleted_share=0.5)
    library = make(tmp_path / "data", corpus, store_url, merge_policy=policy)
    library.reindex()
    for name in ["reuters/odesa.txt", "kyiv/truce.md"]:
        write_extra(corpus, [name])
        library.reindex()
    library.wait_for_merge(60)
    # Three small segments (one tier) were merged in the background into one.
    assert len(library.version.segments) == 1
    assert answers(library) == rebuilt(tmp_path, corpus)
    for path in sorted(corpus.glob("0[0-3]_*.txt")):
        path.unlink()
    report = library.reindex()
    assert report.segments == 1
    library.wait_for_merge(60)
    # The segment was more than half deleted: rewritten without its deleted rows.
    assert library.version.name != report.version and library.version.live_rows is None
    assert plan_merge(library.version, policy) == []
    assert answers(library) == rebuilt(tmp_path, corpus)


def test_a_merge_left_unfinished_by_a_crash_is_cleaned_up(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    library = make(tmp_path / "data", corpus)
    library.reindex()
    root = tmp_path / "data" / "index"
    shutil.copytree(root / "segments" / library.version.segments[0].id, root / ".merge-s-x-0badc0de")
    lock = library.store.storage.merge_lock()
    lock.acquire()  # a merge is running: its staging directory stays
    try:
        write_extra(corpus, ["kyiv/drones.md"])
        library.reindex()
        assert (root / ".merge-s-x-0badc0de").exists()
    finally:
        lock.release()
    write_extra(corpus, ["wire/summit.txt"])
    library.reindex()
    assert not (root / ".merge-s-x-0badc0de").exists()


@pytest.mark.parametrize("segments", [1, 3])
def test_vectors_and_article_vectors_read_the_live_rows(tmp_path, segments):
    corpus = tmp_path / "corpus"
    write_corpus(corpus, topics=TOPICS[:2])
    library = make(tmp_path / "data", corpus, background_merge=False)
    library.reindex()
    for name in list(EXTRA)[: segments - 1]:
        write_extra(corpus, [name])
        library.reindex()
    version = library.version
    assert len(version.segments) == segments and len(version.vectors) == version.n_chunks
    for doc_id in version.articles:
        nodes, vectors = version.article_vectors(doc_id)
        rows = [i for i, n in enumerate(version.nodes) if n.metadata["doc"] == doc_id]
        assert [n.node_id for n in nodes] == [version.nodes[r].node_id for r in rows]
        assert np.array_equal(vectors, version.vectors[rows])


def test_chunks_read_back_from_the_store_equal_the_chunks_the_chunker_made(tmp_path, store_url):
    from index.articles import load_corpus
    from index.chunking import chunk_article

    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    write_extra(corpus)
    make(tmp_path / "data", corpus, store_url).reindex()
    forget_loaded_segments()
    loaded = make(tmp_path / "data", corpus, store_url).store.load_current()  # a fresh process's copy
    made = [n for a in load_corpus(corpus).articles for n in chunk_article(a, loaded_chunking(loaded))]
    assert sorted(n.model_dump_json() for n in loaded.nodes) == sorted(n.model_dump_json() for n in made)


def loaded_chunking(version):
    from index.chunking import ChunkingConfig

    return ChunkingConfig(**version.manifest["chunking"])


def write_format_1_version(data, corpus, embed):
    """A data dir as the program wrote it before segments: one directory per version with a faiss
    file and LlamaIndex's BM25 persist directory (index format 1)."""
    import hashlib
    import json

    import faiss
    from llama_index.retrievers.bm25 import BM25Retriever
    from llama_index.vector_stores.faiss import FaissVectorStore

    from index.articles import load_corpus
    from index.chunking import ChunkingConfig, chunk_article
    from index.segments import MODEL_ID, embed_text

    nodes = [n for a in load_corpus(corpus).articles for n in chunk_article(a, ChunkingConfig())]
    vectors = np.asarray(embed.get_text_embedding_batch([embed_text(n) for n in nodes]), dtype="float32")
    path = data / "index" / "v-000001-20250101T000000-0a1b2c3d"
    path.mkdir(parents=True)
    flat = faiss.IndexFlatIP(vectors.shape[1])
    flat.add(vectors)
    FaissVectorStore(faiss_index=flat).persist(persist_path=str(path / "vectors.faiss"))
    BM25Retriever(nodes=nodes, similarity_top_k=2).persist(str(path / "bm25"), show_progress=False)
    files = {
        p.relative_to(path).as_posix(): {
            "size": p.stat().st_size,
            "sha256": hashlib.sha256(p.read_bytes()).hexdigest(),
        }
        for p in path.rglob("*")
        if p.is_file()
    }
    manifest = {"format": 1, "model": MODEL_ID, "chunking": {"max_tokens": 200, "overlap_tokens": 40}}
    (path / "manifest.json").write_text(
        json.dumps(manifest | {"files": files, "n_chunks": len(nodes)}), "utf-8"
    )
    (data / "index" / "CURRENT").write_text(path.name + "\n", "utf-8")
    return len(nodes)


def test_a_data_dir_from_before_segments_is_rebuilt_with_its_embeddings_reused(tmp_path):
    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    chunks = write_format_1_version(tmp_path / "data", corpus, HashEmbed())

    class Refuse(HashEmbed):
        def get_text_embedding_batch(self, texts, **_):
            raise AssertionError(f"embedded again: {texts[:1]}")

    library = Library(LibraryConfig(data_dir=tmp_path / "data", corpus_dir=corpus), embed_model=Refuse())
    report = library.reindex()
    assert report.published and report.rebuilt_from_scratch and "did not load" in report.recovered
    assert report.embedded_chunks == 0 and report.reused_chunks == report.chunks == chunks
    assert answers(make(tmp_path / "data", corpus)) == rebuilt(tmp_path, corpus)


def test_a_watching_library_switches_to_what_another_process_publishes(tmp_path, store_url):
    import time

    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    serving = make(tmp_path / "data", corpus, store_url)
    serving.reindex()
    serving.watch(poll=0.2)
    try:
        write_extra(corpus, ["reuters/odesa.txt"])
        published = make(tmp_path / "data", corpus, store_url).reindex()  # "another process"
        deadline = time.monotonic() + 30
        while serving.version.name != published.version and time.monotonic() < deadline:
            time.sleep(0.05)
        assert serving.version.name == published.version
        assert serving.search("grain ships Odesa insurers")[0].node.metadata["doc"] == "reuters/odesa.txt"
    finally:
        serving.stop_watching()
    assert serving._watcher is None


def test_segments_a_merge_replaced_are_freed_when_no_version_uses_them(tmp_path):
    import gc
    import weakref

    corpus = tmp_path / "corpus"
    write_corpus(corpus)
    library = make(tmp_path / "data", corpus, background_merge=False)
    library.reindex()
    write_extra(corpus, ["reuters/odesa.txt"])
    library.reindex()
    version = library.version
    library.search("grain ships Odesa")  # every per-version structure built
    built = version.doc_of_row, version.articles, version.sentence_index, version.nodes
    old = [weakref.ref(s) for s in version.segments]
    del version, built
    gc.disable()  # freed by reference counting alone: no version is in a reference cycle
    try:
        assert library.merge_all() == 2
        assert all(ref() is None for ref in old)
    finally:
        gc.enable()


def test_the_served_version_is_frozen_out_of_full_collections_and_the_replaced_one_freed(tmp_path):
    """A full garbage collection over a 10k-chunk version holds the GIL for ~250 ms (the bot's
    event loop stalls with it): the served version is frozen out of them, and freezing must not
    keep a replaced version alive."""
    import gc
    import weakref

    corpus = tmp_path / "corpus"
    write_corpus(corpus, TOPICS[:3])
    library = make(tmp_path / "data", corpus, background_merge=False)
    library.warm()
    first = library.version
    assert gc.get_freeze_count() > 0
    assert not any(obj is first for obj in gc.get_objects())  # frozen: not in any generation
    replaced = weakref.ref(first)
    del first
    write_extra(corpus, ["wire/summit.txt"])
    assert library.reindex().published
    assert replaced() is None

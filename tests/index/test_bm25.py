"""BM25 over segments: on one segment the chunk scores equal bm25s's (LlamaIndex's BM25Retriever)
bit for bit; cut into segments with deleted rows, chunk and sentence scores equal those of one
segment built from the live documents alone; merged postings equal postings built from scratch."""

from __future__ import annotations

import numpy as np
import pytest

from index.articles import Article, parse_header
from index.bm25 import Part, Postings, SegmentedBM25, build_postings, merge_postings, tokenize
from index.chunking import ChunkingConfig, chunk_article
from index.segments import derived_arrays, embed_text
from index.sentences import SentenceIndex, SentencePart
from tests.conftest import SEEDS
from tests.index.store_support import TOPICS, article_text

QUERIES = [
    "What did Putin accept after the call with Trump?",
    "grain corridor Odesa ships Black Sea",
    "prisoners of war exchange mediated by the United Arab Emirates",
    "energy infrastructure strikes pause thirty days",
    "sanctions relief agricultural exports maritime truce truce",  # a repeated term counts twice
    "talks talks talks",
    "zzz-unknown-word",
]


@pytest.fixture(scope="module")
def nodes():
    texts = [(f"{i:02d}.txt", article_text(title, body * 3)) for i, (title, body) in enumerate(TOPICS)]
    texts += [(p.name, p.read_text("utf-8")) for p in sorted(SEEDS.glob("*.txt"))]
    out = []
    for doc_id, text in texts:
        metadata, start = parse_header(text)
        article = Article(doc_id, text, start, f"{len(text):064x}", metadata)
        out.extend(chunk_article(article, ChunkingConfig(max_tokens=60, overlap_tokens=20)))
    assert len(out) > 12
    return out


def postings_of(nodes, kind="chunk") -> Postings:
    arrays = derived_arrays(nodes)
    parts = {p: arrays[f"{kind}_{p}"] for p in ("terms", "indptr", "rows", "tf")}
    return Postings(parts | {"lengths": arrays[f"{kind}_lengths"]})


def test_tokens_are_bm25s_tokens(nodes):
    import bm25s
    import Stemmer

    for node in nodes[:10]:
        text = embed_text(node)
        expected = bm25s.tokenize(
            [text], stopwords="en", stemmer=Stemmer.Stemmer("english"), return_ids=False
        )
        assert tokenize(text) == expected[0]


def test_chunk_scores_equal_bm25s_bit_for_bit_on_one_segment(nodes):
    from llama_index.retrievers.bm25 import BM25Retriever

    reference = BM25Retriever(nodes=nodes, similarity_top_k=5).bm25
    ours = SegmentedBM25([Part(postings_of(nodes), 0)])
    for query in QUERIES:
        tokens = tokenize(query)
        ids = [reference.vocab_dict[t] for t in tokens if t in reference.vocab_dict]
        expected = reference.get_scores_from_ids(ids) if ids else np.zeros(len(nodes), dtype=np.float32)
        got = ours.scores(tokens, len(nodes))
        assert got.dtype == expected.dtype == np.float32
        assert np.array_equal(got, expected), query
        if ids:
            assert got.max() > 0


def split_with_deletions(nodes, cuts, dead_docs):
    """Segments cut at ``cuts`` (node positions), ``dead_docs`` deleted; and the live nodes."""
    bounds = [0, *cuts, len(nodes)]
    segments = [nodes[a:b] for a, b in zip(bounds, bounds[1:])]
    live = [n for n in nodes if n.metadata["doc"] not in dead_docs]
    parts, sentence_parts = [], []
    chunk_offset = sentence_offset = 0
    for segment in segments:
        dead = np.array([n.metadata["doc"] in dead_docs for n in segment])
        arrays = derived_arrays(segment)
        chunk_postings = postings_of(segment)
        sentence_postings = postings_of(segment, "sentence")
        counts = arrays["sentence_counts"]
        parts.append(Part(chunk_postings, chunk_offset, dead if dead.any() else None))
        sentence_dead = np.repeat(dead, counts)
        sentence_parts.append(
            SentencePart(
                Part(sentence_postings, sentence_offset, sentence_dead if dead.any() else None),
                np.repeat(np.arange(len(segment), dtype=np.int32), counts),
                chunk_offset,
            )
        )
        chunk_offset += len(segment)
        sentence_offset += int(counts.sum())
    live_rows = np.array([i for i, n in enumerate(nodes) if n.metadata["doc"] not in dead_docs])
    return parts, sentence_parts, live, live_rows


@pytest.mark.parametrize(
    "cuts, dead", [([7], set()), ([5, 9, 13], {"01.txt"}), ([3, 9], {"00.txt", "03.txt"})]
)
def test_segments_with_deletions_score_like_one_segment_of_the_live_chunks(nodes, cuts, dead):
    parts, sentence_parts, live, live_rows = split_with_deletions(nodes, cuts, dead)
    segmented = SegmentedBM25(parts)
    single = SegmentedBM25([Part(postings_of(live), 0)])
    assert segmented.n_docs == single.n_docs == len(live)
    assert segmented.avg_length == single.avg_length
    sentences = SentenceIndex(sentence_parts, len(nodes))
    sentences_single = SentenceIndex.build(live)
    for query in QUERIES:
        tokens = tokenize(query)
        assert np.array_equal(
            segmented.scores(tokens, len(nodes))[live_rows], single.scores(tokens, len(live))
        )
        clauses = [tokens, tokenize("ships left Odesa"), tokenize("thirty-day pause")]
        for got, expected in zip(
            sentences.chunk_scores_many(clauses), sentences_single.chunk_scores_many(clauses)
        ):
            assert np.array_equal(got[live_rows], expected)
        for term in set(tokens):
            assert segmented.document_frequency(term) == single.document_frequency(term)


def test_merged_postings_equal_postings_built_from_the_kept_documents():
    docs = [["a", "b", "a"], ["c", "x"], ["b", "d", "d", "d"], [], ["a", "e"], ["e", "c", "b"]]
    first, second = build_postings(docs[:3]), build_postings(docs[3:])
    keep_first = np.array([True, False, True])
    merged = merge_postings([(Postings(first), keep_first), (Postings(second), None)])
    kept = [docs[0], docs[2], *docs[3:]]
    expected = Postings(build_postings(kept))
    got = Postings(merged)
    assert np.array_equal(got.lengths, expected.lengths)
    for term in expected.terms:
        rows, tf = got.entries(term)
        rows_e, tf_e = expected.entries(term)
        assert rows.tolist() == rows_e.tolist() and tf.tolist() == tf_e.tolist(), term
    assert set(got.terms) == set(expected.terms)

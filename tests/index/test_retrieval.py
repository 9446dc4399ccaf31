"""Hybrid retrieval: query understanding (outlets, dates, clauses), fusion scaling, diversity,
the sentence index, and ranking on small real indexes (real MiniLM, generated articles)."""

from __future__ import annotations

import numpy as np
import pytest
from llama_index.core.schema import QueryBundle, TextNode

from index import versions
from index.library import Library, LibraryConfig
from index.query import MetadataIndex, mentioned_dates, question_clauses
from index.retrieval import HybridRetriever, RetrievalConfig, _scale_head, select_diverse
from index.sentences import SentenceIndex


def node(doc: str, source: str | None = None, published: str | None = None, text: str = "x") -> TextNode:
    metadata = {"doc": doc}
    if source:
        metadata["source"] = source
    if published:
        metadata["published"] = published
    return TextNode(text=text, metadata=metadata)


SOURCES = [
    "Fortune",
    "The Age",
    "The Verge",
    "The Independent - Sports",
    "The Independent - Life and Style",
    "TechCrunch",
]


@pytest.fixture(scope="module")
def meta() -> MetadataIndex:
    return MetadataIndex(
        [node(f"d{i}", s, f"2023-10-0{i + 1}T10:00:00+00:00") for i, s in enumerate(SOURCES)]
    )


# ---------------------------------------------------------------- dates


@pytest.mark.parametrize(
    "question, dates",
    [
        ("What did Fortune report on October 5, 2023?", ["2023-10-05"]),
        ("the report from The Verge on 2023-11-24", ["2023-11-24"]),
        ("published on 5 October 2023 and on Sept. 28, 2023", ["2023-10-05", "2023-09-28"]),
        (
            "between the reports published on September 28th, 2023, and December 18, 2023",
            ["2023-09-28", "2023-12-18"],
        ),
        ("in 2023-13-45 or on October 45, 2023 or in May", []),
    ],
)
def test_dates_in_questions_are_read_in_their_usual_forms(question, dates):
    assert mentioned_dates(question) == dates


# ---------------------------------------------------------------- outlets


def test_outlets_are_found_as_written_without_the_and_in_capitals(meta):
    assert meta.mentioned_sources("according to 'Fortune', and as reported by The Age?") == [
        {"Fortune"},
        {"The Age"},
    ]
    assert meta.mentioned_sources("What did the Verge say?") == [{"The Verge"}]
    assert meta.mentioned_sources("What did Verge say?") == [{"The Verge"}]
    assert meta.mentioned_sources("a TECHCRUNCH piece") == [{"TechCrunch"}]


def test_common_words_are_not_outlets(meta):
    # "fortune" the word is not the magazine; "Age" without "The" is not The Age.
    assert meta.mentioned_sources("He made a fortune in the Stone Age.") == []


def test_the_longest_outlet_name_wins_and_a_short_form_means_every_outlet_it_names(meta):
    assert meta.mentioned_sources("as reported by The Independent - Sports") == [{"The Independent - Sports"}]
    assert meta.mentioned_sources("as reported by The Independent") == [
        {"The Independent - Sports", "The Independent - Life and Style"}
    ]


def test_masks_select_the_named_outlets_and_dates(meta):
    mask = meta.source_mask("Did Fortune and TechCrunch agree?")
    assert mask.tolist() == [1, 0, 0, 0, 0, 1]
    assert meta.source_mask("no outlet here") is None
    assert meta.date_mask("published on October 3, 2023").tolist() == [0, 0, 1, 0, 0, 0]
    assert meta.date_mask("published on October 9, 2023") is None  # no article that day


def test_clauses_split_a_multi_part_question_without_its_outlets_and_dates(meta):
    question = (
        "Which company was fined for a data breach according to 'Fortune', and also launched a new "
        "phone as reported by The Verge on October 3, 2023?"
    )
    clauses = question_clauses(question, meta)
    assert clauses == ["Which company was fined for a data breach", "launched a new phone"]
    assert len(question_clauses("What did Putin accept?", meta)) <= 1  # one part: nothing to split


# ---------------------------------------------------------------- fusion and diversity


def test_scale_head_maps_the_best_to_one_and_the_head_th_best_to_zero():
    values = np.array([10.0, 5.0, 0.0, 8.0, 2.0])
    scaled = _scale_head(values, head=3)  # head: 10, 8, 5
    assert scaled[0] == pytest.approx(1.0)
    assert scaled[1] == pytest.approx(0.0)
    assert scaled[3] == pytest.approx(0.6)
    assert scaled[2] < 0 and scaled[4] < 0  # below the head: negative, not dropped
    assert _scale_head(np.zeros(4), 2).tolist() == [0, 0, 0, 0]


def test_select_diverse_penalises_and_caps_chunks_of_one_article():
    rows = np.array([0, 1, 2, 3, 4])
    scores = np.array([1.0, 0.95, 0.9, 0.85, 0.5])
    docs = np.array([7, 7, 7, 7, 8])  # four chunks of article 7, one of article 8
    assert select_diverse(rows, scores, docs, 3, penalty=0.0, cap=0) == [0, 1, 2]
    assert select_diverse(rows, scores, docs, 3, penalty=0.2, cap=0) == [0, 1, 2]  # 0.95-0.2 > 0.5
    assert select_diverse(rows, scores, docs, 3, penalty=0.5, cap=0) == [0, 4, 1]
    assert select_diverse(rows, scores, docs, 3, penalty=0.0, cap=1) == [0, 4, 1]  # too few articles: filled
    assert select_diverse(rows, scores, docs, 2, penalty=0.0, cap=1) == [0, 4]


def test_a_chunk_scores_its_best_sentence():
    import Stemmer
    from llama_index.core.schema import TextNode as TN

    text = "Cats sleep all day. The harbour froze in January. Dogs bark."
    first = TN(
        text=text,
        metadata={"doc": "a", "sentences": "0:19;20:49;50:61"},
        start_char_idx=0,
        end_char_idx=len(text),
    )
    other = TN(
        text="The harbour is busy in summer.",
        metadata={"doc": "b", "sentences": "0:30"},
        start_char_idx=0,
        end_char_idx=30,
    )
    index = SentenceIndex.build([first, other], Stemmer.Stemmer("english"))
    scores = index.chunk_scores(["harbour", "froze"])
    assert scores[0] > scores[1] > 0
    assert index.chunk_scores(["unknownword"]).tolist() == [0, 0]


# ---------------------------------------------------------------- on a real index


BODY = (
    "The startup raised forty million dollars in a funding round led by a venture firm. "
    "Its founder said the money would pay for new data centres in Finland."
)

ARTICLES = {
    "a_fortune.txt": ("Startup raises funding", "Fortune", "2023-10-05T09:00:00+00:00", BODY),
    "b_verge.txt": ("Startup raises funding", "The Verge", "2023-11-24T09:00:00+00:00", BODY),
    "c_other.txt": (
        "Harbour closes",
        "The Age",
        "2023-10-01T09:00:00+00:00",
        "The harbour closed after a storm. Fishing boats stayed in port for three days.",
    ),
}


@pytest.fixture(scope="module")
def twin_library(tmp_path_factory, embed_model) -> Library:
    corpus = tmp_path_factory.mktemp("twins")
    for name, (title, source, published, body) in ARTICLES.items():
        (corpus / name).write_text(
            f"Title: {title}\nSource: {source}\nPublished: {published}\n\n{body}\n", "utf-8"
        )
    library = Library(
        LibraryConfig(data_dir=tmp_path_factory.mktemp("twins-data"), corpus_dir=corpus), embed_model
    )
    library.warm()
    return library


@pytest.mark.parametrize(
    "question, first",
    [
        ("According to 'Fortune', how much money did the startup raise?", "a_fortune.txt"),
        ("How much money did the startup raise, as reported by The Verge?", "b_verge.txt"),
        (
            "What did the report published on November 24, 2023 say about the startup's funding?",
            "b_verge.txt",
        ),
        ("What did the article from 2023-10-05 say about the startup's funding round?", "a_fortune.txt"),
    ],
)
def test_the_outlet_or_date_a_question_names_ranks_that_article_first(twin_library, question, first):
    # The two articles have the same text; only their Source:/Published: metadata differ.
    hits = twin_library.search(question, top_k=3)
    assert hits[0].node.metadata["doc"] == first


def test_without_metadata_boosts_the_twins_are_not_told_apart_by_the_outlet(twin_library):
    plain = HybridRetriever(
        twin_library.version, twin_library.embed_query, RetrievalConfig(source_boost=0, date_boost=0)
    )
    hits = plain.search("According to 'Fortune', how much money did the startup raise?", top_k=3)
    boosted = twin_library.search("According to 'Fortune', how much money did the startup raise?", top_k=3)
    margin_plain = hits[0].score - hits[1].score
    margin_boosted = boosted[0].score - boosted[1].score
    assert {h.node.metadata["doc"] for h in hits[:2]} == {"a_fortune.txt", "b_verge.txt"}
    assert margin_boosted > margin_plain + 0.2


def test_hits_carry_scores_and_the_retriever_is_a_llamaindex_retriever(twin_library):
    retriever = twin_library.retriever
    results = retriever.retrieve(QueryBundle("Why did the harbour close?"))
    assert results[0].node.metadata["doc"] == "c_other.txt"
    hits = retriever.search("Why did the harbour close?", top_k=2)
    assert hits[0].score >= hits[1].score and hits[0].bm25 > 0 and -1 <= hits[0].dense <= 1


def test_the_sentence_postings_are_part_of_the_segment_and_a_reload_ranks_the_same(twin_library, embed_model):
    version = twin_library.version
    assert all(s.n_sentences >= s.n_chunks > 0 for s in version.segments)
    reloaded = Library(twin_library.config, embed_model)
    question = "How much money did the startup raise, as reported by The Verge?"
    assert [h.node.node_id for h in reloaded.search(question)] == [
        h.node.node_id for h in twin_library.search(question)
    ]


def test_each_chunk_scores_its_best_sentence_vector_in_blocks_of_any_size(twin_library, monkeypatch):
    # The multilingual scan goes through the sentence vectors in blocks of chunks (memory): any
    # block size gives each chunk the max over its own sentences, as a whole-array scan would.
    version = twin_library.version
    rng = np.random.default_rng(0)
    query = rng.standard_normal(version.segments[0].arrays["sentence_vectors"].shape[1]).astype("float32")
    expected = [
        float((version.sentence_vectors(row).astype("float32") @ query).max())
        for row in range(version.n_chunks)
    ]
    for block in (1, 2, 10_000):
        monkeypatch.setattr(versions, "SENTENCE_BLOCK", block)
        assert np.allclose(version.best_sentence_scores(query)[: version.n_chunks], expected, atol=1e-4)


def test_a_query_embedding_started_ahead_is_the_one_the_search_uses(twin_library):
    """``prefetch`` embeds on another thread while the caller does other work (the answerer's
    multilingual vectors); the search then waits for that embedding instead of making its own,
    and a text searched again is not embedded again."""
    import threading

    calls: list[tuple[str, str]] = []
    release = threading.Event()

    def embed(text):
        calls.append((text, threading.current_thread().name))
        release.wait(5)
        return twin_library.embed_query(text)

    retriever = HybridRetriever(twin_library.version, embed, twin_library.retriever.config)
    question = "Why did the harbour close?"
    retriever.prefetch(question)
    release.set()
    first = retriever.search(question, top_k=2)
    again = retriever.search(question, top_k=2)
    assert len(calls) == 1 and calls[0][0] == question
    assert calls[0][1].startswith("query-embedding")  # not the caller's thread
    assert [h.node.node_id for h in first] == [h.node.node_id for h in again]
    assert first[0].node.metadata["doc"] == "c_other.txt"


def test_a_failed_query_embedding_is_not_kept():
    from index.retrieval import QueryEmbeddings

    attempts = []

    def flaky(text):
        attempts.append(text)
        if len(attempts) == 1:
            raise RuntimeError("model not loaded yet")
        return [1.0, 0.0]

    vectors = QueryEmbeddings(flaky, keep=2)
    with pytest.raises(RuntimeError, match="not loaded"):
        vectors("q")
    assert vectors("q") == [1.0, 0.0] and len(attempts) == 2
    vectors("a"), vectors("b")  # only the last two texts are kept
    assert vectors("q") == [1.0, 0.0] and len(attempts) == 5


def test_words_a_foreign_question_shares_with_the_articles_rank_their_chunks_again(twin_library):
    # The twins' bodies are the same, so the multilingual similarity ties them; a word the
    # question shares with one of them (a name: its outlet here) ranks that one first.
    retriever = twin_library.retriever
    vector = twin_library.embed_sentence_query("Сколько денег привлёк стартап, по данным Verge?")
    seen: list[list[str]] = []

    def shared(hits):
        seen.append([h.node.metadata["doc"] for h in hits])
        return "Verge"

    plain = retriever.semantic_search(vector, top_k=3)
    ranked = retriever.semantic_search(vector, top_k=3, shared_words=shared)
    assert seen == [[h.node.metadata["doc"] for h in plain]]  # it is given the semantic hits
    assert ranked[0].node.metadata["doc"] == "b_verge.txt" and ranked[0].bm25 > 0
    assert abs(ranked[0].dense - ranked[1].dense) < 1e-4  # the similarity alone ties them
    assert retriever.semantic_search(vector, top_k=3, shared_words=lambda hits: "") == plain

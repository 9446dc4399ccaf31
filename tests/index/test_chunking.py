from hypothesis import given, settings
from hypothesis import strategies as st

from index.articles import Article, load_corpus
from index.chunking import (
    ChunkingConfig,
    chunk_article,
    chunk_spans,
    count_wordpieces,
    node_sentences,
    sentence_spans,
)


def test_sentences_respect_abbreviations_and_quotes():
    text = "U.S. President Trump met Mr. Putin. Leavitt said «closer than ever.» However, the Kremlin insists.\nNew line"
    assert [text[a:b] for a, b in sentence_spans(text)] == [
        "U.S. President Trump met Mr. Putin.",
        "Leavitt said «closer than ever.»",
        "However, the Kremlin insists.",
        "New line",
    ]


def test_seed_chunks_are_exact_spans_within_token_budget(corpus_dir):
    article = load_corpus(corpus_dir).articles[0]
    config = ChunkingConfig()
    nodes = chunk_article(article, config)
    assert len(nodes) >= 2
    for node in nodes:
        assert article.text[node.start_char_idx : node.end_char_idx] == node.text
        assert count_wordpieces([node.text])[0] <= config.max_tokens
        for a, b in node_sentences(node):
            assert node.start_char_idx <= a < b <= node.end_char_idx
    # Neighbouring chunks overlap by whole sentences.
    assert nodes[1].start_char_idx < nodes[0].end_char_idx
    # Everything in the body is covered.
    covered = set()
    for node in nodes:
        covered.update(range(node.start_char_idx, node.end_char_idx))
    assert all(i in covered or article.text[i].isspace() for i in range(len(article.text)))


def test_header_metadata_is_embedded_but_offsets_index_the_file():
    text = "Title: Talks in Riyadh\nSource: Wire\nPublished: 2025-03-24\n\nDelegations met. They talked."
    article = Article(
        "a.txt",
        text,
        text.index("Delegations"),
        "h" * 64,
        {"title": "Talks in Riyadh", "source": "Wire", "published": "2025-03-24"},
    )
    (node,) = chunk_article(article, ChunkingConfig())
    assert node.text == "Delegations met. They talked."
    embedded = node.get_content(metadata_mode="embed")
    assert "title: Talks in Riyadh" in embedded and "source: Wire" in embedded and "doc:" not in embedded


def _fake_count(texts):
    return [len(t.split()) for t in texts]


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=120),
        min_size=1,
        max_size=30,
    ),
    st.integers(min_value=5, max_value=40),
)
def test_chunks_are_exact_and_bounded_for_any_text(pieces, max_tokens):
    text = ". ".join(pieces)
    config = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=max_tokens // 4)
    for chunk in chunk_spans(text, 0, len(text), config, _fake_count):
        start, end = chunk[0][0], chunk[-1][1]
        assert 0 <= start < end <= len(text)
        # Over budget only when a single piece is itself too long to split further.
        assert sum(_fake_count([text[a:b] for a, b in chunk])) <= max_tokens or len(chunk) == 1
        assert all(not text[a].isspace() and not text[b - 1].isspace() for a, b in chunk)

"""Inputs of a bench run: the real corpora beside the project (never copied into the repo; the
build corpus is a copy in a temporary directory), questions, and synthetic corpora and vectors
for index sizes the real corpus cannot reach."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[3]
EMBEDDING_DIM = 384


def multihop_dir() -> Path | None:
    """The MultiHop-RAG subset shared beside the project (never copied into the repo)."""
    for candidate in (os.environ.get("BENCH_MULTIHOP_DIR"), PROJECT.parent / "shared" / "multihop-rag"):
        if candidate and (Path(candidate) / "corpus").is_dir():
            return Path(candidate)
    return None


def load_questions(max_chars: int) -> list[str]:
    """Question texts only (no answers are used): MultiHop-RAG's and the seed dev questions."""
    import random

    questions: list[str] = []
    sources = [PROJECT / "tests" / "data" / "questions.dev.jsonl"]
    mh = multihop_dir()
    if mh and (mh / "questions.jsonl").is_file():
        sources.append(mh / "questions.jsonl")
    for path in sources:
        if path.is_file():
            for line in path.read_text("utf-8").splitlines():
                if line.strip():
                    q = json.loads(line).get("question", "")
                    if q and len(q) <= max_chars:
                        questions.append(q)
    random.Random(0).shuffle(questions)
    return questions or ["What did Putin agree to?"]


def link_build_corpus(target: Path, n_multihop: int) -> list[str]:
    """The seed articles plus the first n MultiHop-RAG articles, copied into ``target`` (a
    temporary directory): the corpus reader refuses links to files outside the corpus."""
    target.mkdir(parents=True)
    used = []
    for path in sorted((PROJECT / "seeds").iterdir()):
        shutil.copyfile(path, target / path.name)
        used.append(f"seeds/{path.name}")
    mh = multihop_dir()
    if mh and n_multihop:
        for path in sorted((mh / "corpus").glob("*.txt"))[:n_multihop]:
            shutil.copyfile(path, target / path.name)
            used.append(f"multihop-rag/corpus/{path.name}")
    return used


def _sentence_pool() -> tuple[list[str], list[str], list[str]]:
    """Sentences, titles and sources of the real corpus (MultiHop-RAG subset if present, seeds)."""
    from index.articles import load_corpus
    from index.chunking import sentence_spans

    dirs = [PROJECT / "seeds"]
    mh = multihop_dir()
    if mh:
        dirs.append(mh / "corpus")
    sentences, titles, sources = [], [], []
    for directory in dirs:
        for article in load_corpus(directory).articles:
            titles.append(article.title)
            sources.append(article.source or "Unknown")
            for a, b in sentence_spans(article.text, article.body_start):
                words = article.text[a:b].split()
                if 5 <= len(words) <= 60:
                    sentences.append(" ".join(words))
    return sentences, titles, sources


def _synthetic_article(rng, i: int, pool, n_sentences: int) -> tuple[str, dict[str, str], int]:
    sentences, titles, sources = pool
    title = f"{titles[rng.integers(len(titles))]} (synthetic {i})"
    meta = {
        "title": title,
        "source": sources[rng.integers(len(sources))],
        "published": f"2023-{rng.integers(1, 13):02d}-{rng.integers(1, 29):02d}",
    }
    header = f"Title: {meta['title']}\nSource: {meta['source']}\nPublished: {meta['published']}\n\n"
    picks = [sentences[j] for j in rng.integers(len(sentences), size=n_sentences)]
    paragraphs = []
    while picks:
        size = int(rng.integers(2, 6))
        paragraphs.append(" ".join(picks[:size]))
        picks = picks[size:]
    return header + "\n".join(paragraphs) + "\n", meta, len(header)


def write_synthetic_corpus(
    target: Path,
    n_chunks: int | None,
    chunking,
    sentences_per_article: tuple[int, int],
    seed: int,
    n_articles: int | None = None,
) -> int:
    """Write articles of recombined real sentences: ``n_articles`` of them, or enough for about
    ``n_chunks`` chunks (calibrated with the real chunker first). Returns the number written."""
    import numpy as np

    from index.articles import Article
    from index.chunking import chunk_article

    rng = np.random.default_rng(seed)
    pool = _sentence_pool()
    low, high = sentences_per_article
    if n_articles is None:
        calibration = []
        for i in range(30):
            text, meta, body_start = _synthetic_article(rng, i, pool, int(rng.integers(low, high + 1)))
            calibration.append(
                len(chunk_article(Article(f"c{i}.txt", text, body_start, f"{i:064x}", meta), chunking))
            )
        n_articles = max(1, round(n_chunks / (sum(calibration) / len(calibration))))
    rng = np.random.default_rng(seed)
    for i in range(n_articles):
        text, _, _ = _synthetic_article(rng, i, pool, int(rng.integers(low, high + 1)))
        folder = target / f"part-{i // 1000:03d}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"synthetic-{i:06d}.txt").write_text(text, "utf-8")
    return n_articles


class RandomEmbedding:
    """Stands in for the embedding model when building large indexes: random unit vectors. It also
    puts random sentence vectors in place of multilingual-e5's for the process (at ~17 sentences a
    second, e5 would take hours over a synthetic 100k-chunk corpus); questions still embed with
    the real model, so serving costs are real."""

    def __init__(self, seed: int = 0):
        import numpy as np

        from index.embedding import use_sentence_encoder

        self._rng = np.random.default_rng(seed)
        self.calls = 0
        use_sentence_encoder(RandomSentenceEncoder(seed))

    def get_text_embedding_batch(self, texts, **_):
        import numpy as np

        self.calls += 1
        vectors = self._rng.standard_normal((len(texts), EMBEDDING_DIM)).astype("float32")
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    def get_query_embedding(self, text):  # the build never embeds a query
        raise RuntimeError("RandomEmbedding is for building synthetic indexes only")


def _random_sentence_encoder_class():
    from index.embedding import SentenceEncoder

    class RandomSentenceEncoder(SentenceEncoder):
        """Random unit passage vectors; real query vectors."""

        def __init__(self, seed: int = 0):
            import numpy as np

            super().__init__(cache_size=0)
            self._rng = np.random.default_rng(seed + 1)

        def passages(self, texts):
            import numpy as np

            vectors = self._rng.standard_normal((len(texts), EMBEDDING_DIM)).astype("float32")
            return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    return RandomSentenceEncoder


def RandomSentenceEncoder(seed: int = 0):
    return _random_sentence_encoder_class()(seed)

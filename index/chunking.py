"""Sentence-aware chunking with exact character offsets into the article text.

A chunk is a run of whole sentences of one article, at most ``max_tokens`` word-pieces of the
embedding model's tokenizer, overlapping its predecessor by up to ``overlap_tokens`` of whole
sentences. ``node.text == article.text[node.start_char_idx:node.end_char_idx]`` always holds.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache

from llama_index.core.schema import TextNode

from index.articles import Article

# Abbreviations whose trailing period does not end a sentence (lower-case, without the period).
_ABBREVIATIONS = frozenset(
    """mr mrs ms dr prof sr jr st mt gen col lt sgt capt cmdr adm gov sen rep rev hon pres
    vs etc inc ltd co corp dept est fig no nos approx jan feb mar apr jun jul aug sep sept oct nov dec
    u.s u.k u.n e.u u.s.a d.c a.m p.m i.e e.g""".split()
)
# A sentence may end at . ! ? … (with closing quotes/brackets) followed by white space.
_BOUNDARY = re.compile(r"[.!?…]+[»\"”’')\]]*(?=\s)")
_WORD_BEFORE = re.compile(r"([\w.]+)$")

TokenCounter = Callable[[Sequence[str]], list[int]]


def _ends_sentence(text: str, end: int, stop: int) -> bool:
    """Whether the terminator ending at ``end`` closes a sentence (not ``U.S.``, ``Mr.``, ``J.``)."""
    next_char = text[end:stop].lstrip()[:1]
    if not next_char:
        return True
    if next_char.islower() or next_char in ",;:":
        return False
    if text[end - 1] != ".":
        return True
    # The word before the period, looked for in a window before it: searching from the start of
    # the text made chunking quadratic in the article length (most of a build's non-embedding time).
    window = max(0, end - 64)
    word = _WORD_BEFORE.search(text, window, end)
    if word and window and word.start() == window:  # the word may go on before the window
        word = _WORD_BEFORE.search(text, 0, end)
    if word:
        token = word.group(1).rstrip(".").lower()
        if token in _ABBREVIATIONS or (len(token) == 1 and token.isalpha()):
            return False
    return True


def sentence_spans(text: str, start: int = 0, stop: int | None = None) -> list[tuple[int, int]]:
    """Spans of the sentences in ``text[start:stop]``, trimmed of surrounding white space.

    Line breaks always end a sentence (news files put paragraphs on lines).
    """
    stop = len(text) if stop is None else stop
    spans: list[tuple[int, int]] = []
    line_start = start
    while line_start < stop:
        newline = text.find("\n", line_start, stop)
        line_end = stop if newline == -1 else newline
        sentence_start = line_start
        for match in _BOUNDARY.finditer(text, line_start, line_end):
            if _ends_sentence(text, match.end(), line_end):
                spans.append((sentence_start, match.end()))
                sentence_start = match.end()
        spans.append((sentence_start, line_end))
        line_start = line_end + 1
    trimmed = []
    for a, b in spans:
        piece = text[a:b]
        a += len(piece) - len(piece.lstrip())
        b -= len(piece) - len(piece.rstrip())
        if b > a:
            trimmed.append((a, b))
    return trimmed


@lru_cache(maxsize=1)
def _tokenizer():
    from tokenizers import Tokenizer

    from index.embedding import model_path

    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    return tokenizer


def count_wordpieces(texts: Sequence[str]) -> list[int]:
    """Word-pieces per text, without the [CLS]/[SEP] the model adds."""
    if not texts:
        return []
    return [len(e.ids) - 2 for e in _tokenizer().encode_batch(list(texts))]


@dataclass(frozen=True)
class ChunkingConfig:
    max_tokens: int = 200  # leaves room for the title/source/date header within MiniLM's 256
    overlap_tokens: int = 40


def _split_long(text: str, span: tuple[int, int], tokens: int, max_tokens: int) -> Iterator[tuple[int, int]]:
    """Cut a sentence longer than a chunk at word boundaries into pieces of about max_tokens."""
    a, b = span
    pieces = -(-tokens // max_tokens)
    step = max(1, (b - a) // pieces)
    while a < b:
        cut = min(b, a + step)
        if cut < b:
            space = text.rfind(" ", a + 1, cut)
            cut = space if space > a else cut
        yield (a, cut)
        a = cut
        while a < b and text[a].isspace():
            a += 1


def chunk_spans(
    text: str, start: int, stop: int, config: ChunkingConfig, count: TokenCounter = count_wordpieces
) -> list[list[tuple[int, int]]]:
    """Group the sentences of text[start:stop] into chunks; each chunk is its list of sentence spans."""
    spans = sentence_spans(text, start, stop)
    counts = count([text[a:b] for a, b in spans])
    sentences: list[tuple[tuple[int, int], int]] = []
    for span, tokens in zip(spans, counts):
        if tokens > config.max_tokens:
            pieces = list(_split_long(text, span, tokens, config.max_tokens))
            sentences.extend(zip(pieces, count([text[a:b] for a, b in pieces])))
        else:
            sentences.append((span, tokens))
    chunks: list[list[tuple[int, int]]] = []
    current: list[tuple[tuple[int, int], int]] = []
    size = 0
    for sentence, tokens in sentences:
        if current and size + tokens > config.max_tokens:
            chunks.append([s for s, _ in current])
            # Carry whole trailing sentences into the next chunk, up to the overlap budget.
            carried: list[tuple[tuple[int, int], int]] = []
            carried_size = 0
            for prev in reversed(current):
                if (
                    carried_size + prev[1] > config.overlap_tokens
                    or carried_size + prev[1] + tokens > config.max_tokens
                ):
                    break
                carried.insert(0, prev)
                carried_size += prev[1]
            current, size = carried, carried_size
        current.append((sentence, tokens))
        size += tokens
    if current:
        chunks.append([s for s, _ in current])
    return chunks


def article_metadata(article: Article) -> dict[str, str]:
    """The metadata every chunk carries; title/source/published also go into embedded and BM25 text."""
    metadata = {"title": article.title, "source": article.source, "published": article.published}
    return {k: v for k, v in metadata.items() if v} | {
        "doc": article.doc_id,
        "content_hash": article.content_hash,
    }


# Only title, source and date are part of what is embedded and keyword-searched.
_NOT_EMBEDDED = ["doc", "content_hash", "sentences"]


def chunk_article(
    article: Article, config: ChunkingConfig, count: TokenCounter = count_wordpieces
) -> list[TextNode]:
    nodes = []
    base = article_metadata(article)
    for i, sentences in enumerate(
        chunk_spans(article.text, article.body_start, len(article.text), config, count)
    ):
        start, end = sentences[0][0], sentences[-1][1]
        metadata = dict(base)
        # Sentence offsets relative to the chunk, so answers can quote single sentences exactly.
        metadata["sentences"] = ";".join(f"{a - start}:{b - start}" for a, b in sentences)
        nodes.append(
            make_node(
                f"{article.doc_id}#{i}@{article.content_hash[:12]}", article.text[start:end], start, metadata
            )
        )
    return nodes


def make_node(node_id: str, text: str, start: int, metadata: dict) -> TextNode:
    """A chunk node: what ``chunk_article`` makes, and what a stored chunk is read back into."""
    return TextNode(
        id_=node_id,
        text=text,
        start_char_idx=start,
        end_char_idx=start + len(text),
        metadata=metadata,
        excluded_embed_metadata_keys=list(_NOT_EMBEDDED),
        excluded_llm_metadata_keys=list(_NOT_EMBEDDED),
        metadata_template="{key}: {value}",
    )


def node_sentences(node: TextNode) -> list[tuple[int, int]]:
    """Absolute sentence spans of a chunk produced by ``chunk_article``."""
    start = node.start_char_idx or 0
    spans = []
    for part in (node.metadata.get("sentences") or "").split(";"):
        if part:
            a, b = part.split(":")
            spans.append((start + int(a), start + int(b)))
    return spans

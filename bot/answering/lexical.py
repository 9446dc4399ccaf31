"""Content words and their weights: what the answerer and the verifier compare questions,
sentences and generated text by (stemmed, stop words out, idf-weighted over the index)."""

from __future__ import annotations

import math
import re
from functools import lru_cache

# Irregular past forms the stemmer cannot relate to their verb ("led" ~ "leading").
_IRREGULAR = dict(
    pair.split(":")
    for pair in """led:lead said:say says:say met:meet won:win took:take taken:take gave:give given:give made:make
    held:hold sought:seek told:tell began:begin begun:begin went:go gone:go came:come saw:see seen:see thought:think
    brought:bring left:leave struck:strike fought:fight spoke:speak spoken:speak wrote:write written:write
    chose:choose chosen:choose rose:rise fell:fall fallen:fall paid:pay sold:sell bought:buy sent:send spent:spend
    kept:keep lost:lose meant:mean felt:feel stood:stand ran:run grew:grow grown:grow drew:draw knew:know known:know
    threw:throw shown:show withdrew:withdraw withdrawn:withdraw agreed:agree""".split()
)
_QUESTION_WORDS = frozenset(
    "what who whom whose which where when why how did does do is are was were according".split()
)
# What people type around a question in chat ("where are the talks gonna happen?", "is he a
# minister or smth"): no article uses them, and counted as content they made a question look
# about something the articles lack.
_CHAT_WORDS = frozenset(
    """gonna wanna gotta kinda sorta smth sth tho btw pls plz lol hey yeah yep ok okay please actually
    basically literally really whats ur guys anyway""".split()
)
_WORD = re.compile(r"(?u)\b\w\w+\b")


@lru_cache(maxsize=1)
def _stopwords() -> frozenset[str]:
    from llama_index.core.utils import globals_helper

    return frozenset(globals_helper.stopwords) | _QUESTION_WORDS | _CHAT_WORDS


@lru_cache(maxsize=1)
def _stemmer():
    import Stemmer

    return Stemmer.Stemmer("english")


def content_terms(text: str) -> list[str]:
    """Stemmed content words, in order of first appearance, without stop words."""
    stop = _stopwords()
    words = [_IRREGULAR.get(w, w) for w in _WORD.findall(text.lower()) if w not in stop]
    return list(dict.fromkeys(_stemmer().stemWords(words)))


def term_weights(terms: list[str], retriever, min_docs: int = 50) -> dict[str, float]:
    """BM25-style idf of each term over the (live) chunks; the document count is floored so that
    a tiny corpus (one article, three chunks) still weighs rare and common words apart."""
    bm25 = retriever.version.chunk_bm25
    n = max(min_docs, bm25.n_docs)
    weights = {}
    for term in terms:
        df = bm25.document_frequency(term)
        weights[term] = math.log(1 + (n - df + 0.5) / (df + 0.5))
    return weights


def in_articles(retriever, word: str) -> int:
    """How many (live) chunks use ``word`` (as a stem); a stop word counts as used by all."""
    terms = content_terms(word)
    bm25 = retriever.version.chunk_bm25
    return bm25.document_frequency(terms[0]) if terms else max(1, bm25.n_docs)

"""Questions about an article itself rather than what it reports: which outlet put it out, where
it was filed from ("what city is this piece filed from?", "which news outlet ran this story?",
«откуда эта статья?»). Their answer is the article's dateline, its opening words — "News Country,
Washington." or "OSLO (Pinewood Times) -" — quoted verbatim. An article that opens without a
dateline is left to the ordinary answer, which refuses unless its sentences say.

"This story" is the one article of a one-article corpus; over several it is the article the
question's other words (or the conversation before it) are about, and with neither, the user is
asked which one.
"""

from __future__ import annotations

import enum
import re

from bot.answering.lexical import content_terms
from bot.answering.model import Answer, Citation, with_markers
from bot.answering.spelling import one_edit_apart
from index.chunking import node_sentences


class Aspect(enum.Enum):
    PLACE = "place"  # where it was filed from
    OUTLET = "outlet"  # who put it out


# The article as the question's object; a typo in a longer noun is forgiven ("peice").
_NOUNS = ("article", "piece", "story", "report", "text", "dispatch", "item", "writeup", "write-up")
_DEICTIC = re.compile(r"\b(?:this|that|the)\s+(?:news\s+)?([a-z-]{4,9})\b", re.I)
# A bare "this"/"it" as what was published or filed: "who published this?", "where was it filed from?"
_BARE = re.compile(
    r"\b(?:published|put\s+out|ran|released|filed|written|sent|datelined)\s+(?:this|it)\b"
    r"|\b(?:is|was)\s+(?:this|it)\s+(?:from|published|filed|written|datelined|sent)\b",
    re.I,
)
_DEICTIC_RU_UK = re.compile(
    r"\b(?:эт[аоиуы]\w*|данн\w+|ц[яеію]\w*|цьо\w+|ці\w*)\s+(?:стать\w+|статт\w+|материал\w*|матеріал\w*|"
    r"текст\w*|заметк\w+|замітк\w+|публикаци\w+|публікаці\w+|новост\w+|новин\w+)",
    re.I,
)
_PLACE = re.compile(
    r"\b(?:datelined?|filed)\s+(?:from|in)\b|\b(?:sent|written)\s+from\b|\bdateline\b"
    r"|\b(?:is|was)\s+(?:this|that|the)\s+[\w-]+\s+from\b|\b(?:is|was)\s+(?:this|it)\s+(?:from|filed|datelined)\b"
    r"|\bwhere\s+(?:is|was|does|did)\s+(?:this|that|the)\s+[\w-]+\s+(?:from|come\s+from)\b"
    r"|\b(?:откуда|из\s+какого\s+города)\s+(?:эт|данн)\w*\s+(?:стать|материал|заметк|текст|публикац|новост)"
    r"|\b(?:звідки|з\s+якого\s+міста)\s+(?:ц|цьо)\w*\s+(?:статт|матеріал|замітк|текст|публікац|новин)",
    re.I,
)
_OUTLET = re.compile(
    r"\b(?:w\w{2,4}(?:'s)?|the)\s+(?:news\s+)?(?:outlet|publication|publisher|newspaper|paper|media|org|organi[sz]ation|"
    r"news\s+(?:site|agency|organi[sz]ation|source))\b"
    r"|\bsource\s+(?:of|for)\s+(?:this|that|the)\s+(?:news\s+)?[\w-]+\s*[?.!]*$|\bw\w{2,4}\s+source\s+is\s+(?:this|it)\b"
    r"|\bwho\s+(?:published|put\s+out|ran|released|put\s+[\w-]+\s+(?:[\w-]+\s+)?out)\b"
    r"|\bкак(?:ое|ого|им)\s+(?:издани|сми)\w*|\bкто\s+опубликовал\w*|\bяк(?:е|ого|им)\s+видання\b"
    r"|\bхто\s+опублікував\w*",
    re.I,
)
# "… and what did Putin agree to?": a further question makes it an ordinary one.
_FURTHER_QUESTION = re.compile(
    r"[?;]\s*(?:and\s+)?(?:what|who|whom|where|when|why|how|which|did|does|do|is|are|was|were|will|can)\b"
    r"|\band\s+(?:what|who|where|when|why|how|which)\b",
    re.I,
)
# A dateline: capitalised place or outlet words, maybe a date, maybe "(Outlet)", then a dash;
# or an "Outlet, City." sentence of its own.
DATELINE = re.compile(
    r"^(?P<line>[A-Z][\w.'’&-]*(?:[ ,]+[A-Z][\w.'’&-]*){0,3}(?:,?\s+[A-Z][a-z]{2,8}\.?\s+\d{1,2})?"
    r"(?:\s*\([^()]{2,40}\))?)\s*[-–—]\s"
    # A dateline standing alone ("News Country, Washington."): capitalised words only, so that a
    # short sentence ("Since July, Keller chairs the sessions.") is not taken for one.
    r"|^(?P<whole>[A-Z][\w'’&-]*(?: [A-Z][\w'’&-]*){0,3},\s*[A-Z][\w.'’-]*(?: [A-Z][\w.'’-]*){0,3}\.)\s*$"
)


def without_dateline(sentence: str) -> str:
    """The sentence after its dateline ("OSLO (Pinewood Times) - Russian and …" → "Russian and …")."""
    match = DATELINE.match(sentence.strip())
    return sentence.strip()[match.end() :] if match else sentence.strip()


TEXTS = {
    "en": {
        "lead": "The article's dateline: ",
        "source": " Published by {source}.",
        "which": "Several articles are indexed: say which one you mean (its topic or title), or ask in "
        "the thread of an answer that cites it.",
    },
    "ru": {
        "lead": "Строка с местом и изданием в начале статьи: ",
        "source": " Издание: {source}.",
        "which": "Статей несколько: уточните, о какой речь (её тема или заголовок), или спросите в ветке "
        "ответа, который её цитирует.",
    },
    "uk": {
        "lead": "Рядок із місцем і виданням на початку статті: ",
        "source": " Видання: {source}.",
        "which": "Статей кілька: уточніть, про яку йдеться (її тема чи заголовок), або запитайте в гілці "
        "відповіді, яка її цитує.",
    },
}


def _references(question: str) -> list[re.Match]:
    """Where the question points at an article as such ("this piece", «эта статья»)."""
    found = list(_DEICTIC_RU_UK.finditer(question)) + list(_BARE.finditer(question))
    for m in _DEICTIC.finditer(question):
        word = m.group(1).lower()
        if any(one_edit_apart(word, noun) if len(noun) >= 5 else word == noun for noun in _NOUNS):
            found.append(m)
    return found


def asked_aspect(question: str) -> Aspect | None:
    """What the question asks of the article itself, if that is all it asks."""
    if not _references(question) or _FURTHER_QUESTION.search(question):
        return None
    if _OUTLET.search(question):
        return Aspect.OUTLET
    if _PLACE.search(question):
        return Aspect.PLACE
    return None


def opening_node(retriever, doc: str):
    """The article's first chunk (None: not in the index version)."""
    nodes, _ = retriever.version.article_vectors(doc)
    return min(nodes, key=lambda n: n.start_char_idx or 0) if len(nodes) else None


def dateline(retriever, doc: str) -> Citation | None:
    """The article's dateline as a citation (n=1), or None when it opens without one."""
    node = opening_node(retriever, doc)
    if node is None:
        return None
    base = node.start_char_idx or 0
    spans = node_sentences(node) or [(base, base + len(node.text))]
    start, end = spans[0]
    sentence = node.text[start - base : end - base]
    match = DATELINE.match(sentence)
    if match is None:
        return None
    line = match.group("line") or match.group("whole")
    meta = node.metadata
    return Citation(
        1, doc, meta.get("title"), meta.get("source"), meta.get("published"), line, start, start + len(line)
    )


def answer_about(
    question: str, aspect: Aspect, retriever, hits, language: str, follow_up: bool
) -> Answer | None:
    """The answer to a question about an article itself (``asked_aspect``), or None to answer it
    the ordinary way. ``hits``: what the question (read with the conversation) retrieved;
    ``follow_up``: whether there was a conversation before it."""
    texts = TEXTS.get(language, TEXTS["en"])
    articles = retriever.version.articles
    topic = _topic(question, retriever)
    if len(articles) == 1:
        doc = next(iter(articles))
    elif topic:
        found = retriever.search(topic, top_k=1)
        doc = found[0].node.metadata.get("doc") if found else None
    elif follow_up and hits:
        doc = hits[0].node.metadata.get("doc")
    elif len(articles) > 1:
        return Answer(question=question, answer=texts["which"], refused=True)
    else:
        return None
    if doc is None:
        return None
    citation = dateline(retriever, doc)
    if citation is None:
        return None
    text = texts["lead"] + with_markers(citation.quote, [1])
    if aspect is Aspect.OUTLET and citation.source and citation.source not in citation.quote:
        text += texts["source"].format(source=citation.source)  # a dateline that names only the place
    return Answer(question=question, answer=text, refused=False, citations=[citation])


# The words of asking about an article as such: what is left names its topic.
_ABOUT_WORDS = (
    "article piece story report text dispatch item writeup news outlet publication publisher newspaper paper "
    "agency wire site source published put out ran released byline city town place filed sent written reported "
    "dateline datelined from"
)


def _topic(question: str, retriever) -> str:
    """The question's words besides asking about "this article", if the articles use any of
    them: what tells one article of several apart ("which outlet ran the story about the Black
    Sea truce?" → "about Black Sea truce")."""
    rest = question
    for m in _references(question):  # blanked in place: the spans may overlap ("published this article")
        rest = rest[: m.start()] + " " * (m.end() - m.start()) + rest[m.end() :]
    about = set(content_terms(_ABOUT_WORDS))
    words = [w for w in re.findall(r"[\w'-]+", rest) if not (set(content_terms(w)) <= about)]
    bm25 = retriever.version.chunk_bm25
    used = any(bm25.document_frequency(t) > 0 for t in content_terms(" ".join(words)))
    return " ".join(words) if used else ""

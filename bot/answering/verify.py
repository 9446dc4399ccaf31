"""Verification of generated text, sentence by sentence, before anything is shown.

A generated sentence is shown only if all of these hold (see docs/GENERATION.md):

1. **Markers**: it carries at least one marker ``[n]`` (also ``[n, m]``, ``[Source n]``), and every
   marker names a source that was given (1..N).
   - A sentence with *no* marker is **dropped** (never shown): models add filler ("Sure!", "Here
     is the answer:") and a dropped sentence shows nothing unverified. If nothing is left, the
     answer falls back to the extractive one.
   - A marker naming a source that was not given (``[7]`` of 5, ``[0]``) **rejects the whole
     answer**: the model is inventing citations, so none of its sentences is trusted.
2. **Quotes**: every quoted phrase (“…”, "…", «…», „…“) occurs, after normalising case, quote
   marks, dashes and white space, in one of the sources the sentence cites. Otherwise the whole
   answer is rejected (a fabricated quote is a fabricated citation).
3. **Support** (measured, ``SupportConfig``): the sentence is supported by the spans it cites:
   - every number written in digits occurs in the cited spans or their title/source/date;
   - *content-word overlap*: the share of the sentence's content words (stemmed, stop words
     removed) found in the cited spans or their title/source/date is at least ``min_overlap``;
   - *embedding similarity*: the cosine similarity (MiniLM, the index's embedding model)
     between the sentence and the best of its cited spans is at least ``min_similarity``.
   - *roles*: no word is tied to a name the cited spans tie it only to another name ("Trump
     accepted the pause" of "Putin accepted the pause, following Trump's proposal"; see
     ``bot.answering.facts``).
   An unsupported sentence rejects the whole answer, like an invented marker: it cites a
   source for something the source does not say ("The capital of Mars is Paris [1].").
4. **Links**: every URL, web domain, e-mail address and mention (``@everyone``, ``<@id>``,
   ``@name``) occurs in the cited spans or their title/source/date; otherwise the whole answer
   is rejected (a model must not add a link, however true the rest). Checked before support.

The verifier never edits what a sentence claims; it only removes the model's markers so the
answerer can put back renumbered ones.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

import numpy as np

from bot.answering.facts import foreign_links, role_swap
from bot.answering.lexical import content_terms
from bot.answering.model import CheckFailure, Citation
from bot.answering.prompt import NOT_IN_SOURCES
from index.chunking import sentence_spans

# ---------------------------------------------------------------- markers and quotes

MARKER = re.compile(r"\[\s*(?:sources?\s*)?(\d{1,3}(?:\s*[,;]\s*(?:sources?\s*)?\d{1,3})*)\s*\]", re.I)
_MARKER_RUN = re.compile(r"(?:\s*" + MARKER.pattern + r")+[.!?…]*", re.I)
_PARTIAL_MARKER = re.compile(r"^\s*\[[^\]\n]{0,20}$")
_QUOTED = re.compile(r"“([^”\n]{1,400})”|«([^»\n]{1,400})»|„([^“”\n]{1,400})[“”]|\"([^\"\n]{1,400})\"")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)*")
_LEADING_LABEL = re.compile(
    r"^(?:[-*•·]+\s*|\d{1,2}[.)]\s+|\*\*|#+\s*|(?:here(?:'s| is) (?:the|my|an|your) answer|answer|response|a)\s*:\s*)+",
    re.I,
)
_FOLD = str.maketrans(
    {
        "’": "'",
        "‘": "'",
        "`": "'",
        "´": "'",
        "“": '"',
        "”": '"',
        "«": '"',
        "»": '"',
        "„": '"',
        "–": "-",
        "—": "-",
        "‒": "-",
        "‐": "-",
        "‹": "<",
        "›": ">",
        "\u00a0": " ",
    }
)


def normalise(text: str) -> str:
    """For comparing quotes: NFKC, case-folded, one kind of quote/apostrophe/dash, single spaces."""
    text = unicodedata.normalize("NFKC", text).translate(_FOLD).casefold()
    return " ".join(text.split())


def markers(sentence: str) -> list[int]:
    """The source numbers a sentence cites, in order, without repeats."""
    found: list[int] = []
    for match in MARKER.finditer(sentence):
        for number in re.findall(r"\d+", match.group(1)):
            if int(number) not in found:
                found.append(int(number))
    return found


def strip_markers(sentence: str) -> str:
    """The sentence without markers or leading list/label decoration, spacing tidied."""
    text = re.sub(r"\*\*|__", "", MARKER.sub("", sentence))
    text = re.sub(r"\s+([.,;:!?…])", r"\1", text)
    text = _LEADING_LABEL.sub("", " ".join(text.split()))
    return text.strip().strip("*").strip()


def quoted_phrases(sentence: str) -> list[str]:
    phrases = []
    for match in _QUOTED.finditer(sentence):
        inner = next(group for group in match.groups() if group is not None)
        inner = inner.strip().strip(".,;:!?…").strip()
        if len(inner) >= 3:
            phrases.append(inner)
    return phrases


def is_refusal(text: str) -> bool:
    """Whether the model said the sources don't contain the answer."""
    text = normalise(strip_markers(text))
    return text.startswith(NOT_IN_SOURCES.casefold()) or bool(
        re.search(
            r"sources? (?:do|does|did)(?: not|n't) (?:contain|say|mention|provide)|not (?:mentioned|stated|found) in the sources",
            text,
        )
    )


# ---------------------------------------------------------------- splitting a stream into sentences


class SentenceSplitter:
    """Cuts streamed model text into sentences as soon as each is complete.

    Uses the article sentence splitter (abbreviations like "U.S." do not end a sentence; a line
    break does). A sentence is complete once text that is not one of its markers follows it:
    ``"… proposal. [1] The"`` completes ``"… proposal. [1]"``. ``flush()`` returns the rest.
    """

    def __init__(self) -> None:
        self.text = ""
        self.pos = 0
        # Markers normally end a sentence; if the text starts with one ("[1] Putin accepted …"),
        # the model writes them in front, and each belongs to the sentence after it.
        self.leading: bool | None = None

    def feed(self, delta: str) -> list[str]:
        self.text += delta
        return self._take(final=False)

    def flush(self) -> list[str]:
        return self._take(final=True)

    def _spans(self) -> list[tuple[int, int]]:
        merged: list[tuple[int, int]] = []
        for a, b in sentence_spans(self.text, self.pos):
            run = _MARKER_RUN.match(self.text, a, b)
            if self.leading is None and self.pos == 0 and not merged:
                rest = self.text[run.end() if run else a : b]
                if not _PARTIAL_MARKER.match(self.text[a:b]) and any(ch.isalnum() for ch in rest):
                    self.leading = run is not None
            if merged and run and not self.leading:
                merged[-1] = (merged[-1][0], run.end())
                a = run.end()
                while a < b and self.text[a].isspace():
                    a += 1
                if a >= b:
                    continue
            merged.append((a, b))
        return merged

    def _take(self, final: bool) -> list[str]:
        spans = self._spans()
        if not final and spans:
            last_a, last_b = spans[-1]
            if _PARTIAL_MARKER.match(self.text[last_a:last_b]) and len(spans) > 1 and not self.leading:
                spans = spans[:-2]  # "… proposal. [" — the marker may belong to the sentence before
            elif "\n" not in self.text[last_b:]:
                spans = spans[:-1]  # may still grow
        if not spans:
            return []
        self.pos = spans[-1][1]
        return [self.text[a:b] for a, b in spans]


# ---------------------------------------------------------------- the verdict on one sentence


_NUMBER_WORDS = {
    w: str(i)
    for i, w in enumerate(
        "zero _ two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen seventeen eighteen nineteen twenty".split()
    )
    if w != "_"
} | {
    "thirty": "30",
    "forty": "40",
    "fifty": "50",
    "sixty": "60",
    "seventy": "70",
    "eighty": "80",
    "ninety": "90",
    "hundred": "100",
    "thousand": "1000",
    "million": "1000000",
    "billion": "1000000000",
    "dozen": "12",
    "half": "0.5",
    "twice": "2",
    "double": "2",
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b", re.I)
_NAME = re.compile(r"(?<![\w’'])[A-Z][\w’'.]*")
_CUES = {
    "negation": re.compile(
        r"\b(?:not|no|never|none|nobody|nothing|neither|nor|without|cannot)\b|n[’']t\b", re.I
    ),
    "refusal": re.compile(
        r"\b(?:reject|refus|den(?:y|ie)|declin|dismiss|cancel|oppos|fail|abandon|collaps)\w*", re.I
    ),
}


def numbers_in(text: str) -> set[str]:
    """Numbers written in digits or words, canonical ("30", "2"); "1,000" and "1000" are one."""
    found = {n.replace(",", "") for n in _NUMBER.findall(text)}
    return found | {_NUMBER_WORDS[w.lower()] for w in _NUMBER_WORD.findall(text)}


def names_in(text: str) -> list[str]:
    """Capitalised words (names, places, organisations), lower-cased. The first word of the
    sentence counts too unless it is a stop word ("The", "He", "According")."""
    names = []
    for match in _NAME.finditer(text):
        if match.start() == len(text) - len(text.lstrip()) and not content_terms(match.group(0)):
            continue
        for part in re.split(r"[-.’']", match.group(0)):
            if len(part) > 1 and part != "I" and part.lower() not in ("s", "t"):
                names.append(part.lower())
    return names


@lru_cache(maxsize=1)
def _attribution_terms() -> frozenset[str]:
    """Reporting verbs: "X said Y" where the source has "X claimed Y" adds no fact."""
    return frozenset(
        content_terms(
            "say says said state stated claim claimed tell told report reported note noted add added explain explained describe described according"
        )
    )


def cues_in(text: str) -> set[str]:
    return {name for name, pattern in _CUES.items() if pattern.search(text)}


_CLAUSE_BREAK = re.compile(r"\s*[,;:()—–]\s*|\s+-\s+")


def segments(text: str, max_clauses: int = 8) -> list[str]:
    """The span and its runs of consecutive clauses: a short sentence that restates one clause
    of a long span ("The call lasted nearly two hours" of "In a nearly two-hour call, …") is
    compared with that clause, not diluted by the rest of the span."""
    clauses = [c for c in _CLAUSE_BREAK.split(text) if len(c.split()) >= 2][:max_clauses]
    runs = {text}
    for i in range(len(clauses)):
        for j in range(i + 1, len(clauses) + 1):
            runs.add(" ".join(clauses[i:j]))
    return sorted(runs, key=len, reverse=True)


@dataclass(frozen=True)
class SupportConfig:
    """The support test's thresholds, measured on tests/data/support_cases.jsonl
    (``python -m bot.tools.support_eval``; results in docs/GENERATION.md)."""

    # Share of the sentence's content words that must be in the cited spans (+ title/source/date);
    # stricter for short sentences, see Verifier.support.
    min_overlap: float = 0.75
    min_similarity: float = 0.5  # MiniLM cosine between the sentence and the best cited span or clause run
    strict_facts: bool = True  # numbers, names and negation/refusal words must come from the cited spans


@dataclass(frozen=True)
class Verdict:
    action: Literal["show", "drop", "reject", "ignore"]
    reason: str
    text: str  # the sentence without markers (what would be shown, before renumbered markers)
    cited: tuple[int, ...] = ()
    overlap: float | None = None
    similarity: float | None = None
    failure: CheckFailure | None = None  # which check rejected it ("reject" only)

    @property
    def ok(self) -> bool:
        return self.action == "show"


Embed = Callable[[list[str]], "np.ndarray | list[list[float]]"]


class Verifier:
    """Checks generated sentences against the numbered sources given to the model."""

    def __init__(self, sources: list[Citation], embed: Embed, config: SupportConfig = SupportConfig()):
        self.sources = {s.n: s for s in sources}
        self.embed = embed
        self.config = config
        self._source_vectors: dict[int, np.ndarray] | None = None
        evidence = {n: f"{s.quote} {s.header}" for n, s in self.sources.items()}
        self._source_terms = {n: set(content_terms(text)) for n, text in evidence.items()}
        self._source_words = {
            n: set(re.findall(r"\w+", text.lower())) | self._source_terms[n] for n, text in evidence.items()
        }
        self._source_numbers = {n: numbers_in(text) for n, text in evidence.items()}
        self._source_cues = {n: cues_in(s.quote) for n, s in self.sources.items()}
        self._source_norm = {n: normalise(s.quote) for n, s in self.sources.items()}

    def warm(self) -> None:
        """Embed the sources and their clauses (once per answer)."""
        if self._source_vectors is None:
            owners, texts = [], []
            for n, source in self.sources.items():
                for segment in segments(source.quote):
                    owners.append(n)
                    texts.append(segment)
            vectors = _unit(self.embed(texts)) if texts else np.zeros((0, 1))
            self._source_vectors = {
                n: vectors[[i for i, owner in enumerate(owners) if owner == n]] for n in self.sources
            }

    def support(self, text: str, cited: Sequence[int]) -> tuple[bool, str, float, float]:
        """(supported, reason, overlap, similarity) of a marker-free sentence by the cited sources."""
        terms = content_terms(text)
        if not terms:
            return False, "says nothing checkable", 0.0, 0.0
        vocabulary = set().union(*(self._source_terms[n] for n in cited))
        overlap = sum(t in vocabulary for t in terms) / len(terms)
        self.warm()
        vector = _unit(self.embed([text]))[0]
        similarity = max(float((self._source_vectors[n] @ vector).max()) for n in cited)
        if self.config.strict_facts:
            numbers = set().union(*(self._source_numbers[n] for n in cited))
            missing = sorted(numbers_in(text) - numbers)
            if missing:
                return False, f"the number {missing[0]} is not in the cited source", overlap, similarity
            words = set().union(*(self._source_words[n] for n in cited))
            stems = set(content_terms(" ".join(words)))
            unknown = [
                name for name in names_in(text) if name not in words and not set(content_terms(name)) <= stems
            ]
            if unknown:
                return False, f"the name “{unknown[0]}” is not in the cited source", overlap, similarity
            swap = role_swap(
                text, [self.sources[n].quote for n in cited], [self.sources[n].title for n in cited]
            )
            if swap is not None:
                ours, theirs = swap
                return (
                    False,
                    f"it ties “{ours.token}” to “{ours.phrase}”, which the cited source ties to “{theirs.phrase}”",
                    overlap,
                    similarity,
                )
            extra = cues_in(text) - set().union(*(self._source_cues[n] for n in cited))
            if extra:
                return (
                    False,
                    f"it adds a {sorted(extra)[0]} the cited source does not have",
                    overlap,
                    similarity,
                )
        novel = [t for t in terms if t not in vocabulary and t not in _attribution_terms()]
        # At most a share (1 - min_overlap) of the words may be new, counted as if the sentence
        # had one word fewer: a short sentence that swaps one of its four words ("Putin ordered
        # the military to attack") must be wholly in the source.
        if self.config.min_overlap > 0 and len(novel) > int(
            (1 - self.config.min_overlap) * (len(terms) - 1) + 1e-9
        ):
            return (
                False,
                f"only {overlap:.0%} of its content words are in the cited source (not: {', '.join(novel[:4])})",
                overlap,
                similarity,
            )
        if similarity < self.config.min_similarity:
            return (
                False,
                f"it is too unlike the cited source (similarity {similarity:.2f})",
                overlap,
                similarity,
            )
        return True, "supported", overlap, similarity

    def check(self, raw: str) -> Verdict:
        text = strip_markers(raw)
        if not any(ch.isalpha() for ch in text):
            return Verdict("ignore", "no words (list numbering, stray marker)", text)
        cited = markers(raw)
        bad = [n for n in cited if n not in self.sources]
        if bad:
            return Verdict(
                "reject",
                f"cites source [{bad[0]}], which was not given (sources are 1..{len(self.sources)})",
                text,
                tuple(cited),
                failure=CheckFailure.INVALID_MARKER,
            )
        if not cited:
            return Verdict("drop", "no citation marker", text)
        for phrase in quoted_phrases(text):
            if not any(normalise(phrase) in self._source_norm[n] for n in cited):
                return Verdict(
                    "reject",
                    f"quotes “{phrase}”, which is not in the cited source",
                    text,
                    tuple(cited),
                    failure=CheckFailure.FAKE_QUOTE,
                )
        foreign = foreign_links(
            text, " ".join(f"{self.sources[n].quote} {self.sources[n].header}" for n in cited)
        )
        if foreign:
            return Verdict(
                "reject",
                f"adds a link, address or mention the cited source does not have ({foreign[0]})",
                text,
                tuple(cited),
                failure=CheckFailure.FOREIGN_LINK,
            )
        ok, reason, overlap, similarity = self.support(text, cited)
        if not ok:
            return Verdict(
                "reject",
                f"not supported by the cited source: {reason}",
                text,
                tuple(cited),
                overlap,
                similarity,
                CheckFailure.UNSUPPORTED,
            )
        return Verdict("show", reason, text, tuple(cited), overlap, similarity)


def _unit(vectors) -> np.ndarray:
    array = np.asarray(vectors, dtype="float32")
    if array.ndim == 1:
        array = array[None, :]
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    return array / np.where(norms == 0, 1, norms)

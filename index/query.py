"""Query understanding: what a question says besides its words — the outlets it names ("according
to 'Fortune'"), the dates it gives ("published on October 5, 2023") — matched against the
chunks' metadata, and the clauses of a multi-part question."""

from __future__ import annotations

import re

import numpy as np
from llama_index.core.schema import TextNode

_MONTHS = {
    name: i + 1
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ]
    )
    for name in names
}
_MONTH_WORDS = frozenset(_MONTHS) | frozenset(
    "monday tuesday wednesday thursday friday saturday sunday".split()
)
_MONTH = "(" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DATE_PATTERNS = [
    (re.compile(r"\b(\d{4})-(\d{2})-(\d{2})\b"), lambda m: (m[1], m[2], m[3])),
    (
        re.compile(r"\b" + _MONTH + r"\s+(\d{1,2})(?:st|nd|rd|th)?,?\s+(\d{4})\b", re.I),
        lambda m: (m[3], _MONTHS[m[1].lower()], m[2]),
    ),
    (
        re.compile(r"\b(\d{1,2})(?:st|nd|rd|th)?\s+(?:of\s+)?" + _MONTH + r",?\s+(\d{4})\b", re.I),
        lambda m: (m[3], _MONTHS[m[2].lower()], m[1]),
    ),
]


def date_mentions(question: str) -> list[tuple[int, int, str]]:
    """(start, end, ISO date) of every date written in the question, in order."""
    found = []
    for pattern, parts in _DATE_PATTERNS:
        for match in pattern.finditer(question):
            year, month, day = parts(match)
            if 1 <= int(month) <= 12 and 1 <= int(day) <= 31:
                found.append((match.start(), match.end(), f"{int(year):04d}-{int(month):02d}-{int(day):02d}"))
    return sorted(found)


def mentioned_dates(question: str) -> list[str]:
    """ISO dates (YYYY-MM-DD) written in the question, in order."""
    return list(dict.fromkeys(date for _, _, date in date_mentions(question)))


Rows = tuple[int, np.ndarray]  # (offset, rows): rows of a segment, where it starts in a version


def metadata_rows(groups) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Rows by outlet (``source``) and by publication day (``published``), from (metadata, rows)
    pairs: one per node, or one per article (its chunks share its metadata)."""
    by_source: dict[str, list] = {}
    by_date: dict[str, list] = {}
    for metadata, rows in groups:
        source = (metadata.get("source") or "").strip()
        if source:
            by_source.setdefault(source, []).append(rows)
        published = (metadata.get("published") or "").strip()
        if re.match(r"\d{4}-\d{2}-\d{2}", published):
            by_date.setdefault(published[:10], []).append(rows)

    def joined(found: dict[str, list]) -> dict[str, np.ndarray]:
        return {k: np.concatenate([np.asarray(r, dtype=np.int64) for r in v]) for k, v in found.items()}

    return joined(by_source), joined(by_date)


def _source_variants(name: str) -> str:
    """The regex for the ways a question may write an outlet."""
    if name.lower().startswith("the ") and len(name) > 4:
        rest = name[4:]
        # "The Verge" may be written "Verge"; "The Age" must keep its "The".
        optional = len(rest.split()) > 1 or len(rest) >= 5
        spelled = "|".join(dict.fromkeys([re.escape(rest), re.escape(rest.upper())]))
        return ("(?:[Tt]he\\s+)?" if optional else "[Tt]he\\s+") + f"(?:{spelled})"
    return "(?:" + "|".join(dict.fromkeys([re.escape(name), re.escape(name.upper())])) + ")"


class MetadataIndex:
    """The outlets and publication dates of a version's chunks, to match questions against.

    An outlet matches as written in the metadata (case-sensitive, so "fortune" the word is not
    "Fortune" the magazine), in capitals, without a leading "The" unless what is left is one
    short word ("The Age"), or by its short form ("The Independent" for "The Independent -
    Sports"); where mentions overlap the longest wins.
    """

    def __init__(self, nodes: list[TextNode]):
        by_source, by_date = metadata_rows((node.metadata, [i]) for i, node in enumerate(nodes))
        self._index(
            {k: [(0, v)] for k, v in by_source.items()}, {k: [(0, v)] for k, v in by_date.items()}, len(nodes)
        )

    @classmethod
    def from_parts(cls, rows_by_source: dict[str, list[Rows]], rows_by_date: dict[str, list[Rows]], n: int):
        """From rows already grouped, as (offset, rows) pairs: each segment's rows, where the
        segment starts in a version's rows (a version's live outlets and dates)."""
        index = cls.__new__(cls)
        index._index(rows_by_source, rows_by_date, n)
        return index

    def _index(self, rows_by_source: dict[str, list[Rows]], rows_by_date: dict[str, list[Rows]], n: int):
        self.n = n
        self.rows_by_source = rows_by_source
        self.rows_by_date = rows_by_date
        names: dict[str, set[str]] = {}
        for source in self.rows_by_source:
            names.setdefault(source, set()).add(source)
            short = re.split(r"\s+[|\-–—]\s+", source, maxsplit=1)[0].strip()
            if short != source and len(short) >= 3:
                names.setdefault(short, set()).add(source)
        # (sources, the literal spellings that must occur for a match, the pattern), longest first.
        self._names = []
        for name, sources in sorted(names.items(), key=lambda item: (-len(item[0]), item[0])):
            body = _source_variants(name)
            literals = {name[4:] if name.lower().startswith("the ") else name}
            literals |= {literal.upper() for literal in literals}
            self._names.append((sources, literals, re.compile(r"(?<!\w)" + body + r"(?!\w)")))

    def source_mentions(self, question: str) -> list[tuple[int, int, set[str]]]:
        """(start, end, matching sources) of every outlet the question names, in order; where
        mentions overlap, the longest wins."""
        taken: list[tuple[int, int, set[str]]] = []
        for sources, literals, pattern in self._names:
            if not any(literal in question for literal in literals):
                continue
            for match in pattern.finditer(question):
                start, end = match.span()
                if all(end <= a or start >= b for a, b, _ in taken):
                    taken.append((start, end, sources))
        return sorted(taken, key=lambda m: m[0])

    def mentioned_sources(self, question: str) -> list[set[str]]:
        return [sources for _, _, sources in self.source_mentions(question)]

    def source_mask(self, question: str) -> np.ndarray | None:
        mentions = self.source_mentions(question)
        if not mentions:
            return None
        mask = np.zeros(self.n, dtype="float32")
        for _, _, sources in mentions:
            for source in sources:
                for offset, rows in self.rows_by_source[source]:
                    mask[rows + offset] = 1.0
        return mask

    def date_mask(self, question: str) -> np.ndarray | None:
        dates = [d for d in mentioned_dates(question) if d in self.rows_by_date]
        if not dates:
            return None
        mask = np.zeros(self.n, dtype="float32")
        for date in dates:
            for offset, rows in self.rows_by_date[date]:
                mask[rows + offset] = 1.0
        return mask

    def unknown_outlets(self, question: str) -> list[str]:
        """Outlets the question attributes a report to ("a Bloomberg article", "a report by
        Reuters") that no indexed article is from: no citation could come from them."""
        known = self.source_mentions(question)
        found = []
        for start, end, name in outlet_mentions(question):
            if any(a < end and start < b for a, b, _ in known):
                continue
            found.append(name)
        return list(dict.fromkeys(found))

    def without_mentions(self, question: str) -> str:
        """The question with its outlet and date mentions blanked out."""
        chars = list(question)
        spans = [(a, b) for a, b, _ in self.source_mentions(question)] + [
            (a, b) for a, b, _ in date_mentions(question)
        ]
        for a, b in spans:
            chars[a:b] = " " * (b - a)
        return "".join(chars)


# An outlet a question attributes a report to: a capitalised name (quotes and "The" allowed) next
# to a word for a published piece — "a Bloomberg article", "a report by Reuters", "an article in
# The Astrophysical Journal". "According to the Kremlin" names a speaker, not an outlet.
_PIECE = r"(?:article|report|piece|story|review|op-ed|editorial|column|write-?up|news\s+report)"
_OUTLET = r"['‘\"]?((?:[Tt]he\s+)?[A-Z][\w.&’'-]*(?:\s+(?:of\s+|&\s+)?[A-Z][\w.&’'-]*)*)['’\"]?"
_OUTLET_BEFORE = re.compile(rf"\b(?:an?|the|one|another)\s+{_OUTLET}\s+{_PIECE}s?\b")
_OUTLET_AFTER = re.compile(rf"\b{_PIECE}s?\s+(?:published\s+)?(?:by|from|in)\s+(?:an?\s+)?{_OUTLET}")


def outlet_mentions(question: str) -> list[tuple[int, int, str]]:
    """(start, end, name) of every outlet the question attributes a report to, in order."""
    found = []
    for pattern in (_OUTLET_BEFORE, _OUTLET_AFTER):
        for match in pattern.finditer(question):
            name = match.group(1).strip("'‘’\"")
            first = name.split()[0].lower()
            # "an article published in October", "the AI report": a date or a short word, no outlet
            if first in _MONTH_WORDS or len(name) < 3 or name.lower() == "the":
                continue
            found.append((match.start(1), match.end(1), name))
    return sorted(found)


# Clause boundaries: punctuation and the conjunctions that join the parts of a multi-hop question.
_CLAUSE_SPLIT = re.compile(
    r"[;,:?!]|\b(?:while|whereas|and also|and is also|and was also|as well as|compared to|in contrast to|"
    r"according to|as reported by|reported by|as mentioned by|as per)\b",
    re.I,
)
MIN_CLAUSE_WORDS = 4


def question_clauses(question: str, metadata: MetadataIndex | None = None) -> list[str]:
    """The parts of a question worth matching on their own (outlet/date mentions removed);
    one part (or none) means the question has no separate parts."""
    text = metadata.without_mentions(question) if metadata else question
    parts = [" ".join(p.split()) for p in _CLAUSE_SPLIT.split(text)]
    return [p for p in parts if len(p.split()) >= MIN_CLAUSE_WORDS]

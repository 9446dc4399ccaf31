"""Answer figures per question category (``category`` in the timeline sets: latest, time_anchored,
change, refuse; MultiHop-RAG's ``question_type`` otherwise), for ``negotiations-bot eval``.

Per category: how many answerable questions were refused, how many must-refuse questions were
refused, and how many answerable questions cite the gold: for ``change`` questions (how a fact
moved over time) every listed quote must be cited, for the others any one is enough.
"""

from __future__ import annotations

from dataclasses import dataclass

ALL_QUOTES_CATEGORIES = frozenset({"change"})  # every listed quote must be cited


@dataclass(frozen=True)
class CategoryRecord:
    category: str
    answerable: bool
    refused: bool
    gold_cited: bool  # any gold quote's span cited (every one for ALL_QUOTES_CATEGORIES)


def gold_cited(category: str, citations, spans_by_quote: list[list[tuple[str, int, int]]]) -> bool:
    """Whether the citations cover the gold: each entry of ``spans_by_quote`` is the (doc, start,
    end) spans of one listed quote; a quote is cited when a citation overlaps one of its spans."""

    def cited(spans):
        return any(
            c.doc == doc and c.start < end and start < c.end for c in citations for doc, start, end in spans
        )

    quotes = [spans for spans in spans_by_quote if spans]
    if not quotes:
        return False
    return all(map(cited, quotes)) if category in ALL_QUOTES_CATEGORIES else any(map(cited, quotes))


def _ratio(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def aggregate_categories(records: list[CategoryRecord]) -> dict[str, dict]:
    by: dict[str, list[CategoryRecord]] = {}
    for r in records:
        by.setdefault(r.category, []).append(r)
    out = {}
    for category, rows in sorted(by.items()):
        answerable = [r for r in rows if r.answerable]
        must_refuse = [r for r in rows if not r.answerable]
        out[category] = {
            "n": len(rows),
            "n_answerable": len(answerable),
            "n_must_refuse": len(must_refuse),
            "answerable_refused": _ratio(sum(r.refused for r in answerable), len(answerable)),
            "must_refuse_refused": _ratio(sum(r.refused for r in must_refuse), len(must_refuse)),
            "gold_cited": _ratio(sum(r.gold_cited and not r.refused for r in answerable), len(answerable)),
        }
    return out


def format_categories(by_category: dict[str, dict]) -> list[str]:
    """The per-category table for ``format_table``."""
    if not by_category:
        return []
    lines = [
        "answers by category (gold cited: every listed quote for 'change', else any one)",
        f"  {'category':<22}{'n':>4}{'answerable refused':>21}{'refused of must-refuse':>25}{'gold cited':>16}",
    ]

    def cell(value, count):
        return "-" if value is None else f"{value:.2f} ({round(value * count)}/{count})"

    for category, r in by_category.items():
        lines.append(
            f"  {category:<22}{r['n']:>4}{cell(r['answerable_refused'], r['n_answerable']):>21}"
            f"{cell(r['must_refuse_refused'], r['n_must_refuse']):>25}{cell(r['gold_cited'], r['n_answerable']):>16}"
        )
    return lines

"""The refusal trade-off of ``negotiations-bot eval``: every question asked again at other answer
thresholds (bot/answering/scoring.py), so that what the fitted threshold trades — answerable
questions refused against unanswerable ones answered — is shown rather than one point of it.

A system takes part when it has ``fitted_threshold`` (None: it doesn't, e.g. a model backend,
whose answers would be generated again at every threshold), ``answer_threshold(t)`` (a context
manager) and ``answer(question)``.
"""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Callable

THRESHOLDS = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9)


@contextlib.contextmanager
def answering_at(answerer, threshold: float):
    """``answerer`` answers at another answer threshold meanwhile (a model is given the sources at
    the lower of its own threshold and this one, as the calibration tool fits them)."""
    fitted = answerer.calibration
    answerer.calibration = dataclasses.replace(
        fitted, answer_threshold=threshold, llm_threshold=min(fitted.llm_threshold, threshold)
    )
    try:
        yield
    finally:
        answerer.calibration = fitted


def tradeoff(
    system, questions: list, record: Callable, thresholds=THRESHOLDS, fitted_records: list | None = None
) -> dict:
    """Answerable questions refused against unanswerable ones answered, at each answer threshold
    (and the fitted one): every question is asked again at each. ``record(question, answer)``
    scores one answer (evaluation.answer_record); ``fitted_records``, the run's own records of
    ``questions`` at the fitted threshold, spare asking them all once more."""
    fitted = system.fitted_threshold
    rows = []
    for threshold in sorted({*thresholds, fitted}):
        if threshold == fitted and fitted_records is not None:
            records = fitted_records
        else:
            with system.answer_threshold(threshold):
                records = [record(q, system.answer(q.question)) for q in questions]
        answerable = [r for r in records if r.answerable]
        unanswerable = [r for r in records if not r.answerable]
        rows.append(
            {
                "threshold": threshold,
                "fitted": threshold == fitted,
                "answerable_refused": sum(r.refused for r in answerable),
                "unanswerable_answered": sum(not r.refused for r in unanswerable),
                "gold_span_hit": sum(r.gold_span_hit for r in answerable),
            }
        )
    n = sum(q.answerable for q in questions)
    return {"n_answerable": n, "n_unanswerable": len(questions) - n, "rows": rows}


def format_tradeoff(table: dict) -> list[str]:
    n, m = table["n_answerable"], table["n_unanswerable"]

    def cell(count: int, of: int) -> str:
        return f"{count / of:.2f} ({count}/{of})" if of else "-"

    lines = [
        "trade-off as the answer threshold moves (every question asked again; * the fitted threshold: this run)",
        f"  {'threshold':<12}{'answerable refused':>22}{'unanswerable answered':>25}{'gold cited':>16}",
    ]
    for row in table["rows"]:
        label = f"{row['threshold']:g}{' *' if row['fitted'] else ''}"
        lines.append(
            f"  {label:<12}{cell(row['answerable_refused'], n):>22}"
            f"{cell(row['unanswerable_answered'], m):>25}{cell(row['gold_span_hit'], n):>16}"
        )
    return lines

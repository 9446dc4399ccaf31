"""Fit the sentence model and the answer/refuse thresholds (bot/answering/calibration.json) on dev
questions, and report how they do on questions they were not fitted on.

    python -m bot.tools.calibrate --set NAME CORPUS QUESTIONS [--set ...] [--data DIR] [--check]

Every question is retrieved once and its candidate sentences' signals recorded (bot/answering/
scoring.py); a sentence is positive when it overlaps a gold quote. Five folds, grouped by article
(the questions about one article never straddle train and test), give the held-out figures: on
each fold the logistic model (scikit-learn, classes balanced) and the thresholds are fitted on the
other four and applied to it. The objective weighs every dataset equally and, within it, answerable
and must-refuse questions equally (``objective``). Then everything is fitted once more on all questions and written
(``--check``: report only).
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import json
import pickle
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.scoring import (
    CALIBRATION_PATH,
    FEATURES,
    NEVER,
    QUESTION_FEATURES,
    Calibration,
    Logistic,
    load_calibration,
    question_features,
    select,
)
from bot.tools.evaluation import ArticleTexts, gold_spans, load_questions
from index.library import Library, LibraryConfig

FOLDS = 5


@dataclass
class Case:
    dataset: str
    qid: str
    group: str  # fold grouping: the question's first evidence article (or itself)
    answerable: bool
    policy_refusal: bool  # refused before any sentence is considered (not_a_question)
    x: np.ndarray  # candidates × FEATURES
    gold: np.ndarray  # candidate overlaps a gold span
    detail: np.ndarray  # candidate has the asked-for detail
    gold_groups: list[set[int]] = field(default_factory=list)  # candidates covering each evidence quote
    docs: list[str] = field(default_factory=list)  # each candidate's article
    part_sims: np.ndarray | None = None  # candidates × question parts
    # The outcome when a rule, not the fitted models, answers (an article's dateline, a person's
    # titles, a date-aware answer): the same under every calibration.
    settled: dict | None = None
    reports: np.ndarray | None = None  # candidates × reports the question names: from which


def collect(name: str, corpus: Path, questions: Path, data: Path) -> list[Case]:
    library = Library(LibraryConfig(data_dir=data, corpus_dir=corpus, background_merge=False))
    answerer = ExtractiveAnswerer(library)
    texts = ArticleTexts(corpus)
    cases = []
    for q in load_questions(questions):
        context = answerer.retrieve(q.question)
        cands = context.candidates
        spans = gold_spans(q, texts)
        quotes = _quote_spans(q, texts)  # each evidence quote's first occurrence (None: not found)
        groups = [{i for i, c in enumerate(cands) if _overlaps(c, span)} for span in quotes]
        gold = np.array([any(_overlaps(c, span) for span in spans) for c in cands], dtype=bool)
        x = np.array([[c.features[f] for f in FEATURES] for c in cands], dtype="float64").reshape(
            -1, len(FEATURES)
        )
        detail = np.array([c.has_detail for c in cands], dtype=bool)
        group = sorted({doc for doc, _ in q.evidence})
        settled = None
        if (context.timed is not None and context.timed.answer is not None) or answerer.titles(context):
            settled = _settled(answerer.compose(context), spans, quotes)
        cases.append(
            Case(
                name,
                q.id,
                f"{name}:{group[0]}" if group and not name.startswith("seed") else f"{name}:{q.id}",
                q.answerable,
                context.refused_outright(),
                x,
                gold,
                detail,
                groups,
                [c.doc for c in cands],
                np.array([c.part_sims for c in cands]),
                settled,
                np.array([c.reports for c in cands], dtype=bool),
            )
        )
        print(f"  {name} {len(cases)}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return cases


def _quote_spans(q, texts) -> list[tuple[str, int, int] | None]:
    spans = []
    for doc, quote in q.evidence:
        start = (texts(doc) or "").find(quote)
        spans.append((doc, start, start + len(quote)) if start >= 0 else None)
    return spans


def _overlaps(item, span: tuple[str, int, int] | None) -> bool:
    """Whether a candidate or citation overlaps ``span`` (doc, start, end) of an article."""
    return span is not None and item.doc == span[0] and item.start < span[2] and span[1] < item.end


def _settled(answer, spans, quotes) -> dict:
    """The outcome (as ``outcome``) of an answer a rule composed: ``spans``, every occurrence of
    the gold quotes; ``quotes``, each evidence quote's first one."""
    cited = [any(_overlaps(c, span) for span in spans) for c in answer.citations]
    covered = [any(_overlaps(c, span) for c in answer.citations) for span in quotes]
    return {
        "refused": answer.refused,
        "first_gold": bool(cited) and cited[0],
        "any_gold": any(cited),
        "all_gold": not answer.refused and bool(covered) and all(covered),
        "extra_wrong": sum(1 for g in cited[1:] if not g),
    }


def fold_of(case: Case) -> int:
    return int(hashlib.sha1(case.group.encode()).hexdigest(), 16) % FOLDS


# ---------------------------------------------------------------- fitting


def _weights(datasets: list[str], y: np.ndarray, sizes: list[int] | None = None) -> np.ndarray:
    """Sample weights: every dataset counts the same, and every question within it (a large
    benchmark must not drown the casual and the Russian/Ukrainian questions); classes balanced."""
    per_set: dict[str, int] = {}
    for d in datasets:
        per_set[d] = per_set.get(d, 0) + 1
    sizes = sizes or [1] * len(datasets)
    w = np.concatenate([np.full(n, 1.0 / (per_set[d] * n)) for d, n in zip(datasets, sizes)])
    for label in (True, False):
        if (y == label).any():
            w[y == label] *= 0.5 / w[y == label].sum()
    return w * len(w)


def _logistic(x: np.ndarray, y: np.ndarray, w: np.ndarray) -> Logistic:
    from sklearn.linear_model import LogisticRegression

    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((x - means) / scales, y, sample_weight=w)
    return Logistic(tuple(model.coef_[0]), float(model.intercept_[0]), tuple(means), tuple(scales))


def question_x(case: Case, p: np.ndarray) -> np.ndarray:
    return question_features(p, case.detail, case.x)


def probabilities(cal: Calibration, case: Case) -> tuple[np.ndarray, float]:
    """The case's sentence probabilities and its question probability under ``cal``."""
    p = cal.sentence(case.x) if len(case.x) else np.zeros(0)
    q = float(cal.question(question_x(case, p))) if len(case.x) else 0.0
    return p, q


def outcome(cal: Calibration, case: Case, pq: tuple[np.ndarray, float], max_sentences: int = 3) -> dict:
    """What the answerer would do with ``case`` under ``cal`` (the same rule: scoring.select)."""
    if getattr(case, "settled", None) is not None:  # (cases pickled before the field have none)
        return case.settled
    p, q = pq
    parts = case.part_sims if case.part_sims is not None else np.zeros((len(p), 0))
    docs = case.docs or [str(i) for i in range(len(p))]
    reports = getattr(case, "reports", None)
    chosen = (
        []
        if case.policy_refusal
        else select(p, case.detail, docs, parts, q, cal.answer_threshold, cal, reports=reports)
    )
    all_gold = bool(chosen) and bool(case.gold_groups) and all(g & set(chosen) for g in case.gold_groups)
    return {
        "refused": not chosen,
        "first_gold": bool(chosen) and bool(case.gold[chosen[0]]),
        "any_gold": any(case.gold[i] for i in chosen),
        "all_gold": all_gold,
        "extra_wrong": sum(1 for i in chosen[1:] if not case.gold[i]),
    }


def objective(cal: Calibration, cases: list[Case], probs: list) -> float:
    """The mean, over datasets and within each over answerable and must-refuse questions, of the
    per-question score: all gold cited 1, some 0.6, answered without gold 0.2, refused 0 (minus
    0.1 per wrong further sentence); a must-refuse question refused 1."""
    scores: dict[tuple[str, bool], list[float]] = {}
    for case, pq in zip(cases, probs):
        o = outcome(cal, case, pq)
        if case.answerable:
            value = 1.0 if o["all_gold"] else 0.6 if o["any_gold"] else 0.2 if not o["refused"] else 0.0
            value -= 0.1 * o["extra_wrong"]
        else:
            value = 1.0 if o["refused"] else 0.0
        scores.setdefault((case.dataset, case.answerable), []).append(value)
    return float(np.mean([np.mean(v) for v in scores.values()])) if scores else 0.0


def fit(cases: list[Case], hold: Calibration | None = None) -> Calibration:
    """Both models and every threshold; with ``hold``, only the reports threshold, the rest kept
    from ``hold`` (a knob added later is fitted without moving answers elsewhere)."""
    grid = [round(t, 3) for t in np.linspace(0.05, 0.95, 37)]
    if hold is not None:
        return _fit_reports(hold, cases, [probabilities(hold, c) for c in cases], grid)
    with_x = [c for c in cases if len(c.x)]
    y = np.concatenate([c.gold for c in with_x])
    sentence = _logistic(
        np.concatenate([c.x for c in with_x]),
        y,
        _weights([c.dataset for c in with_x], y, [len(c.x) for c in with_x]),
    )
    qx = np.array([question_x(c, sentence(c.x)) for c in with_x])
    qy = np.array([c.answerable for c in with_x])
    question = _logistic(qx, qy, _weights([c.dataset for c in with_x], qy))
    base = Calibration(sentence, question, 0.5, 0.5, 0.2)
    probs = [probabilities(base, c) for c in cases]
    # A model gets the sources (and a part of a question its own sentence) when the question
    # shows some evidence: the level 95% of the answerable questions reach.
    answerable = [q for c, (_, q) in zip(cases, probs) if c.answerable and len(c.x)]
    llm = round(float(np.quantile(answerable, 0.05)), 4) if answerable else 0.2
    best = (-1.0, 0.5, 0.5, 2.0)
    for t in grid:
        for t2 in grid[::3]:
            for z in (1.5, 2.0, 2.5, 3.0):
                value = objective(Calibration(sentence, question, t, t2, min(llm, t), z), cases, probs)
                if value > best[0] + 1e-9:
                    best = (value, t, t2, z)
    _, t, t2, z = best
    # Then a further sentence of the same article, with the other choices held (one more pass,
    # not the whole grid again: it only adds sentences to answers the rest already chose).
    best_same = (best[0], t2, NEVER)
    for same in (0.8, 0.85, 0.9, 0.95, 0.98):
        for t2_ in grid[::3]:
            value = objective(Calibration(sentence, question, t, t2_, min(llm, t), z, same), cases, probs)
            if value > best_same[0] + 1e-9:
                best_same = (value, t2_, same)
    _, t2, same = best_same
    return _fit_reports(Calibration(sentence, question, t, t2, min(llm, t), z, same), cases, probs, grid)


def _fit_reports(cal: Calibration, cases: list[Case], probs: list, grid: list[float]) -> Calibration:
    """``cal`` with the reports threshold that serves ``cases`` best (NEVER unless one gains):
    the questions that name several reports, each with a sentence on them."""
    best = (objective(dataclasses.replace(cal, reports_threshold=NEVER), cases, probs), NEVER)
    for level in grid:
        value = objective(dataclasses.replace(cal, reports_threshold=level), cases, probs)
        if value > best[0] + 1e-9:
            best = (value, level)
    return dataclasses.replace(cal, reports_threshold=best[1])


def report(cases: list[Case], predicted: dict[str, dict]) -> dict:
    """Held-out figures per dataset (and per language for the seed sets)."""
    out = {}
    keys = sorted({c.dataset for c in cases})
    for key in keys:
        rows = [(c, predicted[f"{c.dataset}/{c.qid}"]) for c in cases if c.dataset == key]
        ans = [o for c, o in rows if c.answerable]
        una = [o for c, o in rows if not c.answerable]
        out[key] = {
            "answerable": len(ans),
            "must_refuse": len(una),
            "answerable_refused": _share(o["refused"] for o in ans),
            "must_refuse_refused": _share(o["refused"] for o in una),
            "first_gold": _share(o["first_gold"] for o in ans),
            "all_gold": _share(o["all_gold"] for o in ans),
        }
    return out


def _share(values) -> float | None:
    values = list(values)
    return round(sum(map(bool, values)) / len(values), 3) if values else None


def cross_validate(cases: list[Case], hold: Calibration | None = None) -> dict:
    predicted = {}
    for k in range(FOLDS):
        train = [c for c in cases if fold_of(c) != k]
        test = [c for c in cases if fold_of(c) == k]
        if not test:
            continue
        cal = fit(train, hold)
        for case in test:
            predicted[f"{case.dataset}/{case.qid}"] = outcome(cal, case, probabilities(cal, case))
    return report(cases, predicted)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.tools.calibrate", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--set", nargs=3, action="append", metavar=("NAME", "CORPUS", "QUESTIONS"), required=True
    )
    parser.add_argument(
        "--data", type=Path, default=Path("data/calibrate"), help="index directories (per set)"
    )
    parser.add_argument("--check", action="store_true", help="report the held-out figures, write nothing")
    parser.add_argument("--out", type=Path, default=CALIBRATION_PATH)
    parser.add_argument(
        "--hold",
        action="store_true",
        help="keep --out's models and thresholds and fit only the reports threshold",
    )
    parser.add_argument(
        "--cases", type=Path, help="keep the collected signals in this file and reuse them (refitting only)"
    )
    args = parser.parse_args(argv)
    cases: list[Case] = []
    if args.cases and args.cases.exists():
        cases = pickle.loads(args.cases.read_bytes())
    else:
        for name, corpus, questions in args.set:
            corpus_path = Path(corpus)
            data = args.data / hashlib.sha1(str(corpus_path.resolve()).encode()).hexdigest()[:12]
            cases += collect(name, corpus_path, Path(questions), data)
        if args.cases:
            args.cases.write_bytes(pickle.dumps(cases))
    hold = load_calibration(args.out) if args.hold else None
    held_out = cross_validate(cases, hold)
    print(json.dumps({"held_out": held_out}, indent=2))
    if args.check:
        return 0
    cal = fit(cases, hold)
    data = {
        "features": list(FEATURES),
        "question_features": list(QUESTION_FEATURES),
        "sentence": cal.sentence.to_json(),
        "question": cal.question.to_json(),
        "answer_threshold": cal.answer_threshold,
        "extra_threshold": cal.extra_threshold,
        "llm_threshold": cal.llm_threshold,
        "part_z": cal.part_z,
        "same_article_threshold": cal.same_article_threshold,
        "reports_threshold": cal.reports_threshold,
        "fitted": {
            "sets": {name: questions for name, _, questions in args.set},
            "questions": len(cases),
            "held_out_5_fold": held_out,
            # --hold: only the reports threshold was fitted here; the rest is as the fit described
            # in "held" left it
            "held": (hold.fitted.get("held") or hold.fitted) if hold is not None else None,
        },
    }
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
import hashlib
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from bot.answering.asks import not_a_question
from bot.answering.extractive import ExtractiveAnswerer
from bot.answering.scoring import CALIBRATION_PATH, FEATURES, Calibration
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


def collect(name: str, corpus: Path, questions: Path, data: Path) -> list[Case]:
    library = Library(LibraryConfig(data_dir=data, corpus_dir=corpus, background_merge=False))
    answerer = ExtractiveAnswerer(library)
    texts = ArticleTexts(corpus)
    cases = []
    for q in load_questions(questions):
        context = answerer.retrieve(q.question)
        cands = context.candidates
        spans = gold_spans(q, texts)
        groups = []
        for doc, quote in q.evidence:
            text = texts(doc) or ""
            start = text.find(quote)
            groups.append(
                {
                    i
                    for i, c in enumerate(cands)
                    if start >= 0 and c.doc == doc and c.start < start + len(quote) and start < c.end
                }
            )
        gold = np.array(
            [any(c.doc == d and c.start < e and s < c.end for d, s, e in spans) for c in cands], dtype=bool
        )
        x = np.array([[c.features[f] for f in FEATURES] for c in cands], dtype="float64").reshape(
            -1, len(FEATURES)
        )
        detail = np.array([c.has_detail for c in cands], dtype=bool)
        group = sorted({doc for doc, _ in q.evidence})
        cases.append(
            Case(
                name,
                q.id,
                f"{name}:{group[0]}" if group and not name.startswith("seed") else f"{name}:{q.id}",
                q.answerable,
                not_a_question(context.question),
                x,
                gold,
                detail,
                groups,
            )
        )
        print(f"  {name} {len(cases)}", end="\r", file=sys.stderr)
    print(file=sys.stderr)
    return cases


def fold_of(case: Case) -> int:
    return int(hashlib.sha1(case.group.encode()).hexdigest(), 16) % FOLDS


# ---------------------------------------------------------------- fitting


def fit_model(cases: list[Case]) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    from sklearn.linear_model import LogisticRegression

    with_x = [c for c in cases if len(c.x)]
    x = np.concatenate([c.x for c in with_x])
    y = np.concatenate([c.gold for c in with_x])
    # Every dataset counts the same, and every question within it (a large benchmark must not
    # drown the casual and the Russian/Ukrainian questions); positives and negatives balanced.
    per_set = {c.dataset: 0 for c in with_x}
    for c in with_x:
        per_set[c.dataset] += 1
    w = np.concatenate([np.full(len(c.x), 1.0 / (per_set[c.dataset] * len(c.x))) for c in with_x])
    for label in (True, False):
        if (y == label).any():
            w[y == label] *= 0.5 / w[y == label].sum()
    means, scales = x.mean(axis=0), x.std(axis=0)
    scales[scales == 0] = 1.0
    model = LogisticRegression(C=1.0, max_iter=2000)
    model.fit((x - means) / scales, y, sample_weight=w * len(w))
    return means, scales, model.coef_[0], float(model.intercept_[0])


def probabilities(cal: Calibration, case: Case) -> np.ndarray:
    return cal.probability(case.x) if len(case.x) else np.zeros(0)


def outcome(cal: Calibration, case: Case, p: np.ndarray, max_sentences: int = 3) -> dict:
    """What the answerer would do with ``case`` under ``cal`` (the same rule as ExtractiveAnswerer.choose)."""
    order = [i for i in np.argsort(-p, kind="stable") if case.detail[i]]
    refused = case.policy_refusal or not order or p[order[0]] < cal.answer_threshold
    chosen = [] if refused else [order[0]]
    for i in order[1:] if not refused else []:
        if len(chosen) >= max_sentences or p[i] < cal.extra_threshold:
            break
        chosen.append(i)
    first_gold = bool(chosen) and bool(case.gold[chosen[0]])
    all_gold = bool(chosen) and bool(case.gold_groups) and all(g & set(chosen) for g in case.gold_groups)
    return {
        "refused": refused,
        "first_gold": first_gold,
        "any_gold": any(case.gold[i] for i in chosen),
        "all_gold": all_gold,
        "extra_wrong": sum(1 for i in chosen[1:] if not case.gold[i]),
    }


def objective(cal: Calibration, cases: list[Case], probs: list[np.ndarray]) -> float:
    """The mean, over datasets and within each over answerable and must-refuse questions, of the
    per-question score: all gold cited 1, some 0.6, answered without gold 0.2, refused 0 (minus
    0.1 per wrong further sentence); a must-refuse question refused 1."""
    scores: dict[tuple[str, bool], list[float]] = {}
    for case, p in zip(cases, probs):
        o = outcome(cal, case, p)
        if case.answerable:
            value = 1.0 if o["all_gold"] else 0.6 if o["any_gold"] else 0.2 if not o["refused"] else 0.0
            value -= 0.1 * o["extra_wrong"]
        else:
            value = 1.0 if o["refused"] else 0.0
        scores.setdefault((case.dataset, case.answerable), []).append(value)
    return float(np.mean([np.mean(v) for v in scores.values()])) if scores else 0.0


def fit(cases: list[Case]) -> Calibration:
    means, scales, weights, bias = fit_model(cases)
    base = Calibration(tuple(weights), bias, 0.5, 0.5, 0.2, tuple(means), tuple(scales))
    probs = [probabilities(base, c) for c in cases]
    best = (-1.0, 0.5, 0.5)
    grid = [round(t, 3) for t in np.linspace(0.05, 0.95, 37)]
    for t in grid:
        for t2 in [g for g in grid if g >= t]:
            cal = Calibration(base.weights, bias, t, t2, 0.2, base.means, base.scales)
            value = objective(cal, cases, probs)
            if value > best[0] + 1e-9:
                best = (value, t, t2)
    _, t, t2 = best
    # A model gets the sources when the best sentence shows some evidence: the level that 95% of
    # answerable questions' best gold sentences reach.
    gold_best = [float(p[c.gold].max()) for c, p in zip(cases, probs) if c.answerable and c.gold.any()]
    llm = float(np.quantile(gold_best, 0.05)) if gold_best else t / 2
    return Calibration(base.weights, bias, t, t2, min(llm, t), base.means, base.scales)


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


def cross_validate(cases: list[Case]) -> dict:
    predicted = {}
    for k in range(FOLDS):
        train = [c for c in cases if fold_of(c) != k]
        test = [c for c in cases if fold_of(c) == k]
        if not test:
            continue
        cal = fit(train)
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
    args = parser.parse_args(argv)
    cases: list[Case] = []
    for name, corpus, questions in args.set:
        corpus_path = Path(corpus)
        data = args.data / hashlib.sha1(str(corpus_path.resolve()).encode()).hexdigest()[:12]
        cases += collect(name, corpus_path, Path(questions), data)
    held_out = cross_validate(cases)
    print(json.dumps({"held_out": held_out}, indent=2))
    if args.check:
        return 0
    cal = fit(cases)
    data = {
        "features": list(FEATURES),
        "weights": [round(w, 6) for w in cal.weights],
        "bias": round(cal.bias, 6),
        "answer_threshold": cal.answer_threshold,
        "extra_threshold": cal.extra_threshold,
        "llm_threshold": round(cal.llm_threshold, 4),
        "means": [round(m, 6) for m in cal.means],
        "scales": [round(s, 6) for s in cal.scales],
        "fitted": {
            "sets": {name: questions for name, _, questions in args.set},
            "questions": len(cases),
            "held_out_5_fold": held_out,
        },
    }
    args.out.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())

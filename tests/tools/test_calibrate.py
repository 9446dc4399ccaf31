"""bot/tools/calibrate.py: the sentence model and thresholds are fitted from data, not set by hand."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from bot.answering.scoring import FEATURES, NEVER, load_calibration, select
from bot.tools.calibrate import Case, cross_validate, fit, outcome, probabilities


def _case(i: int, answerable: bool, rng) -> Case:
    """Ten candidates; an answerable question's first candidate is gold and clearly similar."""
    x = rng.normal(0, 0.3, (10, len(FEATURES)))
    gold = np.zeros(10, dtype=bool)
    if answerable:
        x[0, 0] += 3.0  # "sem"
        gold[0] = True
    return Case(
        "set",
        f"q{i}",
        f"set:q{i}",
        answerable,
        False,
        x,
        gold,
        np.ones(10, bool),
        [{0}] if answerable else [],
    )


def test_fitted_thresholds_answer_the_answerable_and_refuse_the_rest():
    rng = np.random.default_rng(0)
    cases = [_case(i, i % 3 != 0, rng) for i in range(90)]
    cal = fit(cases)
    assert cal.sentence.weights[FEATURES.index("sem")] > 0
    results = [(c, outcome(cal, c, probabilities(cal, c))) for c in cases]
    assert all(o["first_gold"] for c, o in results if c.answerable)
    assert all(o["refused"] for c, o in results if not c.answerable)
    held_out = cross_validate(cases)["set"]
    assert held_out["answerable_refused"] <= 0.05 and held_out["must_refuse_refused"] >= 0.9


def test_a_calibration_fitted_on_other_features_is_refused(tmp_path):
    path = tmp_path / "calibration.json"
    data = json.loads(load_calibration.__defaults__[0].read_text("utf-8"))
    data["features"] = ["sem"]
    path.write_text(json.dumps(data), "utf-8")
    with pytest.raises(ValueError, match="fitted on features"):
        load_calibration(path)


def _two_part_case(i: int, rng) -> Case:
    """An answerable question that two sentences of one article answer together."""
    case = _case(i, True, rng)
    case.x[1, 0] += 3.0
    case.gold[1] = True
    case.gold_groups = [{0}, {1}]
    case.docs = ["article"] * 10
    return case


def test_a_second_sentence_of_the_same_article_is_quoted_when_the_data_ask_for_it():
    rng = np.random.default_rng(1)
    cases = [_two_part_case(i, rng) if i % 3 == 1 else _case(i, i % 3 != 0, rng) for i in range(90)]
    cal = fit(cases)
    assert cal.same_article_threshold < NEVER
    two_part = [c for c in cases if len(c.gold_groups) == 2]
    assert all(outcome(cal, c, probabilities(cal, c))["all_gold"] for c in two_part)
    # Only a further sentence reaching the threshold is added, and never at NEVER.
    p, q = probabilities(cal, two_part[0])
    parts, docs = np.zeros((10, 0)), two_part[0].docs
    assert len(select(p, np.ones(10, bool), docs, parts, q, cal.answer_threshold, cal)) == 2
    never = dataclasses.replace(cal, same_article_threshold=NEVER)
    assert select(p, np.ones(10, bool), docs, parts, q, cal.answer_threshold, never) == [int(np.argmax(p))]


def test_a_question_a_rule_answered_keeps_its_outcome_under_every_calibration():
    # A dateline or a person's titles are not chosen by the fitted models: the held-out figures
    # count what the answerer did, not what the models would have chosen among the candidates.
    rng = np.random.default_rng(2)
    cases = [_case(i, i % 3 != 0, rng) for i in range(60)]
    settled = {"refused": False, "first_gold": True, "any_gold": True, "all_gold": True, "extra_wrong": 0}
    ruled = dataclasses.replace(_case(99, True, rng), x=np.zeros((0, len(FEATURES))), settled=settled)
    ruled.gold, ruled.detail = np.zeros(0, bool), np.zeros(0, bool)
    cal = fit(cases + [ruled])
    assert outcome(cal, ruled, probabilities(cal, ruled)) == settled
    assert not outcome(cal, dataclasses.replace(ruled, settled=None), probabilities(cal, ruled))["all_gold"]


def test_a_question_naming_two_reports_each_with_a_sentence_on_it_is_answered():
    rng = np.random.default_rng(3)
    cal = dataclasses.replace(fit([_case(i, i % 3 != 0, rng) for i in range(60)]), reports_threshold=0.5)
    p = np.array([0.6, 0.55, 0.1])
    detail, docs, parts = np.ones(3, bool), ["a", "b", "c"], np.zeros((3, 0))
    reports = np.array([[True, False], [False, True], [False, False]])  # from Fortune, from The Age
    low = cal.answer_threshold / 2  # the question model alone would refuse
    assert select(p, detail, docs, parts, low, cal.answer_threshold, cal, reports=reports)
    # One report without such a sentence, one report named, or the rule off: refused.
    weak = np.array([0.6, 0.3, 0.1])
    assert not select(weak, detail, docs, parts, low, cal.answer_threshold, cal, reports=reports)
    assert not select(p, detail, docs, parts, low, cal.answer_threshold, cal, reports=reports[:, :1])
    never = dataclasses.replace(cal, reports_threshold=NEVER)
    assert not select(p, detail, docs, parts, low, cal.answer_threshold, never, reports=reports)
    # The sentence must hold the asked detail.
    assert not select(
        p, np.array([True, False, True]), docs, parts, low, cal.answer_threshold, cal, reports=reports
    )


def _reports_case(i: int, answerable: bool, rng) -> Case:
    """A question naming two reports, with two fairly clear sentences: answerable when one comes
    from each report, must-refuse when both come from the first (the question model cannot tell
    the two apart)."""
    case = _case(i, False, rng)
    case.answerable = answerable
    case.x[0, 0] += 1.5
    case.x[1, 0] += 1.5
    case.reports = np.zeros((10, 2), bool)
    case.reports[0, 0] = case.reports[1, 1 if answerable else 0] = True
    case.gold[:2] = answerable
    case.gold_groups = [{0}, {1}] if answerable else []
    case.docs = [f"d{k}" for k in range(10)]
    return case


def test_the_reports_threshold_is_fitted_when_the_data_ask_for_it():
    rng = np.random.default_rng(4)
    plain = [_case(i, i % 3 != 0, rng) for i in range(60)]
    named = [_reports_case(100 + i, i % 2 == 0, rng) for i in range(40)]
    cal = fit(plain + named)
    assert cal.reports_threshold < NEVER
    answered = [not outcome(cal, c, probabilities(cal, c))["refused"] for c in named]
    assert sum(a for a, c in zip(answered, named) if c.answerable) >= 0.9 * 20
    assert sum(a for a, c in zip(answered, named) if not c.answerable) <= 0.1 * 20
    # Without named reports the same data leave the rule off.
    assert fit(plain).reports_threshold == NEVER


def test_holding_a_calibration_fits_only_the_reports_threshold():
    rng = np.random.default_rng(5)
    plain = [_case(i, i % 3 != 0, rng) for i in range(60)]
    named = [_reports_case(100 + i, i % 2 == 0, rng) for i in range(40)]
    held = dataclasses.replace(fit(plain), answer_threshold=0.99)  # a strict one: the rule can help
    cal = fit(plain + named, hold=held)
    assert cal.reports_threshold < NEVER
    assert dataclasses.replace(cal, reports_threshold=NEVER) == held

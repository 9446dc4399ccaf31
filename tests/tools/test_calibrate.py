"""bot/tools/calibrate.py: the sentence model and thresholds are fitted from data, not set by hand."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bot.answering.scoring import FEATURES, load_calibration
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

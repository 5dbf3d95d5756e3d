"""The promotion gate's pieces: holds, the champion's own record, drift checks, levels."""

from __future__ import annotations

import numpy as np
import pytest

from bnpipe import gate, registry, stats
from bnpipe.catalog import CatalogError, parse_entry


def decision(**over) -> registry.Decision:
    fields = {
        "model_name": "bnpipe-toy",
        "promoted": True,
        "reason": "challenger better",
        "metric": "test_rmse",
        "challenger_run_id": "r1",
        "challenger_variant": "bn",
        "challenger_score": 3.0,
    }
    return registry.Decision(**(fields | over))


def test_a_decision_without_holds_is_promoted_or_kept():
    assert decision().outcome == "promoted" and decision().promotion_tag() == "promoted"
    kept = decision(promoted=False)
    assert kept.outcome == "kept" and kept.to_dict()["outcome"] == "kept"


def test_holding_a_decision_stops_the_promotion_and_says_why():
    held = registry.hold(decision(), ["drift above the block level: column 'rm': PSI 4 > 1"])
    assert held.promoted is False and held.outcome == "held"
    assert held.promotion_tag() == "held: drift above the block level: column 'rm': PSI 4 > 1"
    assert registry.hold(decision(), []).outcome == "promoted"  # no reasons, no hold


@pytest.mark.parametrize(
    ("metric", "score", "held"),
    [
        ("test_rmse", 4.9, False),  # inside 3.5..5.0
        ("test_rmse", 5.2, True),  # worse than its record
        ("test_rmse", 2.0, False),  # better than its record is no reason to hold
        ("test_accuracy", 0.70, True),  # higher is better: below 0.8..0.95
        ("test_accuracy", 0.99, False),
    ],
)
def test_a_champion_off_its_own_record_is_a_hold_reason(metric, score, held):
    tags = (
        {"score_ci_low": "3.5", "score_ci_high": "5.0"}
        if metric == "test_rmse"
        else {"score_ci_low": "0.8", "score_ci_high": "0.95"}
    )
    reason = registry.off_its_record(tags, score, metric, "4")
    assert (reason is not None) is held
    if held:
        assert reason.startswith(f"champion v4 scores {metric}=")
        assert "outside its own recorded 95% interval" in reason


def test_a_champion_without_a_record_is_not_held_for_it():
    assert registry.off_its_record({}, 9.9, "test_rmse", "1") is None
    assert (
        registry.off_its_record({"score_ci_low": "x", "score_ci_high": "1"}, 9.9, "test_rmse", "1")
        is None
    )
    assert (
        registry.off_its_record({"score_ci_low": "1", "score_ci_high": "2"}, None, "test_rmse", "1")
        is None
    )


def test_score_interval_brackets_the_score_and_narrows_with_rows():
    rng = np.random.default_rng(0)
    y = rng.normal(size=400)
    pred = y + rng.normal(scale=0.5, size=400)
    rmse = float(np.sqrt(np.mean((pred - y) ** 2)))
    lo, hi = stats.score_interval("regression", y, pred, metric="test_rmse")
    assert lo < rmse < hi and hi - lo < 0.15
    lo_few, hi_few = stats.score_interval("regression", y[:25], pred[:25], metric="test_rmse")
    assert hi_few - lo_few > hi - lo
    nan = stats.score_interval("regression", y, np.full(400, np.nan), metric="test_rmse")
    assert all(np.isnan(nan))


def test_score_interval_for_log_loss():
    y = np.array([0, 1, 2] * 10)
    proba = np.full((30, 3), 0.1)
    proba[np.arange(30), y] = 0.8
    lo, hi = stats.score_interval("classification", y, proba, metric="test_log_loss")
    assert lo == pytest.approx(-np.log(0.8)) and hi == pytest.approx(-np.log(0.8))


class FakeReport:
    def __init__(self, level, reasons=()):
        self.level, self._reasons = level, list(reasons)

    def reasons(self):
        return self._reasons


def test_drift_check_outcomes():
    first = gate.DriftCheck(None, None)
    assert first.tag() == "none (no champion yet)" and first.hold_reasons() == []
    missing = gate.DriftCheck("3", None)
    assert missing.tag() == "unknown (no reference)"
    assert missing.hold_reasons() == [missing.missing]
    assert "champion v3 has no data profile" in missing.missing
    ok = gate.DriftCheck("3", {"version": 1}, FakeReport("warn", ["x"]))
    assert ok.tag() == "warn" and ok.hold_reasons() == []
    reasons = ["column 'rm': PSI 4 > 1", "column 'b': PSI 2 > 1"]
    block = gate.DriftCheck("3", {"version": 1}, FakeReport("block", reasons))
    assert block.hold_reasons() == [
        "drift above the block level: column 'rm': PSI 4 > 1; column 'b': PSI 2 > 1"
    ]


ENTRY = {"url": "https://example.com/t.csv", "task": "regression", "target": "y", "features": ["a"]}


def test_catalog_drift_levels_override_the_defaults():
    spec = parse_entry("toy", {**ENTRY, "drift": {"block": 2, "relation_block": 0.5}})
    assert spec.drift == {"block": 2.0, "relation_block": 0.5}
    assert parse_entry("toy", ENTRY).drift == {}


@pytest.mark.parametrize(
    "drift",
    [
        {"blok": 1.0},
        {"block": -1},
        {"block": "high"},
        {"warn": 2.0, "block": 1.0},
        [1, 2],
        {"warn": True},
    ],
)
def test_catalog_rejects_bad_drift_levels(drift):
    with pytest.raises(CatalogError, match="dataset 'toy': field 'drift"):
        parse_entry("toy", {**ENTRY, "drift": drift})

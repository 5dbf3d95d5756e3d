"""bnpipe.results: a comparison's outcome as typed data, its JSON form (``result.json``,
what a run with the same key shows again) and what Prefect needs of it (pickling)."""

from __future__ import annotations

import dataclasses
import json
import pickle

import numpy as np

from bnpipe import reuse
from bnpipe.comparison import SeedResult, summarize_results
from bnpipe.registry import Decision
from bnpipe.results import ComparisonResult, Reused, decision_from_dict, format_result


def a_result() -> ComparisonResult:
    results = [
        SeedResult(v, s, {"loss": [1.0]}, {"test_accuracy": a, "test_log_loss": 1 - a,
                   "test_macro_f1": a}, np.zeros((1, 3)), 0.1)
        for v, accs in (("plain", [0.9, 0.8, 0.85]), ("bn", [0.95, 0.9, float("nan")]))
        for s, a in enumerate(accs)
    ]  # fmt: skip
    summary = summarize_results("iris", "classification", results, n_boot=200)
    decision = Decision(
        "bnpipe-iris", True, "beats the champion", summary.primary, "r7", "bn", 0.1,
        version="2", previous_champion="1", interval={"mean": -0.02},
    )  # fmt: skip
    return ComparisonResult(
        dataset="iris",
        task="classification",
        run_id="parent1",
        experiment_id="4",
        data_sha256="cd" * 32,
        data_source="mirror",
        seeds=3,
        primary_metric=summary.primary,
        winner=summary.winner,
        summaries=summary.summaries,
        differences=summary.intervals,
        diverged=tuple(summary.diverged),
        promotion=decision,
        outcome=decision.outcome,
        drift="ok",
        references={"baseline": {"test_accuracy": 0.33}, "linear": {"test_accuracy": 0.9}},
        verdicts={"bn_vs_baseline": "better"},
        headline="iris: bn beats the baseline",
        links={"parent": "http://127.0.0.1:5000/#/experiments/4/runs/parent1"},
    )


def test_the_json_form_gives_back_the_same_result_without_its_links():
    result = a_result()
    data = json.loads(json.dumps(result.to_dict()))
    assert "links" not in data
    assert data["promotion"]["outcome"] == "promoted"  # as promotion.json has it
    assert data["diverged"] == [["bn", 2]]
    again = ComparisonResult.from_dict(data)
    assert again == dataclasses.replace(result, links={})
    assert again.difference == result.differences[result.primary_metric]
    assert again.diverged_seeds("bn") == 1 and again.diverged_seeds("plain") == 0
    assert format_result(again) == format_result(result)


def test_a_result_pickles_for_prefect():
    result = a_result()
    assert pickle.loads(pickle.dumps(result)) == result


def test_a_decision_comes_back_from_its_dict():
    decision = a_result().promotion
    assert decision_from_dict(decision.to_dict()) == decision


def test_an_unchanged_comparison_is_the_earlier_result_saying_so():
    earlier = ComparisonResult.from_dict(json.loads(json.dumps(a_result().to_dict())))
    out = reuse.unchanged(earlier, "k123", "http://ui/run")
    assert out.outcome == reuse.UNCHANGED and out.run_id == earlier.run_id
    assert out.summaries == earlier.summaries and out.promotion == earlier.promotion
    line = (
        "iris: unchanged since run parent1 (data cdcdcdcdcdcd, same parameters and code): "
        "nothing to retrain"
    )
    assert out.reused == Reused("promoted", "k123", line, f"{line} (http://ui/run)")
    assert ComparisonResult.from_dict(json.loads(json.dumps(out.to_dict()))) == out

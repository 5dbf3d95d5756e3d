"""bnpipe.results: a comparison's outcome as typed data, its JSON form (``result.json``,
what a run with the same key shows again) and what Prefect needs of it (pickling)."""

from __future__ import annotations

import dataclasses
import json
import pickle

from bnpipe import reuse
from bnpipe.results import ComparisonResult, Reused, decision_from_dict, format_result
from tests.comparisons import a_result


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

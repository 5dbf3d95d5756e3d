"""tasks.references.compare_with_references on iris's real rows and scored seeds."""

from __future__ import annotations

import pytest

from bnpipe import references
from bnpipe.comparison import summarize_results
from tests.comparisons import iris, seed_results


@pytest.fixture(scope="module")
def comparison(data_mirror):
    spec, _, data = iris(data_mirror)
    results = seed_results(data, seeds=3, bn_skill=0.999)  # bn all but perfect
    return spec, data, results, summarize_results(spec.name, spec.task, results, n_boot=200)


def test_the_references_are_logged_and_judged_on_the_parent_run(comparison, open_run):
    from bnpipe.tasks.references import compare_with_references

    spec, data, results, summary = comparison
    parent = open_run("bn-comparison-iris")
    refs, verdicts, headline = compare_with_references.fn(parent, spec, data, results, summary)

    assert set(verdicts) == set(references.VERDICT_KEYS)
    assert verdicts["bn_vs_baseline"] == "better"  # the prior is far behind a near-perfect bn
    assert headline is None or "linear model" in headline
    run = parent.client.get_run(parent.run_id)
    assert run.data.metrics["baseline_test_log_loss"] == pytest.approx(
        refs.baseline_metrics["test_log_loss"]
    )
    assert "linear_test_accuracy" in run.data.metrics
    assert {k: run.data.tags[k] for k in references.VERDICT_KEYS} == verdicts

"""The leader rule on real training: a model is chosen on the validation rows and
judged on the test rows, and a network no better than the prior never becomes
champion. iris on raw inputs after 5 epochs: one seed of plain lands at a test log
loss of ~0.99 against the prior's 1.099, the other at ~1.33 (accuracy near chance);
judged by its best seed on the rows that picked it, plain was promoted on every split."""

from __future__ import annotations

import pandas as pd
import pytest

from bnpipe import features, jobs, references
from bnpipe.catalog import get_spec, load_catalog
from bnpipe.comparison import summarize_results
from bnpipe.params import RunConfig
from bnpipe.registry import hold_reasons
from tests.comparisons import REPO

pytestmark = pytest.mark.slow


def gate(spec, frame, config: RunConfig, models_dir) -> tuple[list[str], str]:
    """The first version's holds (no champion yet) and how its model was chosen:
    train, score, summarise, judge against the references, as bn-comparison does."""
    data = features.encode(frame, spec, split_seed=config.split_seed, scaling="none")
    results = []
    for variant in ("plain", "bn"):
        trained = jobs.train(jobs.make_job(spec, data, config, variant))  # in this process
        results += jobs.seed_results(trained, spec.task, variant, data, models_dir)
    summary = summarize_results(spec.name, spec.task, results, n_boot=200)
    _, verdicts, headline = references.assess(spec.name, data, results, summary)
    holds = hold_reasons(
        promote=True, champion=None, champion_score=None, metric=summary.primary,
        variant=summary.leader(), verdicts=verdicts, headline=headline,
    )  # fmt: skip
    return holds, summary.choice(results, val_rows=len(data.x_val), test_rows=len(data.x_test))


def test_a_network_no_better_than_the_prior_is_never_promoted(data_mirror, tmp_path):
    spec = get_spec(load_catalog(REPO / "datasets.yaml"), "iris")
    frame = pd.read_csv(data_mirror / "iris.csv")
    promoted = []
    for split_seed in range(20):
        config = RunConfig(epochs=5, seeds=2, split_seed=split_seed).resolve(spec)
        holds, chosen = gate(spec, frame, config, tmp_path)
        assert chosen.startswith("leader: ") and chosen.endswith("judged on the 24 test rows")
        assert "chosen on the 24 validation rows by val_log_loss" in chosen, chosen
        if not holds:
            promoted.append(split_seed)
        else:
            assert holds == [
                "iris: no variant beats predicting the class prior (test_log_loss 1.1)"
            ]
    assert promoted == []

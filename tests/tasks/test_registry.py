"""tasks.registry.register_best on a tiny dataset's logged models: the first
version becomes champion; the same model again scores like the champion (on the
Dask worker) and is kept; a comparison whose every seed diverged registers nothing."""

from __future__ import annotations

import dataclasses
import json

import pytest
from prefect.logging import disable_run_logger

from bnpipe import jobs, registry
from bnpipe.comparison import summarize_results
from bnpipe.params import RunConfig
from bnpipe.settings import load_settings
from bnpipe.tasks import training
from bnpipe.tasks.registry import register_best
from bnpipe.tasks.tracking import log_seed_runs
from tests import comparisons

pytestmark = pytest.mark.slow  # trains, logs and registers models, scores one on Dask

CONFIG = RunConfig(epochs=2, seeds=2, input_scaling="standard")
BETTER = {"plain_vs_baseline": "better", "bn_vs_baseline": "better"}


@pytest.fixture(scope="module")
def trained(tiny, dask, tmp_path_factory):
    """(spec, data, seed results not logged yet): both variants trained on the cluster."""
    spec, frame = tiny
    spec = dataclasses.replace(spec, name="tinyreg")  # a registered model of its own
    models = tmp_path_factory.mktemp("models")
    with disable_run_logger():
        data = training.encode_dataset.fn(frame, spec, CONFIG)
        results = []
        for variant in ("plain", "bn"):
            out = training.train_variant.fn(dask, jobs.make_job(spec, data, CONFIG, variant))
            results += jobs.seed_results(out, spec.task, variant, data, models)
    return spec, data, results


def _settings(store, tmp_path):
    return dataclasses.replace(load_settings(), tracking_uri=store, state_dir=tmp_path / "state")


def _register(parent, spec, data, results, settings, dask):
    with disable_run_logger():
        logged = log_seed_runs.fn(parent, results, data, CONFIG, 0.001, "0" * 64)
        summary = summarize_results(spec.name, spec.task, logged, n_boot=200)
        judged = comparisons.judged(parent, spec, data, logged, summary, settings, verdicts=BETTER)
        return register_best.fn(judged, dask)


def _tags(parent) -> dict:
    return parent.client.get_run(parent.run_id).data.tags


def test_the_first_version_is_champion_and_the_same_model_again_is_kept(
    trained, store, parent, prefect_api, dask, tmp_path
):
    spec, data, results = trained
    settings = _settings(store, tmp_path)
    first = _register(parent, spec, data, [dataclasses.replace(r) for r in results], settings, dask)
    assert (first.outcome, first.version, first.previous_champion) == ("promoted", "1", None)
    assert first.reason == "first version: no champion yet"
    assert _tags(parent)["promotion"] == "promoted"
    assert (_tags(parent)["registered_version"], _tags(parent)["champion_version"]) == ("1", "1")
    local = parent.client.download_artifacts(parent.run_id, "promotion.json", str(tmp_path))
    with open(local, encoding="utf-8") as fh:
        assert json.load(fh)["outcome"] == "promoted"
    v1 = parent.client.get_model_version("bnpipe-tinyreg", "1")
    assert v1.tags["parent_run_id"] == parent.run_id and v1.tags["dataset"] == "tinyreg"
    assert float(v1.tags["score_ci_low"]) <= float(v1.tags["score"])

    # the same seeds again: the champion (v1, scored on a worker) is the same model
    again = _register(parent, spec, data, [dataclasses.replace(r) for r in results], settings, dask)
    assert (again.outcome, again.version, again.previous_champion) == ("kept", "2", "1")
    assert again.champion_score == pytest.approx(again.challenger_score, rel=1e-5)
    assert "not better beyond zero" in again.reason
    assert (_tags(parent)["registered_version"], _tags(parent)["champion_version"]) == ("2", "1")
    champion = registry.current_champion(parent.client, "bnpipe-tinyreg")
    assert str(champion.version) == "1"


def test_nothing_is_registered_when_every_seed_diverged(trained, store, parent, dask, tmp_path):
    spec, data, results = trained
    nan = float("nan")
    broken = [
        dataclasses.replace(r, history={"loss": [nan]}, metrics=dict.fromkeys(r.metrics, nan))
        for r in results
    ]
    summary = summarize_results(spec.name, spec.task, broken, n_boot=200)
    settings = _settings(store, tmp_path)
    with disable_run_logger():
        judged = comparisons.judged(parent, spec, data, broken, summary, settings)
        assert register_best.fn(judged, dask) is None
    assert _tags(parent)["promotion"] == "skipped: no finite model"

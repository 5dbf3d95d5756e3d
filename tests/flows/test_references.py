"""Is the network worth it? A target the features say nothing about, or a network
that has not learnt (iris after 5 epochs on raw inputs): no variant beats the
baseline, nothing becomes champion, the run is held (exit 0, state Held)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from bnpipe.params import RunConfig

pytestmark = pytest.mark.slow


def noise(task: str, n: int = 300, seed: int = 2) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n).round(4) for i in range(4)})
    if task == "regression":
        frame["y"] = rng.normal(50, 10, n).round(3)
    else:
        frame["y"] = rng.choice(["a", "b"], n, p=[0.7, 0.3])
    return frame


@pytest.fixture
def noise_project(env, tmp_path, monkeypatch):
    """Two noise tables, and ``fees``: a total that two of its features add up to."""
    from tests.unit.test_leaks import NUMERIC, sums

    mirror, expectations = tmp_path / "mirror", tmp_path / "expectations"
    mirror.mkdir()
    expectations.mkdir()
    datasets = {}
    tables = {
        "noise-reg": (noise("regression"), "regression", ["x0", "x1", "x2", "x3"]),
        "noise-cls": (noise("classification"), "classification", ["x0", "x1", "x2", "x3"]),
        "fees": (sums(), "regression", NUMERIC),
    }
    for name, (frame, task, features) in tables.items():
        frame.rename(columns={"total": "y"}).to_csv(mirror / f"{name}.csv", index=False)
        datasets[name] = {
            "url": (mirror / f"{name}.csv").as_uri(),
            "task": task,
            "target": "y",
            "features": features,
            "suite": name,
        }
        suite = {"name": name, "expectations": []}
        (expectations / f"{name}.json").write_text(json.dumps(suite), "utf-8")
    (tmp_path / "datasets.yaml").write_text(yaml.safe_dump({"datasets": datasets}), "utf-8")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    for key, value in {
        "MLFLOW_TRACKING_URI": uri,
        "BNPIPE_STATE_DIR": str(tmp_path / "state"),
        "BNPIPE_DATA_MIRROR": str(mirror),
        "BNPIPE_EXPECTATIONS_DIR": str(expectations),
        "BNPIPE_CATALOG": str(tmp_path / "datasets.yaml"),
    }.items():
        monkeypatch.setenv(key, value)
    return uri


def test_a_target_independent_of_the_features_makes_no_champion(noise_project):
    from bnpipe.flows.bn_comparison import bn_comparison

    state = bn_comparison(
        datasets=["noise-reg", "noise-cls"], config=RunConfig(epochs=30, seeds=2), return_state=True
    )
    assert state.is_completed() and state.name == "Held", state
    out = state.result()
    client = MlflowClient(noise_project)
    for name in ("noise-reg", "noise-cls"):
        result = out[name]
        assert result.outcome == "held"
        assert {result.verdicts["plain_vs_baseline"], result.verdicts["bn_vs_baseline"]} <= {
            "tie",
            "worse",
        }
        assert result.headline.startswith(f"{name}: no variant beats predicting the ")
        parent = client.get_run(result.run_id)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["promotion"].startswith("held: ")
        assert parent.data.tags["leak_check"] == "none"
        for key in ("plain_vs_baseline", "bn_vs_baseline", "plain_vs_linear", "bn_vs_linear"):
            assert parent.data.tags[key] in {"better", "tie", "worse"}
        primary = result.primary_metric
        assert f"baseline_{primary}" in parent.data.metrics
        assert f"linear_{primary}" in parent.data.metrics
        with pytest.raises(MlflowException):
            client.get_model_version_by_alias(f"bnpipe-{name}", "champion")
        exp = client.get_experiment_by_name(f"bn-comparison-{name}")
        assert not client.search_runs([exp.experiment_id], "attributes.status = 'RUNNING'")


def test_five_epochs_on_raw_iris_register_no_champion(env, tmp_path, monkeypatch):
    """One plain seed beats the prior's log loss on its rows, the other is far worse:
    the leader is chosen on the validation rows, and neither variant beats the prior."""
    from bnpipe.flows.bn_comparison import bn_comparison

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("BNPIPE_STATE_DIR", str(tmp_path / "state"))
    state = bn_comparison(datasets=["iris"], config=RunConfig(epochs=5, seeds=2), return_state=True)
    assert state.is_completed() and state.name == "Held", state
    result = state.result()["iris"]
    assert result.outcome == "held"
    assert {result.verdicts["plain_vs_baseline"], result.verdicts["bn_vs_baseline"]} <= {
        "tie",
        "worse",
    }
    assert result.headline.startswith("iris: no variant beats predicting the class prior")
    chosen = result.promotion.chosen
    assert chosen.startswith("leader: plain seed ") and "validation rows by val_log_loss" in chosen
    client = MlflowClient(uri)
    parent = client.get_run(result.run_id)
    assert parent.data.tags["promotion"].startswith("held: iris: no variant beats")
    assert parent.data.tags["registered_version"] == "1"
    assert parent.data.tags["leak_check"] == "none"
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("bnpipe-iris", "champion")
    children = client.search_runs(
        [parent.info.experiment_id], f"tags.mlflow.parentRunId = '{result.run_id}'"
    )
    assert len(children) == 4
    assert all({"val_log_loss", "val_accuracy"} <= set(c.data.metrics) for c in children)


def test_a_run_on_features_that_sum_to_the_target_is_held_naming_them(noise_project):
    """The networks learn it and the ridge reference looks perfect on it: the leak
    alone holds the run, naming the columns; nothing becomes champion."""
    from bnpipe.flows.bn_comparison import bn_comparison

    config = RunConfig(epochs=30, seeds=2, input_scaling="standard", target_scaling="standard")
    state = bn_comparison(datasets=["fees"], config=config, return_state=True)
    assert state.is_completed() and state.name == "Held", state
    result = state.result()["fees"]
    assert result.outcome == "held"
    assert "better" in {result.verdicts["plain_vs_baseline"], result.verdicts["bn_vs_baseline"]}
    [reason] = result.promotion.holds  # the networks beat the baseline: the leak alone holds it
    assert reason.split(" (")[0] in {
        "possible target leak: base_fee, extras",
        "possible target leak: extras, base_fee",
    }
    assert result.references["linear"]["test_r2"] > 0.999
    client = MlflowClient(noise_project)
    parent = client.get_run(result.run_id)
    assert (
        parent.data.tags["promotion"].startswith("held: ")
        and "base_fee" in parent.data.tags["promotion"]
    )
    assert parent.data.tags["leak_check"] == reason
    with pytest.raises(MlflowException):
        client.get_model_version_by_alias("bnpipe-fees", "champion")

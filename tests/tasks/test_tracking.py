"""tasks.tracking: the parent run opened with the contract's tags and params, a
killed process's RUNNING run ended on the way, and one child run per seed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bnpipe import ingest, tracking
from bnpipe.params import RunConfig
from bnpipe.tasks.tracking import log_seed_runs, open_parent_run
from tests.comparisons import iris, seed_results
from tests.contract import CHILD_PARAMS, PARENT_TAGS, TEST_METRICS


def test_the_parent_run_carries_the_lineage_and_ends_a_stale_run(settings, data_mirror):
    spec, _, _ = iris(data_mirror)
    snap = ingest.DataCache(settings.cache_dir).store(
        spec.name, spec.url, (data_mirror / "iris.csv").read_bytes()
    )
    config = RunConfig(epochs=3, seeds=2)
    first = open_parent_run.fn(spec, config, settings, snap=snap, key="k" * 16)
    # a process killed with its run RUNNING: the next open ends it (its pid is not alive)
    first.client.set_tag(first.run_id, tracking.OWNER_PID_TAG, "999999999")
    second = open_parent_run.fn(spec, config, settings, snap=snap)

    run = first.client.get_run(first.run_id)
    assert run.info.status == "KILLED"
    assert PARENT_TAGS - {"winner"} <= set(run.data.tags)
    assert run.data.tags["data_sha256"] == snap.sha256 and run.data.tags["dataset"] == "iris"
    assert run.data.params["epochs"] == "3" and run.data.params["seeds"] == "2"
    # the runs table says what each comparison trained, not only the flow run's name
    assert run.info.run_name == "iris, 3 epochs, 2 seeds (local)"
    # and has a saved view with the primary metric and the winner as columns
    tags = first.client.get_experiment(first.experiment_id).tags
    view = json.loads(tags["mlflow.sharedViewState.bnpipe-comparison"])
    assert "metrics.`test_log_loss`" in json.loads(view["state"])["selectedColumns"]
    assert second.client.get_run(second.run_id).info.status == "RUNNING"
    second.end()


def test_a_parent_run_name_says_dataset_epochs_and_seeds():
    assert tracking.parent_run_name("boston", 1000, 5, "crimson-beaver") == (
        "boston, 1000 epochs, 5 seeds (crimson-beaver)"
    )
    assert tracking.parent_run_name("iris", 1, 1) == "iris, 1 epoch, 1 seed (local)"


@pytest.mark.slow
def test_one_child_run_per_seed_with_the_contracts_params_and_metrics(open_run, data_mirror):
    spec, _, data = iris(data_mirror)
    parent = open_run(tracking.experiment_name(spec.name))
    results = seed_results(data, seeds=2)
    config = RunConfig(epochs=2, seeds=2)
    logged = log_seed_runs.fn(parent, results, data, config, 0.001, "ab" * 32)
    assert all(r.run_id and r.model_uri for r in logged)
    for r in logged:
        child = parent.client.get_run(r.run_id)
        assert child.data.tags["mlflow.parentRunId"] == parent.run_id
        assert set(child.data.params) >= CHILD_PARAMS
        assert child.data.params["variant"] == r.variant and child.data.params["seed"] == str(
            r.seed
        )
        assert TEST_METRICS["classification"] <= set(child.data.metrics)
    assert parent.client.get_run(parent.run_id).data.params["learning_rate"] == "0.001"
    parent.end()


@pytest.mark.slow
def test_each_logged_model_is_named_by_its_seed_and_carries_its_final_and_test_metrics(
    open_run, data_mirror
):
    spec, frame, data = iris(data_mirror)
    parent = open_run(tracking.experiment_name(spec.name))
    parent.log_dataset(tracking.dataset_entity("iris", frame, sha256="cd" * 32, url="file:/x"))
    results = seed_results(data, seeds=1)
    for r in results:  # a curve whose first epoch is far from its last, as in the issue
        r.history = {"loss": [27426.0, 80.0, 29.06], "val_loss": [30000.0, 90.0, 31.5]}
    log_seed_runs.fn(parent, results, data, RunConfig(epochs=3, seeds=1), 0.001, "ab" * 32)
    client = parent.client
    for r in results:
        run = client.get_run(r.run_id)
        [output] = run.outputs.model_outputs
        model = client.get_logged_model(output.model_id)
        assert model.name == f"{r.variant}-seed{r.seed}"  # not every one "model"
        assert r.model_uri == f"models:/{model.model_id}"  # what the registry registers
        linked = {}
        for m in model.metrics:
            assert m.key not in linked, f"{m.key} linked twice"
            linked[m.key] = m
        assert set(linked) == {"loss", "val_loss", *r.metrics, *r.val_metrics}
        assert (linked["loss"].value, linked["loss"].step) == (29.06, 2)  # the last epoch's
        assert (linked["val_loss"].value, linked["val_loss"].dataset_name) == (
            31.5,
            "iris-validation",
        )
        inputs = {d.dataset.name: d for d in run.inputs.dataset_inputs}
        context = {n: [t.value for t in d.tags if t.key == "mlflow.data.context"] for n, d in
                   inputs.items()}  # fmt: skip
        assert context == {"iris": ["training"], "iris-validation": ["validation"],
                           "iris-test": ["test"]}  # fmt: skip
        test_rows = inputs["iris-test"].dataset
        assert json.loads(test_rows.profile)["num_rows"] == len(data.split.test)
        for key, value in r.metrics.items():
            assert linked[key].value == pytest.approx(value)
            assert (linked[key].dataset_name, linked[key].dataset_digest) == (
                "iris-test",
                test_rows.digest,
            )
            # the run keeps one point per test metric: the model's link is the same point
            assert len(client.get_metric_history(r.run_id, key)) == 1
        for key in r.val_metrics:
            assert linked[key].dataset_name == "iris-validation"
    # the seed's model loads by the run and its name, as `runs:/<run>/<name>`
    from mlflow.artifacts import download_artifacts

    first = results[0]
    name = f"{first.variant}-seed{first.seed}"
    local = download_artifacts(f"runs:/{first.run_id}/{name}", tracking_uri=parent.tracking_uri)
    assert (Path(local) / "MLmodel").is_file()
    parent.end()

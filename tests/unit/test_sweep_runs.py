"""bnpipe.sweep.runs: what makes a cell complete, what a copy keeps, and a cell run
that fails half-way (a SQLite store under tmp_path; seed runs without models)."""

from __future__ import annotations

import pytest

from bnpipe import sweep, tracking
from bnpipe.params import RunConfig
from bnpipe.sweep import runs as sweep_runs
from bnpipe.tracking import ParentRun
from tests.comparisons import iris, seed_result

CONFIG = RunConfig(epochs=2, seeds=1)
[CELL] = sweep.cells({"learning_rate": [0.01]})


@pytest.fixture
def sweep_run(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.connect(uri)
    name = sweep_runs.experiment_name("iris")
    root = tracking.artifact_root_for(uri, tmp_path / "mlartifacts")  # beside the store
    exp_id = tracking.ensure_experiment(client, name, f"{root}/{name}")
    return ParentRun(uri, exp_id, tracking.start_run(client, exp_id, run_name="s", tags={}))


@pytest.fixture(scope="module")
def data(data_mirror):
    return iris(data_mirror)[::2]  # spec, encoded


def test_cell_params_are_the_cells_values_and_the_shared_parameters():
    params = sweep_runs.cell_params(CONFIG, CELL, 0.01, "ab" * 32)
    assert params["learning_rate"] == 0.01 and params["seeds"] == 1
    assert params["data_sha256"] == "ab" * 32
    assert set(CELL.params()) <= set(params)


def test_only_finished_cells_with_their_record_are_complete(sweep_run, data):
    spec, encoded = data
    results = [seed_result(encoded, v, 0, skill=0.8, model_path=None) for v in ("plain", "bn")]
    for r in results:  # as a diverged seed: no model to log
        r.metrics = {k: float("nan") for k in r.metrics}
    run = sweep_runs.open_cell_run(sweep_run, CELL, "key1", CONFIG, "s")
    assert run.client.get_run(run.run_id).info.status == "RUNNING"
    record = sweep_runs.keep_cell(run, CELL, "key1", results, spec.task)
    client = sweep_run.client
    assert client.get_run(run.run_id).info.status == "FINISHED"  # complete once kept
    bare = tracking.start_run(  # a cell run without cell.json (pruned), and one still running
        client, sweep_run.experiment_id, run_name="x", tags={"kind": "cell", "cell_key": "key2"}
    )
    tracking.end_run(client, bare)
    tracking.start_run(
        client, sweep_run.experiment_id, run_name="y", tags={"kind": "cell", "cell_key": "key3"}
    )
    wanted = {"a": "key1", "b": "key2", "c": "key3"}
    assert sweep_runs.find_complete_cells(sweep_run, wanted) == {"key1": record["run_id"]}
    assert sweep_runs.find_complete_cells(sweep_run, {}) == {}
    assert sweep_runs.read_record(client, record["run_id"])["key"] == "key1"

    tracking.log_metrics(client, record["run_id"], {"bn_minus_plain_test_log_loss_p_adjusted": 0.5})
    copy = sweep_runs.copy_cell(sweep_run, CELL, "key1", record["run_id"])
    copied = client.get_run(copy["run_id"])
    assert copied.data.tags["reused_from"] == record["run_id"]
    assert not any("p_adjusted" in k for k in copied.data.metrics)  # adjusted anew
    assert copied.data.params == client.get_run(record["run_id"]).data.params


def test_a_cell_that_fails_ends_its_runs_failed_and_raises(sweep_run, data):
    """The chain's guard (bnpipe.tasks.runs.closing) ends a cell run that fails
    while its seed runs are logged, and the seed runs under it, FAILED."""
    from prefect.logging import disable_run_logger

    from bnpipe.tasks.runs import closing

    spec, encoded = data
    missing = seed_result(encoded, "plain", 0, skill=0.8, model_path=None)
    missing.model_path = "/nonexistent/model.keras"  # the best seed's model is gone
    with disable_run_logger(), pytest.raises(Exception), closing("iris/cell") as guard:  # noqa: B017, PT012
        run = guard.open(sweep_runs.open_cell_run(sweep_run, CELL, "k", CONFIG, "s"))
        tracking.log_child_run(
            run.client, run.experiment_id, run.run_id, variant="plain", seed=0, params={},
            history=missing.history, metrics=missing.metrics, model_path=missing.model_path,
            preprocessor=encoded.pre,
        )  # fmt: skip
    runs = sweep_run.client.search_runs([sweep_run.experiment_id], "tags.kind = 'cell'")
    assert [r.info.status for r in runs] == ["FAILED"]
    seeds = sweep_run.client.search_runs(
        [sweep_run.experiment_id], f"tags.mlflow.parentRunId = '{runs[0].info.run_id}'"
    )
    assert [r.info.status for r in seeds] == ["FAILED"]

"""tasks.sweeps: a sweep's MLflow side, task by task, as bn-sweep calls them: a
first sweep logs a trained cell, a second reuses it beside a newly trained one,
judges both and publishes its report (a SQLite store under tmp_path)."""

from __future__ import annotations

import pytest

from bnpipe import ingest, sweep
from bnpipe.evaluation import primary_metric
from bnpipe.params import RunConfig
from bnpipe.tasks import sweeps
from bnpipe.tasks.tracking import log_seed_runs
from tests.comparisons import iris, seed_results

pytestmark = pytest.mark.slow  # logs four Keras models, draws two plots

GRID = {"learning_rate": [0.001, 0.01]}
CONFIG = RunConfig(epochs=2, seeds=2)


def test_a_sweep_logs_reuses_judges_and_reports_its_cells(settings, data_mirror, dead_prefect_api):
    spec, _, data = iris(data_mirror)
    snap = ingest.DataCache(settings.cache_dir).store(
        "iris", spec.url, (data_mirror / "iris.csv").read_bytes()
    )
    cells = sweep.cells(GRID)
    keys = {
        c.label: sweeps.cell_key(spec, snap, c.config(CONFIG).resolve(spec), settings)
        for c in cells
    }
    assert len(set(keys.values())) == 2

    first = sweeps.open_sweep_run.fn(spec, GRID, CONFIG, "holm", settings)
    run = first.client.get_run(first.run_id)
    assert run.info.run_name == "iris-sweep-local" and run.data.tags["kind"] == "sweep"
    assert run.data.tags["git_commit"] != "" and run.data.params["cells"] == "2"
    assert run.info.experiment_id == first.experiment_id
    assert first.client.get_experiment(first.experiment_id).name == "bn-sweep-iris"
    assert sweeps.find_complete_cells.fn(first, keys) == {}

    def log_cell(sweep_run, cell, learning_rate):
        """A trained cell as the chain logs it: its run, its seed runs, its record."""
        config = cell.config(CONFIG).resolve(spec)
        run = sweeps.open_cell_run.fn(sweep_run, cell, keys[cell.label], config, snap.sha256)
        results = log_seed_runs.fn(
            run, seed_results(data, seeds=2), data, config, learning_rate, snap.sha256,
            snapshot_on=sweep_run, best_models_by=primary_metric(spec.task),
        )  # fmt: skip
        record = sweeps.keep_cell.fn(run, cell, keys[cell.label], results, spec.task)
        return record, results

    a, b = cells
    record, results = log_cell(first, a, 0.001)
    assert record["cell"] == a.label and record["key"] == keys[a.label]
    assert sum(r.model_uri is not None for r in results) == 2  # each variant's best seed
    cell_run = first.client.get_run(record["run_id"])
    assert cell_run.data.tags["mlflow.parentRunId"] == first.run_id
    assert cell_run.info.status == "FINISHED" and cell_run.data.params["learning_rate"] == "0.001"
    first.end()

    second = sweeps.open_sweep_run.fn(spec, GRID, CONFIG, "holm", settings)
    done = sweeps.find_complete_cells.fn(second, keys)
    assert done == {keys[a.label]: record["run_id"]}
    assert sweeps.best_reused_cell.fn(second, spec, done) == keys[a.label]
    copied = sweeps.reuse_cell.fn(second, a, keys[a.label], record["run_id"])
    assert copied["per_seed"] == record["per_seed"] and copied["run_id"] != record["run_id"]
    assert second.client.get_run(copied["run_id"]).data.tags["reused_from"] == record["run_id"]
    trained, _ = log_cell(second, b, 0.01)

    verdicts = sweeps.finish_cells.fn(second, spec, cells, [copied, trained], "holm")
    assert [v.cell for v in verdicts] == cells
    for v, r in zip(verdicts, (copied, trained), strict=True):
        tags = second.client.get_run(r["run_id"]).data.tags
        assert tags["winner"] == v.winner
    summary, table = sweeps.publish_sweep_report.fn(
        second, spec, GRID, verdicts, snap, CONFIG, "holm", reused=1
    )
    top = second.client.get_run(second.run_id)
    assert top.data.tags["summary"] == summary and top.data.tags["cells_reused"] == "1"
    assert table.count("\n|") >= len(cells)  # a markdown row per cell, for the flow run
    files = {f.path for f in second.client.list_artifacts(second.run_id)}
    assert {"sweep.md", "sweep.html", "forest.png"} <= files

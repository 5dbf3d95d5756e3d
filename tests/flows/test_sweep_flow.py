"""The bn-sweep flow writes the sweep layout: one sweep run, a cell run per grid
cell under it, 2 x K seed runs under each cell (the per-seed contract), the
judgement across cells and the report; then reuses complete cells."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from mlflow import MlflowClient

from bnpipe.params import RunConfig
from tests.contract import TEST_METRICS, assert_dataset_input

pytestmark = pytest.mark.slow

GRID = {"learning_rate": [0.001, 0.01], "input_scaling": ["none", "standard"]}
SEEDS, EPOCHS = 3, 30


def sweep_runs(client: MlflowClient, dataset: str):
    exp = client.get_experiment_by_name(f"bn-sweep-{dataset}")
    assert exp is not None
    return client.search_runs([exp.experiment_id], max_results=1000)


def test_a_sweep_writes_the_layout_and_judges_the_cells(env):
    from bnpipe.flows.bn_sweep import bn_sweep

    out = bn_sweep(datasets=["iris"], grid=GRID, config=RunConfig(seeds=SEEDS, epochs=EPOCHS))
    result = out["iris"]
    client = MlflowClient(env["uri"])
    runs = sweep_runs(client, "iris")
    [top] = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    assert top.info.run_id == result["run_id"] and top.info.status == "FINISHED"
    assert json.loads(top.data.params["grid"]) == GRID
    assert top.data.params["seeds"] == str(SEEDS) and top.data.params["correction"] == "holm"
    assert len(top.data.tags["data_sha256"]) == 64
    assert_dataset_input(top, "iris", top.data.tags["data_sha256"])
    artifacts = {a.path for a in client.list_artifacts(top.info.run_id)}
    assert {"forest.png", "heatmap.png", "sweep.md", "sweep.html"} <= artifacts
    assert "Holm" in top.data.tags["mlflow.note.content"]

    cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == top.info.run_id]
    assert len(cells) == 4
    assert {
        (float(c.data.params["learning_rate"]), c.data.params["input_scaling"]) for c in cells
    } == {(lr, s) for lr in GRID["learning_rate"] for s in GRID["input_scaling"]}
    primary = "test_log_loss"
    models = 0
    for cell in cells:
        assert cell.info.status == "FINISHED"
        m = cell.data.metrics
        for variant in ("plain", "bn"):
            for metric in TEST_METRICS["classification"]:
                assert f"{variant}_{metric}_mean" in m and f"{variant}_{metric}_std" in m
        base = f"bn_minus_plain_{primary}"
        assert m[f"{base}_ci_low"] <= m[f"{base}_mean"] <= m[f"{base}_ci_high"]
        assert 0 <= m[f"{base}_p_value"] <= m[f"{base}_p_adjusted"] <= 1  # adjusted: never lower
        assert cell.data.tags["winner"] in {"bn", "plain", "tie"}
        if cell.data.tags["winner"] != "tie":
            assert m[f"{base}_p_adjusted"] < 0.05
        seeds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == cell.info.run_id]
        assert sorted(r.info.run_name for r in seeds) == sorted(
            f"{v}-seed{s}" for v in ("plain", "bn") for s in range(SEEDS)
        )
        for seed_run in seeds:
            assert seed_run.info.status == "FINISHED"
            p = seed_run.data.params
            assert (
                p["epochs"] == str(EPOCHS)
                and p["input_scaling"] == cell.data.params["input_scaling"]
            )
            assert float(p["learning_rate"]) == float(cell.data.params["learning_rate"])
            assert TEST_METRICS["classification"] <= set(seed_run.data.metrics)
            history = client.get_metric_history(seed_run.info.run_id, "val_loss")
            assert sorted(h.step for h in history) == list(range(EPOCHS))
            models += bool(
                client.search_logged_models(
                    [cell.info.experiment_id],
                    filter_string=f"source_run_id = '{seed_run.info.run_id}'",
                )
            )
    assert models == 4 * 2  # each cell's best seed per variant
    swept = {r.info.run_id for r in runs}
    registered = {v.run_id for v in client.search_model_versions("name = 'bnpipe-iris'")}
    assert not swept & registered  # sweeps never register
    assert result["trained"] == 4 and result["reused"] == 0

    # The same sweep again: every cell is complete, nothing trains.
    again = bn_sweep(datasets=["iris"], grid=GRID, config=RunConfig(seeds=SEEDS, epochs=EPOCHS))
    assert again["iris"]["trained"] == 0 and again["iris"]["reused"] == 4
    assert [c["mean"] for c in again["iris"]["cells"]] == [c["mean"] for c in result["cells"]]
    new_cells = [
        r for r in sweep_runs(client, "iris")
        if r.data.tags.get("mlflow.parentRunId") == again["iris"]["run_id"]
    ]  # fmt: skip
    assert len(new_cells) == 4 and all("reused_from" in c.data.tags for c in new_cells)

    # --register-best on the same sweep: the best cell (reused so far) is trained
    # again, and its leader goes through the champion rule of bn-comparison.
    expected_best = min(
        cells,
        key=lambda c: min(c.data.metrics[f"{v}_{primary}_mean"] for v in ("plain", "bn")),
    ).info.run_name
    before = {v.version for v in client.search_model_versions("name = 'bnpipe-iris'")}
    third = bn_sweep(
        datasets=["iris"], grid=GRID, config=RunConfig(seeds=SEEDS, epochs=EPOCHS),
        register_best=True, heatmap=["input_scaling", "learning_rate"],
    )["iris"]  # fmt: skip
    assert third["trained"] == 1 and third["reused"] == 3
    assert third["best_cell"] == expected_best
    versions = [
        v for v in client.search_model_versions("name = 'bnpipe-iris'") if v.version not in before
    ]
    assert len(versions) == 1
    [version] = versions
    assert version.tags["parent_run_id"] == third["run_id"]
    best_run = next(
        r for r in sweep_runs(client, "iris")
        if r.data.tags.get("mlflow.parentRunId") == third["run_id"]
        and r.info.run_name == expected_best
    )  # fmt: skip
    assert "reused_from" not in best_run.data.tags  # trained again, with its seed runs
    seeds = {
        r.info.run_id: r for r in sweep_runs(client, "iris")
        if r.data.tags.get("mlflow.parentRunId") == best_run.info.run_id
    }  # fmt: skip
    assert len(seeds) == 2 * SEEDS and version.run_id in seeds
    assert "baseline_test_accuracy" in best_run.data.metrics  # the baseline, on the cell run
    promotion = third["promotion"]
    assert (
        str(promotion["version"]) == str(version.version)
        and third["outcome"] == promotion["outcome"]
    )
    top = client.get_run(third["run_id"])
    assert top.data.tags["promotion"].startswith(promotion["outcome"])
    assert {"data_profile.json", "promotion.json"} <= {
        a.path for a in client.list_artifacts(third["run_id"])
    }  # the reference the next run's drift check reads
    champion = client.get_model_version_by_alias("bnpipe-iris", "champion")
    assert (str(champion.version) == str(version.version)) == (promotion["outcome"] == "promoted")
    page = client.download_artifacts(third["run_id"], "sweep.html", str(env["tmp"]))
    assert "Heatmap: input_scaling x learning_rate" in Path(page).read_text("utf-8")


def test_a_one_axis_sweep_draws_the_effect_along_it_and_a_dead_cell_is_diverged(env):
    """One grid axis: no heatmap, the effect along the axis instead (and sweep.md says
    why). A cell where every seed diverged is "diverged", not a tie; the sweep ends with
    where its run and report are."""
    from bnpipe.flows.bn_sweep import bn_sweep

    grid = {"learning_rate": [0.001, 1e9]}
    result = bn_sweep(datasets=["boston"], grid=grid, config=RunConfig(seeds=2, epochs=3))["boston"]
    client = MlflowClient(env["uri"])
    top = client.get_run(result["run_id"])
    assert top.info.status == "FINISHED"
    artifacts = {a.path for a in client.list_artifacts(top.info.run_id)}
    assert {"forest.png", "effect.png", "sweep.md"} <= artifacts and "heatmap.png" not in artifacts
    md = client.download_artifacts(top.info.run_id, "sweep.md", str(env["tmp"]))
    assert "one grid axis: the effect is drawn along it" in Path(md).read_text("utf-8")
    winners = {c["cell"]: c["winner"] for c in result["cells"]}
    assert winners["learning_rate=1000000000.0"] == "diverged"
    assert winners["learning_rate=0.001"] in {"bn", "plain", "tie"}
    assert "diverged 1" in result["summary"]
    assert result["metric"] == "test_rmse" and result["task"] == "regression"
    assert result["link"].endswith(f"/runs/{top.info.run_id}?workflowType=machine_learning")
    assert Path(result["report"]).name == "sweep.html" and Path(result["report"]).is_file()


def test_a_sweep_where_every_seed_of_every_cell_diverged_fails(env):
    """As bn-comparison does when every seed diverged: the flow fails (bnpipe sweep
    exits 1), after the sweep run has its report; no cell is called a tie."""
    from bnpipe.comparison import NoFiniteModelError
    from bnpipe.flows.bn_sweep import bn_sweep

    grid = {"learning_rate": [1e9, 1e10]}
    with pytest.raises(NoFiniteModelError, match="boston: every seed of every cell diverged"):
        bn_sweep(datasets=["boston"], grid=grid, config=RunConfig(seeds=2, epochs=2))
    client = MlflowClient(env["uri"])
    runs = sweep_runs(client, "boston")
    [top] = [
        r for r in runs
        if "mlflow.parentRunId" not in r.data.tags and json.loads(r.data.params["grid"]) == grid
    ]  # fmt: skip
    assert top.info.status == "FAILED"
    assert top.data.tags["error"].startswith("NoFiniteModelError: boston: every seed")
    assert "sweep.html" in {a.path for a in client.list_artifacts(top.info.run_id)}
    cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == top.info.run_id]
    assert len(cells) == 2 and {c.data.tags["winner"] for c in cells} == {"diverged"}
    assert all(r.info.status != "RUNNING" for r in runs)

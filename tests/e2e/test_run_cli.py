"""`bnpipe run` as a user runs it, on the real CSVs served over loopback HTTP.

A first run on a fresh store is run as a user runs it: bnpipe starts its temporary
Prefect server and its own local Dask cluster. The other runs here are about
what they train and record, not where: they use the session's Prefect server and
Dask cluster (``shared_env``), except a run of edited code, whose workers must
import that code (its own local cluster, on the session's Prefect server)."""

from __future__ import annotations

import hashlib
import shutil
import subprocess

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.contract import assert_comparison, assert_model_predicts_raw_rows
from tests.e2e.conftest import BNPIPE, REPO

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def bnpipe(*args, env, timeout=900):
    return subprocess.run(
        [str(BNPIPE), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


def test_run_both_datasets_over_http(project_env, shared_env, data_mirror, tmp_path):
    epochs, seeds = 30, 2
    proc = bnpipe(
        "run", "boston", "iris", "--epochs", str(epochs), "--seeds", str(seeds), env=project_env
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert_output_a_person_reads(proc)

    # The final table: one block per dataset, a row per variant, mean ± std, the winner.
    out = proc.stdout
    for dataset, metric in (("boston", "test_rmse"), ("iris", "test_log_loss")):
        assert f"{dataset} (" in out
        assert f"bn - plain {metric}" in out
    assert out.count("winner:") == 2
    table_rows = [
        line
        for line in out.splitlines()
        if line.split()[:1] in (["plain"], ["bn"]) and "bn - plain" not in line
    ]
    assert len(table_rows) == 4 and all("±" in row for row in table_rows)

    client = MlflowClient(project_env["MLFLOW_TRACKING_URI"])
    port = project_env.get("BNPIPE_MLFLOW_PORT") or "5000"
    first_parents = {}
    for dataset, task, target in (
        ("boston", "regression", "medv"),
        ("iris", "classification", "품종"),
    ):
        sha = hashlib.sha256((data_mirror / f"{dataset}.csv").read_bytes()).hexdigest()
        parent, children = assert_comparison(
            client, dataset, task, epochs=epochs, seeds=seeds, sha256=sha
        )
        assert parent.data.tags["source_url"].startswith(project_env["BNPIPE_DATA_MIRROR"])
        assert parent.data.tags["data_source"] == "mirror"
        raw = pd.read_csv(data_mirror / f"{dataset}.csv")
        for child in children:
            assert_model_predicts_raw_rows(
                project_env["MLFLOW_TRACKING_URI"], child, raw, task, target
            )
        assert client.get_model_version_by_alias(f"bnpipe-{dataset}", "champion") is not None
        first_parents[dataset] = parent
        # links into the UI of this SQLite store, once `mlflow ui` serves it (printed first)
        ui = f"http://127.0.0.1:{port}/#/experiments/{parent.info.experiment_id}/runs"
        view = "viewStateShareKey=bnpipe-comparison"  # the saved view: metric and winner
        assert f"  {dataset} runs:    {ui}?{view}&workflowType=machine_learning" in out
        assert f"  {dataset} parent:  {ui}/{parent.info.run_id}?" in out
    store = project_env["MLFLOW_TRACKING_URI"]
    ui_command = f"mlflow ui --backend-store-uri {store} --host 127.0.0.1 --port {port}"
    assert f"{ui_command} --app-name bnpipe" in out  # opens a new browser on the runs

    # The same again: nothing changed, so nothing is trained, logged or registered;
    # the first run's table is printed from its result, with one line saying so.
    runs = {d: len(all_runs(client, d)) for d in ("boston", "iris")}
    versions = {d: registry_versions(client, d) for d in ("boston", "iris")}
    again = bnpipe(
        "run", "boston", "iris", "--epochs", str(epochs), "--seeds", str(seeds), env=shared_env
    )
    assert again.returncode == 0, again.stdout[-3000:] + again.stderr[-3000:]
    for dataset in ("boston", "iris"):
        parent = first_parents[dataset]
        sha = parent.data.tags["data_sha256"]
        assert (
            f"{dataset}: unchanged since run {parent.info.run_id} (data {sha[:12]}, same "
            "parameters and code): nothing to retrain"
        ) in again.stdout
        assert f"MLflow run {parent.info.run_id})" in again.stdout  # that run's table
        assert len(all_runs(client, dataset)) == runs[dataset]
        assert registry_versions(client, dataset) == versions[dataset]
    assert again.stdout.count("winner:") == 2 and "±" in again.stdout

    # A checkout with a local edit is new code: it retrains.
    edited = tmp_path / "edited"  # a wheel's layout: bnpipe with its flows and tasks inside
    skip = shutil.ignore_patterns("__pycache__", "flows", "tasks")  # src/bnpipe's links to them
    shutil.copytree(REPO / "src" / "bnpipe", edited / "bnpipe", ignore=skip)
    for package in ("flows", "tasks"):
        shutil.copytree(
            REPO / package,
            edited / "bnpipe" / package,
            ignore=shutil.ignore_patterns("__pycache__"),
        )
    with (edited / "bnpipe" / "tasks" / "reuse.py").open("a", encoding="utf-8") as f:
        f.write("\n# a local edit\n")
    env = {  # found before the installed bnpipe, by this process and its own Dask workers
        **project_env,
        "PYTHONPATH": str(edited),
        "PREFECT_API_URL": shared_env["PREFECT_API_URL"],
    }
    edit = bnpipe("run", "iris", "--epochs", str(epochs), "--seeds", str(seeds), env=env)
    assert edit.returncode == 0, edit.stdout[-3000:] + edit.stderr[-3000:]
    assert "unchanged since run" not in edit.stdout
    assert len(registry_versions(client, "iris")) == len(versions["iris"]) + 1
    newest = all_runs(client, "iris", parents_only=True)[0]
    assert newest.data.tags["comparison_key"] != first_parents["iris"].data.tags["comparison_key"]


NOISE = (
    "absl::InitializeLog",  # TensorFlow's C++ start-up, on the Dask worker's stderr
    "oneDNN custom operations",
    "for ephemeral docs site",  # GX
    "Creating initial MLflow database tables",
    "Add type hints to the `predict` method",  # MLflow, at every logged model
    "already exists. Creating a new version",  # MLflow's registry on a first version
    "View at http",  # a link to the temporary Prefect server, gone after the run
)


def assert_output_a_person_reads(proc) -> None:
    """A first run on a fresh store: none of the libraries' noise, and each result
    table once (the flow logs one line per comparison; the table ends the output)."""
    both = proc.stdout + proc.stderr
    for noise in NOISE:
        assert noise not in both, f"{noise!r} in the output:\n{both[-4000:]}"
    headers = [line for line in both.splitlines() if line.split()[:2] == ["variant", "test_rmse"]]
    assert len(headers) == 1, both[-4000:]  # boston's table, once


def all_runs(client, dataset: str, parents_only: bool = False) -> list:
    exp = client.get_experiment_by_name(f"bn-comparison-{dataset}")
    runs = client.search_runs(
        [exp.experiment_id], run_view_type=ViewType.ALL, order_by=["attributes.start_time DESC"]
    )
    return [r for r in runs if not parents_only or "mlflow.parentRunId" not in r.data.tags]


def registry_versions(client, dataset: str) -> list[str]:
    return sorted(v.version for v in client.search_model_versions(f"name='bnpipe-{dataset}'"))


def test_dataset_init_runs_a_new_csv_without_code_changes(shared_env, http_mirror, tmp_path):
    """A CSV the catalog does not know: `dataset init` drafts entry and suite, `run` trains it."""
    base_url, served = http_mirror
    rng = np.random.default_rng(0)
    n = 120
    frame = pd.DataFrame(
        {
            "size": rng.uniform(20, 200, n).round(1),
            "rooms": rng.integers(1, 6, n),
            "city": rng.choice(["north", "south", "east"], n),
        }
    )
    frame["price"] = (
        frame["size"] * 3
        + frame["rooms"] * 10
        + frame["city"].map({"north": 50, "south": 0, "east": 20})
        + rng.normal(0, 5, n)
    ).round(2)
    frame.to_csv(served / "flats.csv", index=False)

    proc = bnpipe(
        "dataset",
        "init",
        "flats",
        "--url",
        f"{base_url}/flats.csv",
        "--target",
        "price",
        env=shared_env,
    )
    assert proc.returncode == 0, proc.stderr
    assert "regression" in proc.stdout and "city" in proc.stdout
    catalog = (tmp_path / "datasets.yaml").read_text("utf-8")
    assert "flats:" in catalog and "categorical: [city]" in catalog
    from bnpipe.catalog import load_catalog
    from bnpipe.drift import DEFAULT_LEVELS

    assert load_catalog(tmp_path / "datasets.yaml")["flats"].drift == DEFAULT_LEVELS
    assert (tmp_path / "expectations" / "flats.json").is_file()

    listed = bnpipe("datasets", env=shared_env)
    assert "flats" in listed.stdout

    proc = bnpipe(
        "run",
        "flats",
        "--epochs",
        "5",
        "--seeds",
        "2",
        "--input-scaling",
        "standard",
        env=shared_env,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    client = MlflowClient(shared_env["MLFLOW_TRACKING_URI"])
    _, children = assert_comparison(client, "flats", "regression", epochs=5, seeds=2)
    assert_model_predicts_raw_rows(
        shared_env["MLFLOW_TRACKING_URI"], children[0], frame, "regression", "price"
    )


def test_a_stock_shaped_table_is_learnable_at_the_defaults_dataset_init_chose(
    shared_env, http_mirror, tmp_path
):
    """Target ~650 ± 100, a feature ~10^6: `dataset init` records input and target
    scaling, `bnpipe run` at its defaults learns it (R² >= 0.95) and promotes it, and
    the baseline's RMSE is the test target's spread around the training mean."""
    from bnpipe.features import split

    base_url, served = http_mirror
    rng = np.random.default_rng(3)
    n = 400
    open_ = rng.normal(650, 100, n).round(2)
    frame = pd.DataFrame(
        {
            "open": open_,
            "high": (open_ + rng.uniform(0, 15, n)).round(2),
            "low": (open_ - rng.uniform(0, 15, n)).round(2),
            "volume": rng.normal(1e6, 2e5, n).round(0),
        }
    )
    # plus noise: a close that open, high and low add up to exactly is a target leak (held)
    frame["close"] = (
        frame["open"] + (frame["high"] - frame["low"]) * 0.3 + rng.normal(0, 10, n)
    ).round(2)
    frame.to_csv(served / "stock.csv", index=False)

    init = bnpipe(
        "dataset", "init", "stock", "--url", f"{base_url}/stock.csv", "--target", "close",
        env=shared_env,
    )  # fmt: skip
    assert init.returncode == 0, init.stdout + init.stderr
    assert "input_scaling standard" in init.stdout and "target_scaling standard" in init.stdout
    run = bnpipe("run", "stock", env=shared_env)  # the defaults: 1000 epochs, 5 seeds
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "promoted to @champion" in run.stdout, run.stdout

    client = MlflowClient(shared_env["MLFLOW_TRACKING_URI"])
    parent, children = assert_comparison(client, "stock", "regression", epochs=1000, seeds=5)
    assert {c.data.params["input_scaling"] for c in children} == {"standard"}
    assert {c.data.params["target_scaling"] for c in children} == {"standard"}
    best = max(parent.data.metrics[f"{v}_test_r2_mean"] for v in ("plain", "bn"))
    assert best >= 0.95, parent.data.metrics
    parts = split(frame, task="regression", target="close", seed=42)
    spread = float(np.sqrt(np.mean((parts.test["close"] - parts.train["close"].mean()) ** 2)))
    assert parent.data.metrics["baseline_test_rmse"] == pytest.approx(spread, rel=1e-5)
    assert (
        parent.data.tags["plain_vs_baseline"] == "better"
        or parent.data.tags["bn_vs_baseline"] == "better"
    )
    assert client.get_model_version_by_alias("bnpipe-stock", "champion") is not None

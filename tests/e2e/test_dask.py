"""`bnpipe run` trains on Dask: on a user's scheduler (``--dask-address``) or its own.

Proves, with real `dask scheduler` / `dask worker` processes on 127.0.0.1 (the
session's ``dask_cluster``: one scheduler, workers w1 and w2):
- both workers of an external cluster train, and each seed run names its worker
  (tag ``dask_worker``); the metrics equal a run on bnpipe's own LocalCluster;
- an unreachable scheduler is one clear error line, fast, with no run left RUNNING;
- a worker SIGKILLed while it trains does not fail the run: its task is trained
  again on the surviving worker (and the cluster gets a new w2 for later tests).

The runs talk to the session's Prefect server (``prefect_api``): none of this is
about the temporary server a run starts without one.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
from pathlib import Path

import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from tests.contract import TEST_METRICS, assert_comparison
from tests.e2e.conftest import BNPIPE, REPO, free_port, start, stop

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


def bnpipe(*args, env, timeout=900):
    return subprocess.run(
        [str(BNPIPE), *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture
def cluster(dask_cluster):
    """The session's scheduler with both its one-thread workers (w1, w2) up."""
    return dask_cluster.ready()


@pytest.fixture
def run_env(project_env, prefect_api):
    """``project_env`` on the session's Prefect server."""
    return {**project_env, "PREFECT_API_URL": prefect_api}


def local_project(project_env: dict, root: Path) -> dict:
    """Another project beside ``project_env``'s: own state, Prefect home and MLflow store."""
    env = {k: v for k, v in project_env.items() if k != "BNPIPE_DASK_ADDRESS"}
    env["BNPIPE_STATE_DIR"] = str(root / "state")
    env["PREFECT_HOME"] = str(root / "prefect")
    env["MLFLOW_TRACKING_URI"] = f"sqlite:///{root / 'mlflow.db'}"
    assert env["MLFLOW_TRACKING_URI"] != project_env["MLFLOW_TRACKING_URI"]
    return env


def by_seed(children) -> dict:
    """(variant, seed) -> the child run's test metrics."""
    names = sorted(TEST_METRICS["classification"])
    return {
        (c.data.params["variant"], int(c.data.params["seed"])): {
            m: c.data.metrics[m] for m in names
        }
        for c in children
    }


def executed_counts(cluster) -> dict[str, int]:
    return cluster.client.run(lambda dask_worker: dask_worker.state.executed_count)


def test_external_scheduler_two_workers(cluster, run_env, tmp_path):
    project_env = run_env
    epochs, seeds = 20, 2
    before = executed_counts(cluster)
    proc = bnpipe(
        "run", "boston", "iris", "--epochs", str(epochs), "--seeds", str(seeds),
        "--dask-address", cluster.address, env=project_env,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    client = MlflowClient(project_env["MLFLOW_TRACKING_URI"])
    children = {}
    for dataset, task in (("boston", "regression"), ("iris", "classification")):
        _, children[dataset] = assert_comparison(client, dataset, task, epochs=epochs, seeds=seeds)
    tags = [c.data.tags.get("dask_worker") for kids in children.values() for c in kids]
    assert None not in tags, tags
    assert set(tags) == set(cluster.addresses.values()), (tags, cluster.addresses)
    executed = executed_counts(cluster)
    assert set(executed) == set(before) == set(cluster.addresses.values()), executed
    assert all(executed[w] - before[w] >= 1 for w in executed), (before, executed)

    # The same iris comparison on bnpipe's own LocalCluster: same seeds, same metrics.
    local_env = local_project(project_env, tmp_path / "local")
    local = bnpipe("run", "iris", "--epochs", str(epochs), "--seeds", str(seeds), env=local_env)
    assert local.returncode == 0, local.stdout[-3000:] + local.stderr[-3000:]
    local_client = MlflowClient(local_env["MLFLOW_TRACKING_URI"])
    _, local_children = assert_comparison(
        local_client, "iris", "classification", epochs=epochs, seeds=seeds
    )
    local_workers = {c.data.tags.get("dask_worker") for c in local_children}
    assert not local_workers & set(cluster.addresses.values()), local_workers  # its own cluster
    external, own = by_seed(children["iris"]), by_seed(local_children)
    assert set(external) == set(own) == {(v, s) for v in ("plain", "bn") for s in range(seeds)}
    for key, metrics in external.items():
        assert own[key] == pytest.approx(metrics, abs=1e-6), key


def test_unreachable_scheduler_is_one_line(run_env):
    project_env = run_env
    port = free_port()
    began = time.monotonic()
    proc = bnpipe(
        "run", "iris", "--epochs", "2", "--seeds", "1",
        "--dask-address", f"tcp://127.0.0.1:{port}", env=project_env, timeout=120,
    )  # fmt: skip
    elapsed = time.monotonic() - began
    output = proc.stdout + proc.stderr
    assert proc.returncode == 1, output[-3000:]
    assert elapsed < 30, f"took {elapsed:.1f} s:\n{output[-3000:]}"
    needle = re.compile(rf"cannot reach the Dask scheduler at tcp://127\.0\.0\.1:{port}(?!\d)")
    lines = [line for line in output.splitlines() if needle.search(line)]
    assert len(lines) == 1, output[-3000:]
    assert "Traceback" not in output, output[-3000:]

    store = Path(project_env["MLFLOW_TRACKING_URI"].removeprefix("sqlite:///"))
    if store.exists():
        client = MlflowClient(project_env["MLFLOW_TRACKING_URI"])
        ids = [e.experiment_id for e in client.search_experiments(view_type=ViewType.ALL)]
        runs = client.search_runs(ids, run_view_type=ViewType.ALL, max_results=1000) if ids else []
        assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []


def test_worker_killed_mid_training_the_run_completes(cluster, run_env, tmp_path):
    project_env = run_env
    epochs, seeds = 3000, 2
    log = tmp_path / "run.log"
    run = start(
        [BNPIPE, "run", "iris", "--epochs", epochs, "--seeds", seeds,
         "--dask-address", cluster.address],
        project_env, log, REPO,
    )  # fmt: skip
    try:
        killed = key = None
        deadline = time.monotonic() + 600
        while killed is None:
            assert run.poll() is None, f"run ended before training was seen:\n{log.read_text()}"
            assert time.monotonic() < deadline, f"no train- task seen:\n{log.read_text()}"
            for addr, keys in cluster.client.processing().items():
                train = [k for k in map(str, keys) if k.startswith("train-")]
                if train and killed is None:
                    killed, key = addr, train[0]
            if killed is None:
                time.sleep(0.2)
        names = {a: n for n, a in cluster.addresses.items()}
        victim = cluster.procs[names[killed]]
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=10)
        (survivor,) = set(cluster.addresses.values()) - {killed}

        assert run.wait(timeout=1200) == 0, log.read_text()[-6000:]
    finally:
        stop(run)

    client = MlflowClient(project_env["MLFLOW_TRACKING_URI"])
    _, children = assert_comparison(client, "iris", "classification", epochs=epochs, seeds=seeds)
    (variant,) = [v for v in ("plain", "bn") if key.startswith(f"train-iris-{v}")]
    retrained = [c for c in children if c.data.params["variant"] == variant]
    assert len(retrained) == seeds
    assert {c.data.tags.get("dask_worker") for c in retrained} == {survivor}, (key, survivor)

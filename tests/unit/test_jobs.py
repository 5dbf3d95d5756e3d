"""Training jobs on a real Dask cluster give what the engine gives in-process;
errors come back named; a scheduler that cannot be reached is one clear error
within seconds; the champion's model folder scores on a worker as its pyfunc
would; the local cluster's workers die with the process that started them."""

from __future__ import annotations

import contextlib
import json
import math
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bnpipe import engine, jobs
from bnpipe.catalog import get_spec, load_catalog
from bnpipe.features import encode
from bnpipe.ops import cluster
from bnpipe.params import RunConfig
from bnpipe.processes import is_alive

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONFIG = RunConfig(epochs=15)


@pytest.fixture(scope="module")
def boston(data_mirror):
    spec = get_spec(load_catalog(REPO / "datasets.yaml"), "boston")
    return spec, encode(
        pd.read_csv(data_mirror / "boston.csv"), spec, split_seed=42, scaling="none"
    )


@pytest.fixture(scope="module")
def dask():
    c = cluster.TrainingCluster(workers=1)
    yield c
    c.close()


def _job(data, variant="bn", config=CONFIG, seeds=(0, 1)):
    return jobs.TrainJob(
        f"boston/{variant}", variant, "regression", data.x_train, data.y_train,
        data.x_val, data.y_val, data.x_test, seeds, config,
    )  # fmt: skip


def test_a_job_on_a_worker_matches_the_engine_in_process(dask, boston, tmp_path):
    _spec, data = boston
    lines: list[str] = []
    out = dask.run(
        jobs.train, _job(data), key="train-boston-bn", job="boston/bn", progress=lines.append
    )
    assert out.worker.startswith("tls://127.0.0.1:")  # the local cluster speaks mutual TLS
    assert [s.seed for s in out.seeds] == [0, 1]
    assert any("boston/bn seed 1: 15/15 epochs" in line for line in lines)
    local = engine.train_seeds(
        "bn", "regression", data.x_train, data.y_train, data.x_val, data.y_val,
        seeds=(0, 1), config=CONFIG,
    )  # fmt: skip
    paths = out.save_models(tmp_path)
    import keras

    for remote, here in zip(out.seeds, local, strict=True):
        np.testing.assert_allclose(remote.history["loss"], here.history["loss"], rtol=1e-6)
        expected = np.asarray(here.model(data.x_test, training=False))
        np.testing.assert_allclose(remote.test_output, expected, rtol=1e-5, atol=1e-6)
        saved = keras.models.load_model(paths[remote.seed], compile=False)
        np.testing.assert_allclose(
            saved(data.x_test, training=False), expected, rtol=1e-5, atol=1e-6
        )


def test_an_error_in_a_job_comes_back_named(dask, boston):
    _spec, data = boston
    # built without validation: an optimizer Keras does not know reaches the worker
    wrong = RunConfig.model_construct(**(RunConfig(epochs=2).model_dump() | {"optimizer": "nope"}))
    bad = _job(data, config=wrong, seeds=(3,))
    with pytest.raises(ValueError, match="nope"):
        dask.run(jobs.train, bad, key="train-boston-bad")
    again = dask.run(jobs.train, _job(data, config=RunConfig(epochs=2), seeds=(3,)), key="k")
    assert [s.seed for s in again.seeds] == [3]


def test_jobs_train_on_two_threads_and_each_seed_is_scored_on_both_held_out_splits(
    boston, tmp_path
):
    """Two comparisons' jobs at once (as the chain's subflows submit them): each seed
    comes back scored on the validation and the test rows, its model saved; here
    the jobs run in this process, on two threads (the engine is thread-safe)."""
    from concurrent.futures import ThreadPoolExecutor

    from bnpipe import evaluation
    from bnpipe.models import VARIANTS, effective_learning_rate

    spec, data = boston
    config = RunConfig(epochs=2, seeds=2)
    made = [jobs.make_job(spec, data, config, v, label) for label in ("a", "b") for v in VARIANTS]
    assert [job.name for job in made] == ["a/plain", "a/bn", "b/plain", "b/bn"]
    with ThreadPoolExecutor(max_workers=2) as pool:
        outs = list(pool.map(jobs.train, made))
    scored = {}
    for job, out in zip(made, outs, strict=True):
        assert out.learning_rate == effective_learning_rate(
            "rmsprop", config.resolve(spec).learning_rate
        )
        results = jobs.seed_results(out, spec.task, job.variant, data, tmp_path)
        assert [r.seed for r in results] == [0, 1]
        for r in results:
            assert set(r.metrics) == set(evaluation.metric_names("regression"))
            # scored on the validation rows too: what the leader and its seed are chosen by
            assert set(r.val_metrics) == {"val_rmse", "val_mae", "val_r2"}
            assert all(math.isfinite(v) for v in r.val_metrics.values())
            assert r.predictions.shape == data.y_test_true.shape
            assert len(r.history["loss"]) == 2 and Path(r.model_path).is_file()
        scored[job.name] = [r.metrics for r in results]
    assert scored["a/bn"] == scored["b/bn"]  # a seed trains alike whichever job it is in


def test_diverged_seeds_are_named_by_evaluate(boston, tmp_path, monkeypatch):
    import types

    import bnpipe.tasks.training as training
    from bnpipe.settings import load_settings
    from tests import comparisons

    spec, data = boston
    config = RunConfig(epochs=2, seeds=2)

    def outcome(job: jobs.TrainJob) -> jobs.JobResult:  # what a worker returns, made up
        bad = job.variant == "bn"
        seeds = [
            jobs.SeedOutput(
                seed,
                {"loss": [1.0, math.nan if bad and seed == 1 else 0.5], "val_loss": [1.0, 0.6]},
                np.zeros((len(job.x_val), 1), dtype=np.float32),
                np.zeros((len(job.x_test), 1), dtype=np.float32),
                0.1,
                b"a .keras file",
            )
            for seed in job.seeds
        ]
        return jobs.JobResult(job.name, seeds, 0.01, "", 0.2)

    from bnpipe import stages
    from bnpipe.models import VARIANTS

    prepared = comparisons.judged(None, spec, data, [], None, load_settings()).prepared
    made = tuple(outcome(jobs.make_job(spec, data, config, v)) for v in VARIANTS)
    warned: list[str] = []
    logger = types.SimpleNamespace(warning=lambda msg, *args: warned.append(msg % args))
    monkeypatch.setattr(training, "get_run_logger", lambda: logger)
    evaluated = training.evaluate.fn(stages.Trained(prepared, made, str(tmp_path), (1.0, 2.0)))
    assert evaluated.learning_rate == 0.01 and evaluated.trained == (1.0, 2.0)
    assert [(r.variant, r.seed) for r in evaluated.results if r.diverged] == [("bn", 1)]
    assert warned == [
        "boston/bn: seed(s) [1] diverged (non-finite loss); left out of the comparison"
    ]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_an_unreachable_scheduler_is_one_clear_error_within_seconds():
    address = f"tcp://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    c = cluster.TrainingCluster(address)
    try:
        with pytest.raises(cluster.ClusterError) as err:
            c.client()
    finally:
        c.close()
    assert time.monotonic() - started < cluster.CONNECT_TIMEOUT + 10
    message = str(err.value)
    assert f"cannot reach the Dask scheduler at {address}" in message and "\n" not in message


def test_bad_worker_count_is_named(monkeypatch):
    monkeypatch.setenv(cluster.WORKERS_ENV, "zero")
    with pytest.raises(cluster.ClusterError, match=cluster.WORKERS_ENV):
        cluster.TrainingCluster()


def test_the_champion_folder_scores_on_a_worker_like_its_pyfunc(dask, boston, tmp_path):
    from bnpipe.models import predict_frame

    spec, data = boston
    out = dask.run(jobs.train, _job(data, seeds=(0,)), key="train-boston-bn")
    folder = tmp_path / "model"
    (folder / "artifacts").mkdir(parents=True)
    (folder / "artifacts" / "model.keras").write_bytes(out.seeds[0].model_bytes)
    (folder / "artifacts" / "preprocessor.json").write_text(json.dumps(data.pre.to_dict()))
    artifacts = {
        "keras_model": {"path": "artifacts/model.keras"},
        "preprocessor": {"path": "artifacts/preprocessor.json"},
    }
    (folder / "MLmodel").write_text(
        yaml.safe_dump({"flavors": {"python_function": {"artifacts": artifacts}}})
    )
    rows = data.split.test[list(spec.features)]
    frame = dask.run(jobs.predict_logged, jobs.model_files(folder), rows, key="predict")

    import keras

    model = keras.models.load_model(folder / "artifacts" / "model.keras", compile=False)
    pd.testing.assert_frame_equal(frame, predict_frame(model, data.pre, rows))
    assert list(frame.columns) == ["prediction"] and len(frame) == len(rows)


def test_local_workers_die_with_a_sigkilled_parent(tmp_path):
    """Dask's worker processes exit when their parent's pipe closes: no orphans."""
    script = textwrap.dedent(
        """
        import os, sys, time
        from bnpipe.ops import cluster
        if __name__ == "__main__":
            c = cluster.TrainingCluster(workers=2)
            pids = c.client().run(os.getpid)
            print(" ".join(str(p) for p in pids.values()), flush=True)
            time.sleep(600)
        """
    )
    path = tmp_path / "parent.py"
    path.write_text(script)
    # a local cluster of its own, whatever scheduler an earlier test exported
    own = {k: v for k, v in os.environ.items() if not k.startswith(("BNPIPE_DASK", "DASK_"))}
    proc = subprocess.Popen(
        [sys.executable, str(path)],
        stdout=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env=own,
    )
    try:
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        deadline = time.monotonic() + 15
        alive = pids
        while alive and time.monotonic() < deadline:
            time.sleep(0.2)
            alive = [p for p in pids if is_alive(p)]
        assert not alive, f"workers {alive} outlived their SIGKILLed parent"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)


def test_a_scheduler_without_workers_is_named_after_the_grace(monkeypatch):
    from distributed import LocalCluster

    monkeypatch.setenv(cluster.NO_WORKER_ENV, "1")
    empty = LocalCluster(n_workers=0, host="127.0.0.1", dashboard_address=None)
    c = cluster.TrainingCluster(empty.scheduler_address)
    try:
        started = time.monotonic()
        with pytest.raises(cluster.ClusterError, match="no Dask worker at tcp://127.0.0.1:"):
            c.run(sum, [1, 2], key="train-nowhere")
        assert time.monotonic() - started < 15
    finally:
        c.close()
        empty.close()


def test_local_cluster_size_is_one_worker_per_two_cores_unless_set(monkeypatch):
    monkeypatch.setattr(os, "cpu_count", lambda: 2)
    assert cluster._workers_from_env({}) == 1  # one TensorFlow load on 2 cores
    monkeypatch.setattr(os, "cpu_count", lambda: 9)
    assert cluster._workers_from_env({}) == 4
    monkeypatch.setattr(os, "cpu_count", lambda: None)
    assert cluster._workers_from_env({}) == 1
    assert cluster._workers_from_env({cluster.WORKERS_ENV: " 3 "}) == 3
    for bad in ("0", "-1", "two", "1.5"):
        with pytest.raises(cluster.ClusterError, match="BNPIPE_DASK_WORKERS must be a positive"):
            cluster._workers_from_env({cluster.WORKERS_ENV: bad})

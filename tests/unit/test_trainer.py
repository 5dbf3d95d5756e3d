"""The trainer process gives what the engine gives in-process, and behaves as a
child process should: errors come back readable, Ctrl-C is the parent's, close
leaves nothing behind, and the XLA cache is found again by the next process."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bnpipe import engine, trainer
from bnpipe.catalog import get_spec, load_catalog
from bnpipe.engine import TrainConfig
from bnpipe.features import encode

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[2]
CONFIG = TrainConfig(epochs=15)


@pytest.fixture(scope="module")
def boston(data_mirror):
    spec = get_spec(load_catalog(REPO / "datasets.yaml"), "boston")
    return spec, encode(
        pd.read_csv(data_mirror / "boston.csv"), spec, split_seed=42, scaling="none"
    )


def _jobs(data, config=CONFIG, seeds=(0, 1)):
    return [
        trainer.Job(
            f"boston/{v}",
            v,
            "regression",
            data.x_train,
            data.y_train,
            data.x_val,
            data.y_val,
            data.x_test,
            seeds,
            config,
        )  # fmt: skip
        for v in ("plain", "bn")
    ]


def _own_xla_cache(monkeypatch, cache: Path) -> None:
    # An in-process engine call in this pytest process has set TF_XLA_FLAGS (its
    # own cache), which the trainer process would inherit and keep.
    monkeypatch.delenv("TF_XLA_FLAGS", raising=False)
    monkeypatch.setenv("BNPIPE_XLA_CACHE_DIR", str(cache))


@pytest.fixture
def proc(tmp_path, monkeypatch):
    _own_xla_cache(monkeypatch, tmp_path / "xla")
    t = trainer.Trainer()
    yield t
    t.close()


def test_trainer_process_matches_the_engine_in_process(proc, boston, tmp_path):
    spec, data = boston
    progress: list[str] = []
    out = proc.train(_jobs(data), tmp_path, progress=progress.append)

    assert [o.name for o in out] == ["boston/plain", "boston/bn"]
    # below the flow process, which everything waits for while a run starts
    assert os.getpriority(os.PRIO_PROCESS, proc.pid) == os.getpriority(os.PRIO_PROCESS, 0) + min(
        trainer.HELPER_NICENESS, 19 - os.getpriority(os.PRIO_PROCESS, 0)
    )
    assert out[0].learning_rate == pytest.approx(0.001)  # RMSprop's Keras default
    assert sorted(progress) == sorted(
        f"boston/{v} seed {s}: 15/15 epochs" for v in ("plain", "bn") for s in (0, 1)
    )
    for job_out, variant in zip(out, ("plain", "bn"), strict=True):
        local = engine.train_seeds(
            variant, "regression", data.x_train, data.y_train, data.x_val, data.y_val,
            seeds=[0, 1], config=CONFIG,
        )  # fmt: skip
        for remote, here in zip(job_out.seeds, local, strict=True):
            assert remote.seed == here.seed
            np.testing.assert_array_equal(remote.history["loss"], here.history["loss"])
            np.testing.assert_array_equal(remote.history["val_loss"], here.history["val_loss"])
            np.testing.assert_allclose(
                remote.test_output, np.asarray(here.model(data.x_test, training=False)), rtol=1e-6
            )
            assert remote.test_output.shape == (len(data.x_test), 1)
            assert Path(remote.model_path).is_file() and remote.model_path.endswith(".keras")


def test_an_error_comes_back_named_and_the_trainer_stays_usable(proc, boston, tmp_path):
    _spec, data = boston
    with pytest.raises(trainer.TrainerError, match="nope"):
        proc.train(_jobs(data, TrainConfig(epochs=2, optimizer="nope")), tmp_path)
    assert proc.usable()
    out = proc.train(_jobs(data, TrainConfig(epochs=2), seeds=(3,)), tmp_path)
    assert [s.seed for o in out for s in o.seeds] == [3, 3]


def test_ctrl_c_is_the_parents_and_close_stops_the_process(proc):
    pid = proc.pid
    deadline = time.monotonic() + 120
    while not proc.usable() and time.monotonic() < deadline:  # pragma: no cover - it starts
        time.sleep(0.1)
    os.kill(pid, signal.SIGINT)  # what a terminal's Ctrl-C sends to the whole group
    time.sleep(1.0)
    assert proc.usable(), "the trainer must leave Ctrl-C to the flow process"
    proc.close()
    assert not proc.usable()
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_fresh_trainer_finds_the_previous_ones_compiled_loops(boston, tmp_path, monkeypatch):
    """The reason training lives in its own process: its TF name counters are the
    same every run, so XLA's persistent cache is hit (no new entries written)."""
    _spec, data = boston
    cache = tmp_path / "xla"
    _own_xla_cache(monkeypatch, cache)
    first = trainer.Trainer()
    try:
        first.train(_jobs(data, seeds=(0,)), tmp_path)
    finally:
        first.close()
    entries = sorted(os.listdir(cache))
    assert len(entries) == 2  # one executable per variant
    second = trainer.Trainer()
    try:
        second.train(_jobs(data, seeds=(5,)), tmp_path)
    finally:
        second.close()
    assert sorted(os.listdir(cache)) == entries


def test_predict_logged_runs_a_logged_model_folder_like_its_pyfunc(proc, boston, tmp_path):
    """The champion is scored in the trainer from its MLflow model folder."""
    from bnpipe.models import predict_frame

    spec, data = boston
    out = proc.train(_jobs(data, seeds=(0,))[:1], tmp_path)
    folder = tmp_path / "model"
    (folder / "artifacts").mkdir(parents=True)
    Path(out[0].seeds[0].model_path).rename(folder / "artifacts" / "model.keras")
    (folder / "artifacts" / "preprocessor.json").write_text(json.dumps(data.pre.to_dict()))
    (folder / "MLmodel").write_text(
        yaml.safe_dump(
            {
                "flavors": {
                    "python_function": {
                        "artifacts": {
                            "keras_model": {"path": "artifacts/model.keras"},
                            "preprocessor": {"path": "artifacts/preprocessor.json"},
                        }
                    }
                }
            }
        )
    )
    rows = data.split.test[list(spec.features)]
    frame = proc.predict_logged(folder, rows)

    import keras

    model = keras.models.load_model(folder / "artifacts" / "model.keras", compile=False)
    pd.testing.assert_frame_equal(frame, predict_frame(model, data.pre, rows))
    assert list(frame.columns) == ["prediction"] and len(frame) == len(rows)

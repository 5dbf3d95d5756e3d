"""The work that runs on a Dask worker: training one (dataset, variant) over its
seeds, and scoring a logged model on raw rows; and, in the flow process, the
job of one (dataset, variant) (:func:`make_job`) and its results as seed results.

A job carries plain data (numpy arrays, numbers, strings) and returns plain
data: curves, the outputs on the validation and test rows and each trained model as the bytes
of a ``.keras`` file. Nothing here talks to MLflow or Prefect: the flow process
stays the only MLflow writer, and a worker needs no credentials, only this
package installed (``dask worker ADDRESS`` from the project's virtualenv).

The worker keeps the compiled training loops (``bnpipe.engine``'s cache) for
the next job of the same shapes and configuration, so a second run, or a sweep
cell with the same shapes, skips tracing and compiling.
"""

from __future__ import annotations

import json
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bnpipe.params import RunConfig

if TYPE_CHECKING:
    from bnpipe.catalog import DatasetSpec
    from bnpipe.features import Encoded

PROGRESS_TOPIC = "bnpipe-progress"  # Dask event topic: {"job": name, "message": text}


@dataclass(frozen=True)
class TrainJob:
    """Train ``variant`` on one data set for ``seeds``; each seed's outputs on
    ``x_val`` (what the leader is chosen by) and ``x_test`` (what judges it)."""

    name: str  # "<dataset>/<variant>": progress lines and the Dask key
    variant: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    seeds: tuple[int, ...]
    config: RunConfig  # resolved for the dataset; the engine reads its training fields

    @property
    def key_prefix(self) -> str:
        """The Dask key's readable part, e.g. ``train-boston-plain``."""
        return "train-" + self.name.replace("/", "-")


@dataclass
class SeedOutput:
    seed: int
    history: dict[str, list[float]]  # "loss" and "val_loss", one value per epoch
    val_output: np.ndarray  # the model's output on the job's x_val
    test_output: np.ndarray  # the model's output on the job's x_test
    seconds: float  # compile included for the job's first seed on this worker
    model_bytes: bytes  # the trained Keras model as a .keras file


@dataclass
class JobResult:
    name: str
    seeds: list[SeedOutput]
    learning_rate: float  # the optimizer's effective learning rate
    worker: str  # the address of the worker that trained it ("" outside Dask)
    seconds: float

    def save_models(self, directory: str | Path) -> dict[int, str]:
        """Write each seed's model to ``directory``; seed -> path of its .keras file."""
        paths = {}
        for s in self.seeds:
            path = Path(directory) / f"{self.name.replace('/', '-')}-seed{s.seed}.keras"
            path.write_bytes(s.model_bytes)
            paths[s.seed] = str(path)
        return paths


def _report(job: str, message: str) -> None:
    """A progress line to the client (``PROGRESS_TOPIC``); a no-op outside a worker."""
    try:
        from distributed import get_worker

        worker = get_worker()
    except (ImportError, ValueError):
        return
    worker.log_event(PROGRESS_TOPIC, {"job": job, "message": message})


def _worker_address() -> str:
    try:
        from distributed import get_worker

        return get_worker().address
    except (ImportError, ValueError):
        return ""


def train(job: TrainJob) -> JobResult:
    """Train the job's seeds (one after the other, on one compiled loop)."""
    from bnpipe import engine
    from bnpipe.models import effective_learning_rate

    started = time.perf_counter()
    engine.prepare(
        job.variant, job.task, job.x_train, job.y_train, job.x_val, job.y_val, config=job.config
    )

    # Training has begun (tracing is done): the line a watcher keys on, at once,
    # not only when the first seed ends.
    _report(job.name, f"{job.name} seed {job.seeds[0]}: 0/{job.config.epochs} epochs")

    def seed_done(seed: int, done: int, total: int) -> None:
        _report(job.name, f"{job.name} seed {seed}: {done}/{total} epochs")

    trained = engine.train_seeds(
        job.variant, job.task, job.x_train, job.y_train, job.x_val, job.y_val,
        seeds=job.seeds, config=job.config, on_epoch_block=seed_done,
    )  # fmt: skip
    outputs = []
    with tempfile.TemporaryDirectory(prefix="bnpipe-job-") as tmp:
        for t in trained:
            path = Path(tmp) / f"seed{t.seed}.keras"
            t.model.save(path)
            val_output = np.asarray(t.model(job.x_val, training=False))
            test_output = np.asarray(t.model(job.x_test, training=False))
            outputs.append(
                SeedOutput(t.seed, t.history, val_output, test_output, t.seconds, path.read_bytes())
            )
    lr = effective_learning_rate(job.config.optimizer, job.config.learning_rate)
    return JobResult(job.name, outputs, lr, _worker_address(), time.perf_counter() - started)


def seed_results(result: JobResult, task: str, variant: str, data, models_dir) -> list:
    """A job's seeds as :class:`~bnpipe.comparison.SeedResult`: models saved under
    ``models_dir``, validation and test outputs mapped back to the target's units
    (``data.pre.inverse_y``) and scored against the true targets (``val_*``
    metrics on the validation rows, ``test_*`` on the test rows)."""
    from bnpipe import evaluation
    from bnpipe.comparison import SeedResult

    paths = result.save_models(models_dir)
    results = []

    def own_units(output: np.ndarray) -> np.ndarray:
        output = data.pre.inverse_y(output)
        return output if task == "classification" else output[:, 0]

    for s in result.seeds:
        pred = own_units(s.test_output)
        results.append(
            SeedResult(
                variant=variant,
                seed=s.seed,
                history={k: list(map(float, v)) for k, v in s.history.items()},
                metrics=evaluation.evaluate(task, data.y_test_true, pred),
                predictions=pred,
                seconds=s.seconds,
                model_path=paths[s.seed],
                worker=result.worker or None,
                val_metrics=evaluation.evaluate_validation(
                    task, data.y_val_true, own_units(s.val_output)
                ),
            )
        )
    return results


def make_job(
    spec: DatasetSpec, data: Encoded, config: RunConfig, variant: str, label: str | None = None
) -> TrainJob:
    """The job of one (dataset, variant): the encoded arrays and the seeds of
    ``config`` resolved for ``spec``; named ``<label>/<variant>`` (label: the dataset)."""
    config = config.resolve(spec)  # a no-op for a resolved config
    return TrainJob(
        name=f"{label or spec.name}/{variant}",
        variant=variant,
        task=spec.task,
        x_train=data.x_train,
        y_train=data.y_train,
        x_val=data.x_val,
        y_val=data.y_val,
        x_test=data.x_test,
        seeds=tuple(config.seed_list),
        config=config,
    )


def model_files(model_dir: str | Path) -> dict[str, bytes]:
    """A local MLflow model folder as {relative path: bytes}, to send to a worker."""
    root = Path(model_dir)
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def predict_logged(files: dict[str, bytes], rows):
    """A logged bnpipe model (its MLflow folder as :func:`model_files`) on raw rows,
    as its pyfunc ``predict`` would do, without MLflow on the worker."""
    import keras
    import yaml

    from bnpipe.features import Preprocessor
    from bnpipe.models import predict_frame

    with tempfile.TemporaryDirectory(prefix="bnpipe-logged-") as tmp:
        root = Path(tmp)
        for rel, content in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(content)
        meta = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8"))
        artifacts = meta["flavors"]["python_function"]["artifacts"]
        model = keras.models.load_model(root / artifacts["keras_model"]["path"], compile=False)
        pre = Preprocessor.from_dict(
            json.loads((root / artifacts["preprocessor"]["path"]).read_text(encoding="utf-8"))
        )
        return predict_frame(model, pre, rows)

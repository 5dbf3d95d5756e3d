"""The trainer: TensorFlow in a process of its own, serving the flow process.

Why a process. On the 2-core machine a run's wall time was mostly imports,
one after the other in one process: MLflow, Prefect and Great Expectations
~12 s, TensorFlow ~10 s. The trainer is started first (:func:`shared`), so
TensorFlow loads on the other core while the flow process loads the rest
and validates the data; the flow process never imports TensorFlow. It sends
encoded arrays and gets back curves, test-row outputs and the trained models
saved as ``.keras`` files.

A second gain: XLA's persistent cache (``BNPIPE_XLA_CACHE_DIR``) finds an
executable by names that embed TensorFlow's process-wide counters. In the flow
process, whatever had run before a trace shifted them, so the cache never hit;
the trainer does the same work in the same order every run, so it does
(measured: the four first compiles take 3.3 s instead of 9.6 s).

Within one request, the loops are traced one after the other (Python, under
the GIL) and then compiled and run concurrently, a thread per job (XLA
releases the GIL); tracing while another thread compiled was slower than both
in turn.

The process ignores SIGINT (a Ctrl-C in the terminal reaches the whole process
group): the flow process handles it, ends its MLflow runs and stops the
trainer (:meth:`Trainer.close`; also at exit, the process being a daemon).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import json
import os
import signal
import threading
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from bnpipe import interrupts
from bnpipe.engine import TrainConfig

Progress = Callable[[str], None]

# While a run starts, three processes want the two cores: this one loading
# TensorFlow, the temporary Prefect server booting, and the flow process loading
# MLflow, Prefect and GX. The flow process's chain is the longest and everything
# waits for it, so the helpers run at a lower priority (a no-op without contention).
HELPER_NICENESS = 5


class TrainerError(RuntimeError):
    """The trainer process failed or died; the message says how."""


@dataclass(frozen=True)
class Job:
    """Train ``variant`` on one data set for ``seeds``; score each seed on ``x_test``."""

    name: str  # e.g. "boston/plain": progress lines and file names
    variant: str
    task: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    seeds: tuple[int, ...]
    config: TrainConfig


@dataclass
class SeedOutput:
    seed: int
    history: dict[str, list[float]]  # "loss" and "val_loss", one value per epoch
    test_output: np.ndarray  # the model's output on the job's x_test
    seconds: float  # compile included for the job's first seed
    model_path: str  # the trained Keras model, saved as .keras


@dataclass
class JobOutput:
    name: str
    seeds: list[SeedOutput]
    learning_rate: float  # the optimizer's effective learning rate


# ----------------------------------------------------------------- in the trainer process


def _train(jobs: Sequence[Job], out_dir: str, progress: Progress) -> list[JobOutput]:
    from concurrent.futures import ThreadPoolExecutor

    from bnpipe import engine
    from bnpipe.models import effective_learning_rate

    for job in jobs:  # one after the other: deterministic names, no tracing during compiles
        engine.prepare(
            job.variant, job.task, job.x_train, job.y_train, job.x_val, job.y_val, config=job.config
        )

    def run(job: Job) -> JobOutput:
        def seed_done(seed: int, done: int, total: int) -> None:
            progress(f"{job.name} seed {seed}: {done}/{total} epochs")

        trained = engine.train_seeds(
            job.variant, job.task, job.x_train, job.y_train, job.x_val, job.y_val,
            seeds=job.seeds, config=job.config, on_epoch_block=seed_done,
        )  # fmt: skip
        outputs = []
        for t in trained:
            path = Path(out_dir) / f"{job.name.replace('/', '-')}-seed{t.seed}.keras"
            t.model.save(path)
            test_output = np.asarray(t.model(job.x_test, training=False))
            outputs.append(SeedOutput(t.seed, t.history, test_output, t.seconds, str(path)))
        lr = effective_learning_rate(job.config.optimizer, job.config.learning_rate)
        return JobOutput(job.name, outputs, lr)

    with ThreadPoolExecutor(max_workers=max(1, len(jobs))) as pool:
        return list(pool.map(run, jobs))


def _predict_logged(model_dir: str, rows, progress: Progress):
    """A logged bnpipe model (a local copy of its MLflow model folder) on raw rows,
    as its pyfunc ``predict`` would do, without loading MLflow here."""
    import keras
    import yaml

    from bnpipe.features import Preprocessor
    from bnpipe.models import predict_frame

    root = Path(model_dir)
    meta = yaml.safe_load((root / "MLmodel").read_text(encoding="utf-8"))
    artifacts = meta["flavors"]["python_function"]["artifacts"]
    model = keras.models.load_model(root / artifacts["keras_model"]["path"], compile=False)
    pre = Preprocessor.from_dict(
        json.loads((root / artifacts["preprocessor"]["path"]).read_text(encoding="utf-8"))
    )
    return predict_frame(model, pre, rows)


_COMMANDS: dict[str, Callable[..., Any]] = {"train": _train, "predict_logged": _predict_logged}

# Keras 3 imports its sklearn wrapper and its image-gallery plot on ``import keras``
# when scikit-learn and matplotlib are installed (MLflow installs both): ~3.5 of the
# ~10.5 CPU-s of loading TensorFlow and Keras here, for code the trainer never runs.
# Both imports are guarded (``except ImportError``), so the trainer hides them.
UNUSED_IN_TRAINER = ("sklearn", "matplotlib", "scipy")


def _skip_unused_imports() -> None:
    import sys

    for name in UNUSED_IN_TRAINER:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type] - None: "import fails"


def _serve(conn) -> None:
    """The trainer process: load TensorFlow, then answer requests until told to stop."""
    os.nice(HELPER_NICENESS)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # also drops one sent while starting
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})  # blocked by Trainer()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")  # XLA cache loads log harmless ERRORs
    _skip_unused_imports()
    from bnpipe import engine

    engine.preload()
    lock = threading.Lock()

    def progress(message: str) -> None:
        with lock:
            conn.send(("progress", message))

    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):  # the flow process is gone
            return
        if request is None:
            gc.freeze()  # interpreter shutdown then skips the GC walks over TF's objects
            return
        command, args = request
        try:
            result = _COMMANDS[command](*args, progress)
        except Exception as exc:  # noqa: BLE001 - reported to the caller
            with lock:
                conn.send(("error", (f"{type(exc).__name__}: {exc}", traceback.format_exc())))
        else:
            with lock:
                conn.send(("result", result))


# ----------------------------------------------------------------- in the flow process


class Trainer:
    """A handle on the trainer process; one request at a time (thread-safe)."""

    def __init__(self) -> None:
        import multiprocessing

        ctx = multiprocessing.get_context("spawn")  # never fork a process with threads
        self._conn, child = ctx.Pipe()
        self._proc = ctx.Process(target=_serve, args=(child,), name="bnpipe-trainer", daemon=True)
        # The child inherits a blocked SIGINT, so a Ctrl-C while it starts Python
        # stays pending until _serve ignores it; here it is delivered on unblock.
        # A Ctrl-C in the middle of start() (delivered to another thread, raised here
        # at the next bytecode) would leave the child reading half its start-up data:
        # its exception waits until the child is started, then the trainer is stopped.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGINT})
        try:
            with interrupts.deferred():
                try:
                    self._proc.start()
                finally:
                    signal.pthread_sigmask(signal.SIG_SETMASK, blocked)
                    child.close()
        except BaseException:  # interrupted: the started child goes too, silently
            with contextlib.suppress(Exception):
                self._proc.kill()
                self._proc.join()
            self._conn.close()
            raise
        self._lock = threading.Lock()
        self._interrupted = False  # a request was abandoned midway: the pipe is out of step

    @property
    def pid(self) -> int | None:
        return self._proc.pid

    def usable(self) -> bool:
        return self._proc.is_alive() and not self._interrupted

    def _call(self, command: str, *args, progress: Progress | None = None):
        with self._lock:
            if not self._proc.is_alive():
                raise TrainerError(
                    f"the trainer process is not running (exit code {self._proc.exitcode})"
                )
            self._conn.send((command, args))
            try:
                return self._receive(command, progress)
            except TrainerError:
                raise
            except BaseException:  # Ctrl-C or SIGTERM while waiting: a reply may still come
                self._interrupted = True
                raise

    def _receive(self, command: str, progress: Progress | None):
        while True:
            interrupts.check()  # a Ctrl-C whose exception library code swallowed
            if not self._conn.poll(0.2):
                if not self._proc.is_alive():
                    raise TrainerError(
                        f"the trainer process died (exit code {self._proc.exitcode}) during {command}"
                    )
                continue
            kind, payload = self._conn.recv()
            if kind == "progress":
                if progress is not None:
                    progress(payload)
            elif kind == "error":
                message, trace = payload
                error = TrainerError(message)
                error.add_note(f"in the trainer process (pid {self._proc.pid}):\n{trace}")
                raise error
            else:
                return payload

    def train(
        self, jobs: Sequence[Job], out_dir: str | Path, progress: Progress | None = None
    ) -> list[JobOutput]:
        """Train the jobs (concurrently); models are saved under ``out_dir``."""
        return self._call("train", list(jobs), str(out_dir), progress=progress)

    def predict_logged(self, model_dir: str | Path, rows):
        """A logged bnpipe model's prediction frame for raw ``rows``."""
        return self._call("predict_logged", str(model_dir), rows)

    def close(self, timeout: float = 5.0) -> None:
        """Stop the process: asked first, terminated when busy or stuck."""
        if self._proc.is_alive() and not self._interrupted and self._lock.acquire(timeout=0.1):
            try:
                self._conn.send(None)
            except OSError:
                pass
            finally:
                self._lock.release()
            self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.terminate()
            self._proc.join(timeout)
        if self._proc.is_alive():
            self._proc.kill()
            self._proc.join()
        self._conn.close()


_SHARED: Trainer | None = None
_SHARED_LOCK = threading.Lock()


def shared() -> Trainer:
    """This process's trainer, started on first use (and again if it died)."""
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is None or not _SHARED.usable():
            if _SHARED is not None:
                _SHARED.close()
            _SHARED = Trainer()
            atexit.register(_SHARED.close)
        return _SHARED


def stop_shared() -> None:
    global _SHARED
    with _SHARED_LOCK:
        if _SHARED is not None:
            _SHARED.close()
            _SHARED = None

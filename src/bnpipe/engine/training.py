"""The engine's entry points: check the arrays, pick the engine the config names,
and train one variant for several seeds (or trace its compiled loop ahead)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from bnpipe.catalog import TASKS
from bnpipe.engine.compiled import _train_compiled, _trainer_for
from bnpipe.engine.fit import _train_fit
from bnpipe.engine.parts import EpochCallback, TrainedModel
from bnpipe.engine.tf_setup import _configure_tf
from bnpipe.params import RunConfig

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np


def _as_2d_float32(name: str, a) -> np.ndarray:
    import numpy as np

    arr = np.ascontiguousarray(a, dtype=np.float32)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be 2-D (rows, columns), got shape {arr.shape}")
    return arr


def prepare(
    variant: str,
    task: str,
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    config: RunConfig,
    shuffle: bool = True,
) -> None:
    """Trace the compiled loop ``train_seeds`` will use for these arguments, now.

    Tracing is Python (GIL-bound); the XLA compile on the first call is not. To
    train several variants at once, prepare each one after the other, then call
    ``train_seeds`` for them concurrently. A no-op for the ``fit`` engine.
    """
    if config.engine != "compiled":
        return
    import tensorflow as tf

    x, y = _as_2d_float32("x_train", x_train), _as_2d_float32("y_train", y_train)
    xv, yv = _as_2d_float32("x_val", x_val), _as_2d_float32("y_val", y_val)
    _configure_tf()
    shapes = (x.shape[0], x.shape[1], y.shape[1], xv.shape[0])
    trainer = _trainer_for(variant, task, shapes, config, shuffle)
    trainer.trace(x, y, xv, yv, tf.constant(0, tf.int64))


def train_seeds(
    variant: str,
    task: str,
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    seeds: Sequence[int],
    config: RunConfig,
    shuffle: bool = True,
    on_epoch_block: EpochCallback | None = None,
) -> list[TrainedModel]:
    """Train ``variant`` ("plain"|"bn") for ``task`` once per seed; one result per seed.

    ``x_*`` are encoded/scaled float32 features; ``y_*`` float32 targets, shape
    ``(n, 1)`` for regression or one-hot ``(n, k)`` for classification. The
    validation rows only produce ``val_loss``. ``on_epoch_block(seed,
    epochs_done, epochs_total)`` reports progress (at least once per seed).
    A run that diverges (NaN/inf losses) is returned as is, not raised.
    ``config`` is the run's (only its training fields matter here); ``shuffle=False``
    keeps the row order (benchmarks and tests compare engines on it).
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; expected one of {TASKS}")
    seeds = [int(s) for s in seeds]
    if not seeds:
        raise ValueError("seeds must not be empty")
    x, y = _as_2d_float32("x_train", x_train), _as_2d_float32("y_train", y_train)
    xv, yv = _as_2d_float32("x_val", x_val), _as_2d_float32("y_val", y_val)
    if x.shape[0] != y.shape[0] or xv.shape[0] != yv.shape[0]:
        raise ValueError("x and y must have the same number of rows")
    if x.shape[1] != xv.shape[1] or y.shape[1] != yv.shape[1] or min(len(x), len(xv)) == 0:
        raise ValueError("train and validation arrays must have matching columns and rows > 0")
    _configure_tf()
    run = _train_compiled if config.engine == "compiled" else _train_fit
    return run(variant, task, x, y, xv, yv, seeds, config, shuffle, on_epoch_block)

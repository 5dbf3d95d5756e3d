"""Training engine: the notebook's Keras networks, trained fast and reproducibly.

``train_seeds`` trains one network variant on one data set for several seeds
and returns, per seed, its own Keras model with trained weights, the per-epoch
``loss``/``val_loss`` curves and the wall time spent.

Two engines (``RunConfig.engine``):

``"compiled"`` (default)
    All epochs and all batches run inside ONE ``tf.function(jit_compile=True)``
    over the same Keras model (README, Performance). It keeps ``fit``'s
    semantics: mini-batches of ``batch_size``; a fresh shuffle every epoch
    (a stateless permutation keyed on ``(seed, epoch)``, see
    :func:`epoch_permutation`); the short last batch as its own fixed-shape
    step (XLA needs static shapes); ``model(x, training=True)`` so
    BatchNormalization updates its moving statistics; the optimizer by Keras
    name (RMSprop and its defaults unless configured), built before tracing;
    the epoch loss is the batch losses' mean weighted by batch size (what
    ``fit`` reports); the validation loss is ``model(x_val, training=False)``
    on the validation rows. Both curves are collected in ``TensorArray``\\ s.

``"fit"``
    The notebook's way, for comparison: ``model.compile(optimizer, loss)`` and
    ``model.fit`` on numpy arrays, history from ``fit``'s ``History``.
    Caveat (Keras 3.15 / TF 2.21, verified by recording the batches): once a
    global seed is set, which this engine does for reproducible weights,
    ``fit(shuffle=True)`` on numpy arrays draws ONE permutation and reuses it
    every epoch (the ``tf.random.shuffle`` in Keras' tf.data pipeline is
    re-instantiated with the same op seed each epoch). Unseeded ``fit`` (the
    notebook) and the compiled engine reshuffle every epoch. Fed the same row
    orders, the two engines agree to ~1e-7 (see tests/unit/test_engine.py).

Seeds (the design choice, decided by measurement). Tracing and XLA compile
cost ~3-5 s per (variant, data shapes, config) on the 2-core dev machine
(~1 s tracing, 2-3 s XLA), while a warm 1000-epoch run costs ~0.2-0.5 s. So
the compiled loop is traced and compiled ONCE per (variant, task, data shapes,
config), cached in this module, and every seed reuses it: the model's
variables get the initial weights of a fresh model built after
``keras.utils.set_random_seed(seed)`` (exactly the weights ``fit`` starts from
for that seed), the optimizer's variables (slots, iteration counter, learning
rate) are restored to their just-built values, the loop runs, and the trained
weights (BatchNormalization's moving statistics included) are copied into
that per-seed model, which is returned. The next seed's model is built on a
helper thread while the current seed trains. Stacking K seeds' weights into
one graph was measured as the alternative (``tf.vectorized_map`` over
``Model.stateless_call`` with [K, ...] variables, the Keras optimizer on the
stacked variables, per-seed shuffles): ~24-27 us per model and step at K=10
and K=40 against ~30-37 us sequential, i.e. no real gain, because pfor turns
the tiny matmuls into batched dots whose cost grows linearly with K; and it
compiles a new graph for every K (7-29 s cold), so sequential reuse won.
(A hand-vectorised einsum re-implementation of the nets might do better, but
it would no longer train the Keras models as they are.)
Reproducibility: a seed gives bit-identical results for the same config and
data, whichever other seeds are trained in the same call.

Threads: TensorFlow's intra-/inter-op pools are set to the number of CPUs
when the engine first loads TensorFlow (if TF is not initialised yet). The
compiled loop itself runs its tiny ops on one core (XLA:CPU executes them in
sequence; the pool size made no measurable difference), so the second core
pays off through concurrency: ``train_seeds`` is thread-safe, concurrent calls
for different variants/data sets run in parallel on their own compiled loops
(calls needing the same cached loop take turns), and model building overlaps
training.

Persistent XLA cache: if ``BNPIPE_XLA_CACHE_DIR`` is set, the engine adds
``--tf_xla_persistent_cache_directory=<dir>`` to ``TF_XLA_FLAGS`` before it
imports TensorFlow, unless ``TF_XLA_FLAGS`` already names a persistent cache
directory (an explicit setting wins). It only takes effect if TensorFlow has
not read its XLA flags yet, i.e. set it before anything in the process
compiles with XLA. Executables are then reused across processes (measured:
first call 2.1 -> 1.1 s for plain, 3.6 -> 1.8 s for bn; tracing is not
cached). The cache's key holds the names in the traced loop, which take
TensorFlow's process-wide uid counter: a loop traced after other work or in
another order (jobs reach a Dask worker in no fixed order) would compile
again, so each loop is traced with uids of its own (:func:`_stable_names`;
measured on 4 loops over a worker's next runs: 4 new cache entries a run
before, none after, training 14-15 s -> 8-9 s). Loading an entry logs two
harmless ERROR lines from TF (a text-format parse attempt, and
"+prefer-no-scatter/gather" tuning flags reported as missing CPU features);
``TF_CPP_MIN_LOG_LEVEL=3`` hides them. The
cache is specific to the CPU type: do not share it between machines.

Nothing here imports Prefect or MLflow, and importing this module does not
load TensorFlow.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import math
import os
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bnpipe.models import build_model, loss_name
from bnpipe.params import RunConfig

if TYPE_CHECKING:  # pragma: no cover
    import keras
    import numpy as np

TASKS = ("regression", "classification")
XLA_CACHE_ENV = "BNPIPE_XLA_CACHE_DIR"
_XLA_CACHE_FLAG = "--tf_xla_persistent_cache_directory"
_MAX_CACHED = 16

EpochCallback = Callable[[int, int, int], None]


@dataclass
class TrainedModel:
    """One seed's result."""

    seed: int
    model: keras.Model  # its own model object with the trained weights
    history: dict[str, list[float]]  # "loss" and "val_loss", one value per epoch
    seconds: float  # wall time attributable to this seed (compile included for the first)


# --------------------------------------------------------------------------- TF setup

_SETUP_LOCK = threading.Lock()
_TF_CONFIGURED = False
# keras.utils.set_random_seed also seeds Python's, NumPy's and TF's process-wide
# generators (Keras' own seed state is thread-local): seed and build one model at a time.
_BUILD_LOCK = threading.Lock()
# Tracing a loop is Python under the GIL; traced concurrently in several threads,
# four loops took longer than one after the other (GIL thrash), while their XLA
# compiles and runs, which release the GIL, do overlap: trace one at a time.
_TRACE_LOCK = threading.Lock()
# Names in a traced loop (``__inference__all_epochs_<uid>``, ``while_body_<uid>``)
# take TensorFlow's process-wide uid counter, and they are part of the persistent
# XLA cache's key: a loop traced after other work, or after another loop, has a
# new key and compiles again. Jobs reach a Dask worker in no fixed order, so each
# loop is traced with uids of its own: a range picked by a stable hash of the
# loop's key, far above the real counter, continued if the key is traced again.
_NAME_BASE = 1 << 40
_NAME_SPAN = 1 << 24
_NAME_COUNTERS: dict[int, itertools.count] = {}


def _xla_flags_with_cache(env: dict[str, str]) -> str | None:
    """The TF_XLA_FLAGS value to set for BNPIPE_XLA_CACHE_DIR, or None to leave it."""
    cache_dir = env.get(XLA_CACHE_ENV)
    if not cache_dir:
        return None
    current = env.get("TF_XLA_FLAGS", "")
    if _XLA_CACHE_FLAG in current:
        return None
    flag = f"{_XLA_CACHE_FLAG}={cache_dir}"
    return f"{current} {flag}".strip()


def _configure_tf() -> None:
    """Once per process: XLA cache flag (before TF import), threads = CPUs."""
    global _TF_CONFIGURED
    with _SETUP_LOCK:
        if _TF_CONFIGURED:
            return
        flags = _xla_flags_with_cache(dict(os.environ))
        if flags is not None:
            os.makedirs(os.environ[XLA_CACHE_ENV], exist_ok=True)
            os.environ["TF_XLA_FLAGS"] = flags
        import tensorflow as tf

        try:
            n = len(os.sched_getaffinity(0))
        except AttributeError:  # not on Linux
            n = os.cpu_count() or 1
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:
            pass  # TF already initialised by someone else: keep its pools
        _TF_CONFIGURED = True


def preload() -> None:
    """Load and configure TensorFlow and Keras now (~10 s on the dev machine), e.g.
    while a Prefect server boots on the other core, instead of in the first task."""
    _configure_tf()
    import keras  # noqa: F401 - the import is the point


# --------------------------------------------------------------------------- pieces


def make_optimizer(config: RunConfig):
    """A fresh Keras optimizer from ``config`` (Keras defaults unless learning_rate set)."""
    import keras

    cfg: dict[str, Any] = {"name": "optimizer"}  # not Keras' process-wide rmsprop_<n>
    if config.learning_rate is not None:
        cfg["learning_rate"] = float(config.learning_rate)
    return keras.optimizers.get({"class_name": config.optimizer, "config": cfg})


def make_loss(task: str):
    """The task's loss as a Keras ``Loss`` with ``fit``'s reduction (mean over the batch)."""
    import keras

    fn = keras.losses.get(loss_name(task))
    if isinstance(fn, keras.losses.Loss):
        return fn

    class _FunctionLoss(keras.losses.Loss):  # what compile() wraps a loss function in
        def call(self, y_true, y_pred):
            return fn(y_true, y_pred)

    return _FunctionLoss(name=loss_name(task))


_M32 = 0xFFFFFFFF
_GOLDEN = 0x9E3779B9  # keeps a zero seed/epoch away from the hash's fixed point 0


def _mul32(tf, a, c: int):
    """``a * c mod 2**32`` for int64 ``0 <= a < 2**32`` without int64 overflow."""
    lo = a * (c & 0xFFFF)
    hi = tf.bitwise.bitwise_and(a * (c >> 16), 0xFFFF) * 0x10000
    return tf.bitwise.bitwise_and(lo + hi, _M32)


def _mix32(tf, a):
    """A bijective 32-bit integer hash (Wellons' lowbias32) in int64 arithmetic."""
    xor, shift = tf.bitwise.bitwise_xor, tf.bitwise.right_shift
    a = xor(a, shift(a, 16))
    a = _mul32(tf, a, 0x7FEB352D)
    a = xor(a, shift(a, 15))
    a = _mul32(tf, a, 0x846CA68B)
    return xor(a, shift(a, 16))


def epoch_permutation(seed, epoch, n: int):
    """The row order of ``epoch`` for ``seed``: a stateless permutation of ``range(n)``.

    Each row gets a 32-bit hash of (row, seed, epoch) from exact integer
    arithmetic and rows are sorted by it. The hash is a bijection of the row
    index, so there are no ties, and the result is bit-identical eagerly,
    inside the XLA-compiled loop and on any machine (TF's stateless random
    ops give different numbers under XLA than eagerly), so the compiled
    engine's shuffling can be reproduced outside it.
    """
    import tensorflow as tf

    and_, xor = tf.bitwise.bitwise_and, tf.bitwise.bitwise_xor
    seed = tf.cast(seed, tf.int64)
    key = _mix32(tf, and_(seed + _GOLDEN, _M32))
    key = _mix32(tf, and_(xor(key, and_(tf.bitwise.right_shift(seed, 32), _M32)) + _GOLDEN, _M32))
    key = _mix32(tf, and_(key + tf.cast(epoch, tf.int64) + _GOLDEN, _M32))
    rows = tf.range(n, dtype=tf.int64)
    hashed = _mix32(tf, and_(_mix32(tf, xor(rows, key)) + key, _M32))
    return tf.argsort(hashed, stable=True)


def _seeded_model(variant: str, task: str, n_inputs: int, n_outputs: int, seed: int):
    import keras

    with _BUILD_LOCK, _private_python_random(int(seed)):
        keras.utils.set_random_seed(int(seed))
        return build_model(variant, n_inputs, n_outputs, task)


@contextlib.contextmanager
def _private_python_random(seed: int):
    """Keras draws each initializer's seed from Python's global ``random``
    (``keras.src.random.seed_generator.make_default_seed``), which
    ``set_random_seed`` seeds. In a Dask worker the event loop draws from the same
    generator (timing jitter) between the seeding and the build, so the weights
    came out different run to run. For the build, Keras gets a private generator
    seeded alike: the same draws as before, and nobody else's."""
    from keras.src.random import seed_generator

    shared = seed_generator.python_random
    seed_generator.python_random = random.Random(seed)
    try:
        yield
    finally:
        seed_generator.python_random = shared


def _history(loss, val_loss) -> dict[str, list[float]]:
    return {"loss": [float(v) for v in loss], "val_loss": [float(v) for v in val_loss]}


# --------------------------------------------------------------------------- compiled


@contextlib.contextmanager
def _stable_names(key: tuple):
    """While tracing (under _TRACE_LOCK): TensorFlow uids from ``key``'s own range.

    The same key gets the same names in every process, whatever ran before, so
    the persistent XLA cache hits; names stay unique in the process (ranges are
    2**24 apart and a range continues where it stopped). Other threads (a model
    built for the next job, a loop compiling) keep the real counter.
    """
    from tensorflow.python.framework import ops

    slot = int.from_bytes(hashlib.sha256(repr(key).encode()).digest()[:2], "big")
    counter = _NAME_COUNTERS.setdefault(slot, itertools.count(_NAME_BASE + slot * _NAME_SPAN))
    real, tracer = ops.uid, threading.get_ident()

    def uid() -> int:
        return next(counter) if threading.get_ident() == tracer else real()

    ops.uid = uid
    try:
        yield
    finally:
        ops.uid = real


class _CompiledTrainer:
    """One Keras model + optimizer + one XLA-compiled all-epochs loop, for fixed shapes."""

    def __init__(
        self, variant: str, task: str, shapes: tuple[int, int, int, int], config, shuffle: bool
    ):
        import tensorflow as tf

        self.key = _trainer_key(variant, task, shapes, config, shuffle)
        n_train, n_inputs, n_outputs, _n_val = shapes
        self.config = config
        self.shuffle = shuffle
        self.n_train = n_train
        self.lock = threading.Lock()
        with _BUILD_LOCK:
            self.model = build_model(variant, n_inputs, n_outputs, task)
        self.loss = make_loss(task)
        self.optimizer = make_optimizer(config)
        self.optimizer.build(self.model.trainable_variables)  # slots exist before tracing
        self._optimizer_init = [v.numpy() for v in self.optimizer.variables]
        self._loop = tf.function(self._all_epochs, jit_compile=True)

    def _all_epochs(self, x, y, x_val, y_val, seed):
        import tensorflow as tf

        cfg = self.config
        model, loss_fn, optimizer = self.model, self.loss, self.optimizer
        weights = model.trainable_variables
        n = self.n_train
        bs = min(cfg.batch_size, n)
        n_full, rest = divmod(n, bs)

        def step(xb, yb):
            with tf.GradientTape() as tape:
                loss = loss_fn(yb, model(xb, training=True))
            optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights, strict=True))
            return loss

        losses = tf.TensorArray(tf.float32, size=cfg.epochs)
        val_losses = tf.TensorArray(tf.float32, size=cfg.epochs)
        for epoch in tf.range(cfg.epochs):
            if self.shuffle:
                order = epoch_permutation(seed, epoch, n)
                xs, ys = tf.gather(x, order), tf.gather(y, order)
            else:
                xs, ys = x, y
            x_batches = tf.reshape(xs[: n_full * bs], [n_full, bs, -1])
            y_batches = tf.reshape(ys[: n_full * bs], [n_full, bs, -1])
            total = tf.constant(0.0, tf.float32)
            for i in tf.range(n_full):
                total += step(x_batches[i], y_batches[i]) * float(bs)
            if rest:  # the short last batch: its own static-shape step
                total += step(xs[n_full * bs :], ys[n_full * bs :]) * float(rest)
            losses = losses.write(epoch, total / float(n))
            val_losses = val_losses.write(epoch, loss_fn(y_val, model(x_val, training=False)))
        return losses.stack(), val_losses.stack()

    def trace(self, x, y, x_val, y_val, seed) -> None:
        """Trace the loop for these argument types, one loop at a time (_TRACE_LOCK)."""
        with _TRACE_LOCK, _stable_names(self.key):
            self._loop.get_concrete_function(x, y, x_val, y_val, seed)

    def train(self, start_model, x, y, x_val, y_val, seed: int):
        """Train from ``start_model``'s weights; write the result back into it."""
        import tensorflow as tf

        for var, value in zip(self.model.weights, start_model.get_weights(), strict=True):
            var.assign(value)
        for var, value in zip(self.optimizer.variables, self._optimizer_init, strict=True):
            var.assign(value)
        args = (x, y, x_val, y_val, tf.constant(seed, tf.int64))
        self.trace(*args)  # a lookup once traced
        loss, val_loss = self._loop(*args)  # XLA compile (first call) and run: GIL released
        start_model.set_weights(self.model.get_weights())
        return _history(loss.numpy(), val_loss.numpy())


_TRAINERS: dict[tuple, _CompiledTrainer] = {}


def clear_cache() -> None:
    """Drop the cached compiled loops (and their models)."""
    with _SETUP_LOCK:
        _TRAINERS.clear()


def _trainer_key(variant, task, shapes, config: RunConfig, shuffle: bool) -> tuple:
    """What makes one compiled loop: seeds and the split seed do not."""
    return (variant, task, shapes, config.training_key(), shuffle)


def _trainer_for(variant, task, shapes, config: RunConfig, shuffle: bool) -> _CompiledTrainer:
    key = _trainer_key(variant, task, shapes, config, shuffle)
    with _SETUP_LOCK:
        trainer = _TRAINERS.get(key)
        if trainer is None:
            if len(_TRAINERS) >= _MAX_CACHED:
                _TRAINERS.pop(next(iter(_TRAINERS)))
            trainer = _TRAINERS[key] = _CompiledTrainer(variant, task, shapes, config, shuffle)
        return trainer


def _train_compiled(variant, task, x, y, x_val, y_val, seeds, config, shuffle, on_epoch_block):
    from concurrent.futures import ThreadPoolExecutor

    shapes = (x.shape[0], x.shape[1], y.shape[1], x_val.shape[0])
    results = []
    t0 = time.perf_counter()
    trainer = _trainer_for(variant, task, shapes, config, shuffle)

    def build(seed):
        return _seeded_model(variant, task, shapes[1], shapes[2], seed)

    # The next seed's model is built (Python, ~50 ms) on a helper thread while the
    # current seed trains (XLA, GIL released). Keras' seed state is thread-local,
    # and seeding + building happen together on the helper thread.
    with trainer.lock, ThreadPoolExecutor(max_workers=1) as helper:
        upcoming = helper.submit(build, seeds[0])
        for i, seed in enumerate(seeds):
            model = upcoming.result()
            if i + 1 < len(seeds):
                upcoming = helper.submit(build, seeds[i + 1])
            history = trainer.train(model, x, y, x_val, y_val, seed)
            t1 = time.perf_counter()
            results.append(TrainedModel(seed, model, history, t1 - t0))
            t0 = t1
            if on_epoch_block is not None:
                on_epoch_block(seed, config.epochs, config.epochs)
    return results


# --------------------------------------------------------------------------- fit


def _train_fit(variant, task, x, y, x_val, y_val, seeds, config, shuffle, on_epoch_block):
    import keras

    block = max(1, math.ceil(config.epochs / 10))
    results = []
    for seed in seeds:
        t0 = time.perf_counter()
        model = _seeded_model(variant, task, x.shape[1], y.shape[1], seed)
        model.compile(optimizer=make_optimizer(config), loss=loss_name(task))
        callbacks = []
        if on_epoch_block is not None:

            def progress(epoch, logs=None, _seed=seed):
                done = epoch + 1
                if done % block == 0 and done < config.epochs:
                    on_epoch_block(_seed, done, config.epochs)

            callbacks.append(keras.callbacks.LambdaCallback(on_epoch_end=progress))
        fitted = model.fit(
            x,
            y,
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_data=(x_val, y_val),
            verbose=0,
            shuffle=shuffle,
            callbacks=callbacks,
        )
        history = _history(fitted.history["loss"], fitted.history["val_loss"])
        results.append(TrainedModel(seed, model, history, time.perf_counter() - t0))
        if on_epoch_block is not None:
            on_epoch_block(seed, config.epochs, config.epochs)
    return results


# --------------------------------------------------------------------------- API


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

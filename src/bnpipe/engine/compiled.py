"""The ``"compiled"`` engine: all epochs and batches of a seed in ONE
``tf.function(jit_compile=True)`` over the same Keras model, traced and
compiled once per (variant, task, data shapes, config) and reused by every seed
(see :mod:`bnpipe.engine`)."""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import threading
import time

from bnpipe.engine.parts import (
    _BUILD_LOCK,
    TrainedModel,
    _history,
    _seeded_model,
    make_loss,
    make_optimizer,
)
from bnpipe.engine.shuffle import epoch_permutation
from bnpipe.engine.tf_setup import _SETUP_LOCK
from bnpipe.models import build_model
from bnpipe.params import RunConfig

_MAX_CACHED = 16
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

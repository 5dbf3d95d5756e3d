"""Training engine (draft)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from bnpipe.models import build_model, loss_name

ENGINES = ("compiled", "fit")


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 1000
    batch_size: int = 32
    optimizer: str = "rmsprop"
    learning_rate: float | None = None
    shuffle: bool = True
    engine: str = "compiled"


@dataclass
class TrainedModel:
    seed: int
    model: Any
    history: dict[str, list[float]] = field(default_factory=dict)
    seconds: float = 0.0


_TF_READY = False
_TF_LOCK = threading.Lock()


def _configure_tf() -> None:
    global _TF_READY
    with _TF_LOCK:
        if _TF_READY:
            return
        cache_dir = os.environ.get("BNPIPE_XLA_CACHE_DIR")
        if cache_dir and "TF_XLA_FLAGS" not in os.environ:
            os.environ["TF_XLA_FLAGS"] = f"--tf_xla_persistent_cache_directory={cache_dir}"
        import tensorflow as tf

        n = int(os.environ.get('NTH', os.cpu_count() or 1))
        try:
            tf.config.threading.set_intra_op_parallelism_threads(n)
            tf.config.threading.set_inter_op_parallelism_threads(n)
        except RuntimeError:
            pass
        _TF_READY = True


def _make_optimizer(config: TrainConfig):
    import keras

    cfg: dict[str, Any] = {}
    if config.learning_rate is not None:
        cfg["learning_rate"] = float(config.learning_rate)
    return keras.optimizers.get({"class_name": config.optimizer, "config": cfg})


def _make_loss(task: str):
    import keras

    fn = keras.losses.get(loss_name(task))
    if isinstance(fn, keras.losses.Loss):
        return fn

    class _Wrapped(keras.losses.Loss):
        def call(self, y_true, y_pred):
            return fn(y_true, y_pred)

    return _Wrapped(name=loss_name(task))


class _Trainer:
    """One Keras model + optimizer + one XLA-compiled training loop for fixed shapes."""

    def __init__(self, variant, task, shapes, config: TrainConfig):
        import keras
        import tensorflow as tf

        n_train, n_inputs, n_outputs, n_val = shapes
        self.config = config
        self.lock = threading.Lock()
        self.model = build_model(variant, n_inputs, n_outputs, task)
        self.loss = _make_loss(task)
        self.optimizer = _make_optimizer(config)
        self.optimizer.build(self.model.trainable_variables)
        self._opt_init = [v.numpy() for v in self.optimizer.variables]
        self.n_train = n_train
        self.compiled_once = False
        del keras
        self._fn = tf.function(self._loop, jit_compile=True)

    def _loop(self, x, y, xv, yv, seed):
        import tensorflow as tf

        cfg = self.config
        model, loss_fn, opt = self.model, self.loss, self.optimizer
        tvars = model.trainable_variables
        n = self.n_train
        bs = min(cfg.batch_size, n)
        nb, rem = divmod(n, bs)

        def step(xb, yb):
            with tf.GradientTape() as tape:
                pred = model(xb, training=True)
                loss = loss_fn(yb, pred)
            grads = tape.gradient(loss, tvars)
            opt.apply_gradients(zip(grads, tvars))
            return loss

        losses = tf.TensorArray(tf.float32, size=cfg.epochs)
        vlosses = tf.TensorArray(tf.float32, size=cfg.epochs)
        for e in tf.range(cfg.epochs):
            if cfg.shuffle:
                key = tf.stack([seed, tf.cast(e, tf.int64)])
                perm = tf.argsort(tf.random.stateless_uniform([n], seed=key))
                xs = tf.gather(x, perm)
                ys = tf.gather(y, perm)
            else:
                xs, ys = x, y
            xf = tf.reshape(xs[: nb * bs], [nb, bs, -1])
            yf = tf.reshape(ys[: nb * bs], [nb, bs, -1])
            total = tf.constant(0.0)
            for i in (range(nb) if os.environ.get('UNROLL') else tf.range(nb)):
                total += step(xf[i], yf[i]) * bs
            if rem:
                total += step(xs[nb * bs :], ys[nb * bs :]) * rem
            losses = losses.write(e, total / n)
            vlosses = vlosses.write(e, loss_fn(yv, model(xv, training=False)))
        return losses.stack(), vlosses.stack()

    def run(self, init_weights, x, y, xv, yv, seed):
        import tensorflow as tf

        for v, w in zip(self.model.weights, init_weights, strict=True):
            v.assign(w)
        for v, w in zip(self.optimizer.variables, self._opt_init, strict=True):
            v.assign(w)
        loss, vloss = self._fn(x, y, xv, yv, tf.constant(seed, tf.int64))
        return loss.numpy(), vloss.numpy()


_CACHE: dict[tuple, _Trainer] = {}


def clear_cache() -> None:
    _CACHE.clear()


def _train_compiled(variant, task, x, y, xv, yv, seeds, config, on_epoch_block):
    import keras

    shapes = (x.shape[0], x.shape[1], y.shape[1], xv.shape[0])
    key = (variant, task, shapes, config)
    out = []
    t0 = time.perf_counter()
    trainer = _CACHE.get(key)
    if trainer is None:
        trainer = _CACHE[key] = _Trainer(variant, task, shapes, config)
    with trainer.lock:
        for seed in seeds:
            keras.utils.set_random_seed(int(seed))
            m = build_model(variant, shapes[1], shapes[2], task)
            loss, vloss = trainer.run(m.get_weights(), x, y, xv, yv, int(seed))
            m.set_weights(trainer.model.get_weights())
            t1 = time.perf_counter()
            out.append(
                TrainedModel(
                    seed=int(seed),
                    model=m,
                    history={"loss": loss.tolist(), "val_loss": vloss.tolist()},
                    seconds=t1 - t0,
                )
            )
            t0 = t1
            if on_epoch_block is not None:
                on_epoch_block(int(seed), config.epochs, config.epochs)
    return out


def _train_fit(variant, task, x, y, xv, yv, seeds, config, on_epoch_block):
    import keras

    out = []
    for seed in seeds:
        t0 = time.perf_counter()
        keras.utils.set_random_seed(int(seed))
        m = build_model(variant, x.shape[1], y.shape[1], task)
        m.compile(optimizer=_make_optimizer(config), loss=loss_name(task))
        h = m.fit(
            x,
            y,
            epochs=config.epochs,
            batch_size=config.batch_size,
            validation_data=(xv, yv),
            verbose=0,
            shuffle=config.shuffle,
        )
        out.append(
            TrainedModel(
                seed=int(seed),
                model=m,
                history={k: [float(v) for v in h.history[k]] for k in ("loss", "val_loss")},
                seconds=time.perf_counter() - t0,
            )
        )
        if on_epoch_block is not None:
            on_epoch_block(int(seed), config.epochs, config.epochs)
    return out


def train_seeds(
    variant: str,
    task: str,
    x_train,
    y_train,
    x_val,
    y_val,
    *,
    seeds: Sequence[int],
    config: TrainConfig,
    on_epoch_block: Callable[[int, int, int], None] | None = None,
) -> list[TrainedModel]:
    import numpy as np

    _configure_tf()
    arrs = [np.asarray(a, dtype=np.float32) for a in (x_train, y_train, x_val, y_val)]
    fn = _train_compiled if config.engine == "compiled" else _train_fit
    return fn(variant, task, *arrs, list(seeds), config, on_epoch_block)

"""What both engines are made of: the model built for a seed, the optimizer and
the loss from the run's config, and one seed's result (:class:`TrainedModel`)."""

from __future__ import annotations

import contextlib
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bnpipe.models import build_model, loss_name
from bnpipe.params import RunConfig

if TYPE_CHECKING:  # pragma: no cover
    import keras

EpochCallback = Callable[[int, int, int], None]

# keras.utils.set_random_seed also seeds Python's, NumPy's and TF's process-wide
# generators (Keras' own seed state is thread-local): seed and build one model at a time.
_BUILD_LOCK = threading.Lock()


@dataclass
class TrainedModel:
    """One seed's result."""

    seed: int
    model: keras.Model  # its own model object with the trained weights
    history: dict[str, list[float]]  # "loss" and "val_loss", one value per epoch
    seconds: float  # wall time attributable to this seed (compile included for the first)


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

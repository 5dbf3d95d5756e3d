"""The ``"fit"`` engine, the notebook's way: ``model.compile`` and ``model.fit`` on
numpy arrays, the history from ``fit``'s ``History`` (see :mod:`bnpipe.engine`)."""

from __future__ import annotations

import math
import time

from bnpipe.engine.parts import TrainedModel, _history, _seeded_model, make_optimizer
from bnpipe.models import loss_name


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

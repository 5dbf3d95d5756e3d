"""The notebook's two networks, built with Keras.

plain: Input -> Dense(8, swish) x3 -> Dense(out)
bn:    Input -> [Dense(8) -> BatchNormalization -> Activation(swish)] x3 -> Dense(out)

Notebook defect fixed here: its Boston BN cell wires all three Dense layers to
the input ``X`` (so only the last one counts and the net has one hidden layer).
The iris cell shows the intended stacking, which both datasets use here.

TensorFlow is imported inside the functions so importing this module is cheap.
"""

from __future__ import annotations

VARIANTS = ("plain", "bn")
HIDDEN_UNITS = 8
HIDDEN_LAYERS = 3


def build_model(variant: str, n_inputs: int, n_outputs: int, task: str):
    """Build (uncompiled) the notebook's ``plain`` or ``bn`` network.

    Classification ends in a softmax over ``n_outputs`` classes; regression in
    a linear unit per output. Weights are drawn from Keras' global seed, so call
    ``keras.utils.set_random_seed(seed)`` first for a reproducible model.
    """
    import keras
    from keras import layers

    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r}; expected one of {VARIANTS}")
    inputs = keras.Input(shape=(n_inputs,), name="features")
    h = inputs
    for i in range(HIDDEN_LAYERS):
        if variant == "plain":
            h = layers.Dense(HIDDEN_UNITS, activation="swish", name=f"dense_{i}")(h)
        else:
            h = layers.Dense(HIDDEN_UNITS, name=f"dense_{i}")(h)
            h = layers.BatchNormalization(name=f"bn_{i}")(h)
            h = layers.Activation("swish", name=f"swish_{i}")(h)
    activation = "softmax" if task == "classification" else None
    outputs = layers.Dense(n_outputs, activation=activation, name="output")(h)
    return keras.Model(inputs, outputs, name=variant)


def loss_name(task: str) -> str:
    """The notebook's loss for a task type."""
    return "categorical_crossentropy" if task == "classification" else "mse"


def effective_learning_rate(optimizer: str, learning_rate: float | None) -> float:
    """The learning rate a Keras optimizer will use: as given, or its default as
    Keras writes it in the optimizer's signature (0.001, not the float32 variable's
    0.0010000000474974513)."""
    if learning_rate is not None:
        return float(learning_rate)
    import inspect

    import keras

    built = keras.optimizers.get(optimizer)
    parameter = inspect.signature(type(built).__init__).parameters.get("learning_rate")
    if parameter is not None and isinstance(parameter.default, int | float):
        return float(parameter.default)
    return float(str(built.learning_rate.numpy()))  # float32's shortest repr


def predict_frame(model, pre, rows):
    """Raw CSV rows in, a DataFrame of predictions out (same index as ``rows``).

    Regression: a ``prediction`` column, in the target's own units (a network
    trained on a standardized target has its outputs mapped back by
    ``pre.inverse_y``). Classification: ``label`` plus one ``proba_<class>`` column
    per class. Rows :meth:`~bnpipe.features.Preprocessor.transform_x` refuses raise
    its ``ValueError`` (``KeyError`` for a missing column).
    """
    return predictions(model, pre, pre.transform_x(rows), rows.index)


def predictions(model, pre, x, index):
    """:func:`predict_frame` on model inputs ``x`` (``pre.transform_x`` of the rows
    whose ``index`` the frame takes)."""
    import numpy as np
    import pandas as pd

    out = np.asarray(pre.inverse_y(np.asarray(model(x, training=False))), dtype=np.float64)
    if pre.task == "classification":
        frame = pd.DataFrame(
            {f"proba_{c}": out[:, i] for i, c in enumerate(pre.classes)}, index=index
        )
        frame.insert(0, "label", np.asarray(pre.classes, dtype=object)[out.argmax(axis=1)])
        return frame
    return pd.DataFrame({"prediction": out[:, 0]}, index=index)

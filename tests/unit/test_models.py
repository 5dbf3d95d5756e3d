"""bnpipe.models: the notebook's plain and bn networks, and predict_frame.

The bn tests assert the stacking that the notebook's Boston cell got wrong
(there every Dense layer read the input, leaving a one-hidden-layer net).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnpipe.catalog import parse_entry
from bnpipe.features import Preprocessor
from bnpipe.models import (
    HIDDEN_LAYERS,
    HIDDEN_UNITS,
    VARIANTS,
    build_model,
    effective_learning_rate,
    loss_name,
    predict_frame,
)

# --------------------------------------------------------------------------- no TensorFlow needed


def test_constants_match_the_notebook():
    assert VARIANTS == ("plain", "bn")
    assert (HIDDEN_UNITS, HIDDEN_LAYERS) == (8, 3)


def test_loss_name():
    assert loss_name("regression") == "mse"
    assert loss_name("classification") == "categorical_crossentropy"


def test_an_explicit_learning_rate_wins():
    assert effective_learning_rate("adam", 0.02) == 0.02


@pytest.mark.slow  # imports Keras
@pytest.mark.parametrize(("optimizer", "documented"), [("rmsprop", "0.001"), ("sgd", "0.01")])
def test_the_default_learning_rate_is_keras_documented_value(optimizer, documented):
    # the optimizer's variable holds float32 0.0010000000474974513; the param must read 0.001
    assert str(effective_learning_rate(optimizer, None)) == documented


@pytest.mark.slow  # build_model imports Keras first
def test_unknown_variant_is_rejected():
    with pytest.raises(ValueError, match="unknown variant 'dropout'"):
        build_model("dropout", 4, 1, "regression")


# --------------------------------------------------------------------------- the graphs (TensorFlow)


def _producers(model):
    """Map each layer to the layer whose output it reads (single-input layers)."""
    by_output = {id(layer.output): layer for layer in model.layers}
    return {layer.name: by_output.get(id(layer.input)) for layer in model.layers[1:]}


def _kind(layer) -> str:
    return type(layer).__name__


def _activation(layer) -> str:
    """The activation's name; Keras 3 names swish ``silu``, so compare the function."""
    import keras

    for name in ("swish", "softmax", "linear"):
        if layer.activation is keras.activations.get(name):
            return name
    return getattr(layer.activation, "__name__", str(layer.activation))


@pytest.mark.slow
def test_plain_is_three_swish_dense_layers_then_the_output():
    import keras

    model = build_model("plain", 13, 1, "regression")
    layers = model.layers[1:]
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in model.layers)
    assert [_kind(layer) for layer in layers] == ["Dense"] * 4
    hidden, output = layers[:3], layers[3]
    assert [layer.units for layer in hidden] == [8, 8, 8]
    assert [_activation(layer) for layer in hidden] == ["swish"] * 3
    assert output.units == 1 and _activation(output) == "linear"
    producers = _producers(model)
    chain = [model.layers[0], *layers]
    for prev, layer in zip(chain, layers, strict=False):
        assert producers[layer.name] is prev  # each layer reads the one before
    assert model.count_params() == (13 * 8 + 8) + 2 * (8 * 8 + 8) + (8 + 1)
    assert model.input_shape == (None, 13) and model.output_shape == (None, 1)


@pytest.mark.slow
def test_bn_stacks_dense_batchnorm_swish_three_times():
    import keras

    model = build_model("bn", 13, 1, "regression")
    bns = [layer for layer in model.layers if isinstance(layer, keras.layers.BatchNormalization)]
    assert len(bns) == 3
    producers = _producers(model)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    hidden, output = dense[:3], dense[3]
    assert [layer.units for layer in hidden] == [8, 8, 8]
    assert all(_activation(layer) == "linear" for layer in hidden)  # swish comes after BN

    consumers = {}
    for name, producer in producers.items():
        if producer is not None:
            consumers.setdefault(producer.name, []).append(model.get_layer(name))

    block_input = model.layers[0]  # the Input
    for layer in hidden:
        # the stacking the notebook's Boston cell lost: Dense reads the previous block
        assert producers[layer.name] is block_input
        (bn,) = consumers[layer.name]
        assert isinstance(bn, keras.layers.BatchNormalization)
        (act,) = consumers[bn.name]
        assert isinstance(act, keras.layers.Activation) and _activation(act) == "swish"
        block_input = act
    assert producers[output.name] is block_input
    assert consumers[model.layers[0].name] == [hidden[0]]  # only the first Dense reads X

    bn_params = 4 * 8 * 3  # gamma, beta, moving mean, moving variance
    assert model.count_params() == (13 * 8 + 8) + 2 * (8 * 8 + 8) + (8 + 1) + bn_params


@pytest.mark.slow
@pytest.mark.parametrize("variant", VARIANTS)
def test_classification_ends_in_a_softmax_over_the_classes(variant):
    model = build_model(variant, 4, 3, "classification")
    output = model.layers[-1]
    assert output.units == 3 and _activation(output) == "softmax"
    x = np.random.default_rng(0).normal(size=(5, 4)).astype(np.float32)
    proba = np.asarray(model(x, training=False))
    assert proba.shape == (5, 3)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)


@pytest.mark.slow
def test_weights_follow_the_seed():
    """Built as training builds them (a private generator for Keras' initializer
    seeds): with ``keras.utils.set_random_seed`` alone, another thread drawing
    from Python's global ``random`` (a Prefect or Dask event loop) changed them."""
    from bnpipe.engine.parts import _seeded_model

    a = _seeded_model("bn", "regression", 4, 1, seed=3).get_weights()
    b = _seeded_model("bn", "regression", 4, 1, seed=3).get_weights()
    c = _seeded_model("bn", "regression", 4, 1, seed=4).get_weights()
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0], c[0])


@pytest.mark.slow
def test_effective_learning_rate_defaults_to_keras():
    assert effective_learning_rate("rmsprop", None) == pytest.approx(0.001)
    assert effective_learning_rate("sgd", None) == pytest.approx(0.01)


# --------------------------------------------------------------------------- predict_frame


REG = parse_entry(
    "toy",
    {
        "url": "https://example.com/toy.csv",
        "task": "regression",
        "target": "y",
        "features": ["a", "b"],
        "rename": {"a": "alpha"},
    },
)
CLS = parse_entry(
    "flowers",
    {
        "url": "https://example.com/flowers.csv",
        "task": "classification",
        "target": "종류",
        "features": ["길이", "폭"],
        "rename": {"길이": "length"},
    },
)


@pytest.mark.slow
def test_predict_frame_regression_keeps_the_index():
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [0.5, 0.1, 0.2], "y": [1.0, 2.0, 3.0]})
    pre = Preprocessor.fit(train, REG, scaling="standard")
    model = build_model("bn", 2, 1, "regression")
    rows = pd.DataFrame({"b": [0.3, 0.4], "a": [5.0, 6.0], "extra": ["x", "y"]}, index=[10, 20])
    out = predict_frame(model, pre, rows)
    assert list(out.columns) == ["prediction"] and list(out.index) == [10, 20]
    expected = np.asarray(model(pre.transform_x(rows), training=False))[:, 0]
    np.testing.assert_allclose(out["prediction"].to_numpy(), expected, rtol=1e-6)


@pytest.mark.slow
def test_predict_frame_classification_labels_and_probabilities():
    train = pd.DataFrame(
        {"길이": [5.0, 6.0, 7.0, 5.5], "폭": [3.0, 2.5, 3.2, 2.9], "종류": ["b", "a", "c", "a"]}
    )
    pre = Preprocessor.fit(train, CLS)
    model = build_model("plain", 2, pre.n_outputs, "classification")
    rows = train.drop(columns="종류").set_index(pd.Index(["r1", "r2", "r3", "r4"]))
    out = predict_frame(model, pre, rows)
    assert list(out.columns) == ["label", "proba_a", "proba_b", "proba_c"]
    assert list(out.index) == ["r1", "r2", "r3", "r4"]
    proba = out[["proba_a", "proba_b", "proba_c"]].to_numpy()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert list(out["label"]) == [pre.classes[i] for i in proba.argmax(axis=1)]


@pytest.mark.slow
def test_predict_frame_scores_blank_cells_under_impute():
    spec = parse_entry(
        "toy",
        {
            "url": "https://example.com/toy.csv",
            "task": "regression",
            "target": "y",
            "features": ["a", "b", "c"],
            "categorical": ["c"],
            "missing": "impute",
        },
    )
    train = pd.DataFrame(
        {"a": [1.0, np.nan, 3.0, 4.0], "b": [1, 2, 3, 4], "c": ["x", "y", "x", None], "y": 1.0}
    )
    pre = Preprocessor.fit(train, spec, scaling="standard")
    model = build_model("plain", len(pre.input_names), 1, "regression")
    rows = pd.DataFrame({"a": [np.nan, 2.0], "b": [np.nan, 1.0], "c": [None, "unseen"]})
    out = predict_frame(model, pre, rows)
    assert list(out.columns) == ["prediction"] and np.isfinite(out["prediction"]).all()


@pytest.mark.slow
def test_predict_frame_refuses_blanks_under_error():
    pre = Preprocessor.fit(pd.DataFrame({"a": [1.0, 2.0], "b": [0.5, 0.1], "y": [1.0, 2.0]}), REG)
    model = build_model("plain", 2, 1, "regression")
    with pytest.raises(ValueError, match=r"column 'a': blank cells in row 7 \(missing: error\)"):
        predict_frame(model, pre, pd.DataFrame({"a": [np.nan], "b": [0.3]}, index=[7]))

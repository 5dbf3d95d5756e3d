"""bnpipe.features: prepare, the fixed-seed split, the Preprocessor and encode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnpipe.catalog import load_catalog, parse_entry
from bnpipe.features import Preprocessor, encode, prepare, split

CATALOG = Path(__file__).resolve().parents[2] / "datasets.yaml"

REG = parse_entry(
    "toy",
    {
        "url": "https://example.com/toy.csv",
        "task": "regression",
        "target": "Y value",
        "features": ["x1", "x2", "color"],
        "categorical": ["color"],
        "rename": {"x1": "first", "Y value": "y"},
    },
)
CLS = parse_entry(
    "flowers",
    {
        "url": "https://example.com/flowers.csv",
        "task": "classification",
        "target": "종류",
        "features": ["길이", "폭"],
        "rename": {"길이": "length", "폭": "width", "종류": "kind"},
    },
)


def reg_frame(n: int = 100, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x1": rng.normal(10.0, 3.0, n),
            "unused": np.arange(n),
            "x2": rng.integers(0, 5, n),
            "color": rng.choice(["red", "green", "blue"], n),
            "Y value": rng.normal(0.0, 1.0, n),
        }
    )


def cls_frame(sizes=(40, 30, 30), seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    kinds = np.repeat(["setosa", "versicolor", "virginica"][: len(sizes)], sizes)
    n = len(kinds)
    return pd.DataFrame({"종류": kinds, "길이": rng.normal(5, 1, n), "폭": rng.normal(3, 0.5, n)})


# --------------------------------------------------------------------------- prepare


def test_prepare_keeps_features_then_target_under_csv_names():
    df = reg_frame(10).iloc[::-1]  # a non-default index
    out = prepare(df, REG)
    assert list(out.columns) == ["x1", "x2", "color", "Y value"]
    assert list(out.index) == list(range(10))
    np.testing.assert_array_equal(out["x1"].to_numpy(), df["x1"].to_numpy())


def test_prepare_raises_on_a_missing_column():
    with pytest.raises(KeyError, match="x2"):
        prepare(reg_frame(10).drop(columns="x2"), REG)


# --------------------------------------------------------------------------- split


def _ids(part: pd.DataFrame) -> set[int]:
    return set(part["id"].tolist())


def test_regression_split_is_70_15_15_disjoint_and_complete():
    df = reg_frame(100).assign(id=range(100))
    parts = split(df, task="regression", target="Y value", seed=7)
    assert (len(parts.train), len(parts.val), len(parts.test)) == (70, 15, 15)
    train, val, test = _ids(parts.train), _ids(parts.val), _ids(parts.test)
    assert not (train & val or train & test or val & test)
    assert train | val | test == set(range(100))
    for part in (parts.train, parts.val, parts.test):
        assert list(part.index) == list(range(len(part)))
        assert part["id"].is_monotonic_increasing  # rows keep their file order


def test_split_is_fixed_by_its_seed():
    df = reg_frame(200).assign(id=range(200))
    a = split(df, task="regression", target="Y value", seed=42)
    b = split(df, task="regression", target="Y value", seed=42)
    c = split(df, task="regression", target="Y value", seed=43)
    pd.testing.assert_frame_equal(a.test, b.test)
    pd.testing.assert_frame_equal(a.train, b.train)
    assert _ids(a.test) != _ids(c.test)


def test_split_of_a_tiny_frame_still_has_validation_and_test_rows():
    parts = split(reg_frame(5), task="regression", target="Y value", seed=0)
    assert (len(parts.train), len(parts.val), len(parts.test)) == (3, 1, 1)


def test_classification_split_is_stratified():
    df = cls_frame(sizes=(60, 25, 15)).assign(id=range(100))
    parts = split(df, task="classification", target="종류", seed=3)
    counts = {
        name: part["종류"].value_counts().to_dict()
        for name, part in (("train", parts.train), ("val", parts.val), ("test", parts.test))
    }
    # per class: round(15%) to validation and to test, the rest to training
    assert counts["val"] == {"setosa": 9, "versicolor": 4, "virginica": 2}
    assert counts["test"] == {"setosa": 9, "versicolor": 4, "virginica": 2}
    assert counts["train"] == {"setosa": 42, "versicolor": 17, "virginica": 11}
    assert _ids(parts.train) | _ids(parts.val) | _ids(parts.test) == set(range(100))
    assert not _ids(parts.train) & _ids(parts.test)


def test_classification_split_gives_every_class_to_every_part_on_real_iris(data_mirror):
    df = pd.read_csv(data_mirror / "iris.csv")
    parts = split(df, task="classification", target="품종", seed=42)
    for part in (parts.train, parts.val, parts.test):
        assert sorted(part["품종"].unique()) == ["setosa", "versicolor", "virginica"]
    assert (len(parts.train), len(parts.val), len(parts.test)) == (102, 24, 24)


def test_a_rare_class_always_reaches_training():
    df = cls_frame(sizes=(30, 30, 2))
    parts = split(df, task="classification", target="종류", seed=0)
    assert set(parts.train["종류"]) == {"setosa", "versicolor", "virginica"}


# --------------------------------------------------------------------------- Preprocessor


def test_fit_records_features_categories_and_clean_names():
    df = reg_frame(60)
    pre = Preprocessor.fit(prepare(df, REG), REG)
    assert pre.task == "regression" and pre.target == "y"
    assert pre.features == ["first", "x2", "color"]
    assert pre.raw_features == ["x1", "x2", "color"]
    assert pre.categories == {"color": ["blue", "green", "red"]}
    assert pre.input_names == ["first", "x2", "color=blue", "color=green", "color=red"]
    assert pre.classes == [] and pre.n_outputs == 1
    assert pre.mean == [] and pre.scale == []  # scaling "none" learns nothing


def test_transform_x_one_hot_encodes_categoricals():
    rows = pd.DataFrame(
        {"x1": [1.5, 2.5, 3.5], "x2": [0, 1, 2], "color": ["red", "blue", "purple"], "Y value": 0}
    )
    pre = Preprocessor.fit(pd.concat([rows.iloc[:2]] * 3), REG)
    x = pre.transform_x(rows)
    assert x.dtype == np.float32 and x.shape == (3, 4)
    np.testing.assert_array_equal(
        x,
        np.array(
            [[1.5, 0, 0, 1], [2.5, 1, 1, 0], [3.5, 2, 0, 0]],  # an unseen level is all zeros
            dtype=np.float32,
        ),
    )


def test_transform_accepts_raw_csv_names_and_clean_names():
    df = prepare(reg_frame(30), REG)
    pre = Preprocessor.fit(df, REG)
    raw = pre.transform_x(df)
    clean = pre.transform_x(df.rename(columns={"x1": "first", "Y value": "y"}))
    np.testing.assert_array_equal(raw, clean)
    np.testing.assert_array_equal(
        pre.transform_y(df), pre.transform_y(df.rename(columns=REG.rename))
    )


def test_transform_x_names_missing_columns():
    pre = Preprocessor.fit(prepare(reg_frame(30), REG), REG)
    with pytest.raises(KeyError, match="missing required columns: x2"):
        pre.transform_x(reg_frame(5).drop(columns="x2"))


def test_standard_scaling_is_fitted_on_training_rows_only():
    df = reg_frame(200, seed=1)
    df.loc[df.index >= 100, "x1"] += 1000.0  # a very different second half
    train = prepare(df.iloc[:100], REG)
    pre = Preprocessor.fit(train, REG, scaling="standard")
    expected = pre._encode(train)  # the unscaled design matrix
    np.testing.assert_allclose(pre.mean, expected.mean(axis=0), rtol=1e-6)
    assert pre.mean[0] == pytest.approx(train["x1"].mean(), rel=1e-5)
    assert pre.mean[0] < 100  # the other half did not leak in

    x_train = pre.transform_x(train)
    np.testing.assert_allclose(x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(x_train.std(axis=0), 1.0, atol=1e-5)
    x_other = pre.transform_x(prepare(df.iloc[100:], REG))
    assert x_other[:, 0].mean() > 100  # scaled with the training statistics


def test_standard_scaling_leaves_a_constant_column_finite():
    df = prepare(reg_frame(30), REG).assign(x2=4)
    pre = Preprocessor.fit(df, REG, scaling="standard")
    assert pre.scale[1] == 1.0
    x = pre.transform_x(df)
    assert np.isfinite(x).all() and (x[:, 1] == 0).all()


def test_fit_rejects_an_unknown_scaling():
    with pytest.raises(ValueError, match="input_scaling must be one of"):
        Preprocessor.fit(prepare(reg_frame(10), REG), REG, scaling="minmax")


def test_transform_y_regression_is_a_float_column():
    df = prepare(reg_frame(10), REG)
    pre = Preprocessor.fit(df, REG)
    y = pre.transform_y(df)
    assert y.shape == (10, 1) and y.dtype == np.float32
    np.testing.assert_allclose(y[:, 0], df["Y value"].to_numpy(), rtol=1e-6)


def test_classification_targets_one_hot_and_indices():
    df = cls_frame(sizes=(3, 2, 2))
    pre = Preprocessor.fit(df, CLS)
    assert pre.classes == ["setosa", "versicolor", "virginica"] and pre.n_outputs == 3
    assert pre.target == "kind" and pre.features == ["length", "width"]
    idx = pre.y_index(df)
    np.testing.assert_array_equal(idx, [0, 0, 0, 1, 1, 2, 2])
    y = pre.transform_y(df)
    assert y.dtype == np.float32 and y.shape == (7, 3)
    np.testing.assert_array_equal(y.argmax(axis=1), idx)
    np.testing.assert_array_equal(y.sum(axis=1), 1.0)


def test_y_index_rejects_an_unseen_class():
    pre = Preprocessor.fit(cls_frame(sizes=(3, 3)), CLS)
    rows = cls_frame(sizes=(1, 1, 1))
    with pytest.raises(ValueError, match=r"classes not seen in training: \['virginica'\]"):
        pre.y_index(rows)


def test_preprocessor_round_trips_through_json():
    df = prepare(reg_frame(50), REG)
    pre = Preprocessor.fit(df, REG, scaling="standard")
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again == pre
    np.testing.assert_array_equal(again.transform_x(df), pre.transform_x(df))
    cpre = Preprocessor.fit(cls_frame(), CLS)
    assert Preprocessor.from_dict(json.loads(json.dumps(cpre.to_dict()))) == cpre


# --------------------------------------------------------------------------- encode


def test_encode_synthetic_regression():
    df = reg_frame(100)
    enc = encode(df, REG, split_seed=5, scaling="standard")
    assert (
        enc.x_train.shape == (70, 5) and enc.x_val.shape == (15, 5) and enc.x_test.shape == (15, 5)
    )
    assert enc.y_train.shape == (70, 1)
    for x in (enc.x_train, enc.x_val, enc.x_test):
        assert x.dtype == np.float32
    np.testing.assert_allclose(enc.x_train.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(enc.y_test_true, enc.split.test["Y value"].to_numpy(), rtol=1e-6)
    # the split frames stay in raw CSV form, ready for a served model
    assert list(enc.split.test.columns) == ["x1", "x2", "color", "Y value"]


def test_encode_real_boston(data_mirror):
    spec = load_catalog(CATALOG)["boston"]
    df = pd.read_csv(data_mirror / "boston.csv")
    enc = encode(df, spec, split_seed=42, scaling="none")
    assert (len(enc.x_train), len(enc.x_val), len(enc.x_test)) == (354, 76, 76)
    assert enc.x_train.shape[1] == 13 and enc.pre.input_names == list(spec.features)
    chas = enc.pre.input_names.index("chas")
    assert set(np.unique(enc.x_train[:, chas])) <= {0.0, 1.0}  # the quoted "0"/"1" is numeric
    assert np.isfinite(enc.x_train).all()
    # unscaled by default, like the notebook
    tax = enc.pre.input_names.index("tax")
    assert enc.x_train[:, tax].mean() > 100


def test_encode_real_iris_with_its_renamed_headers(data_mirror):
    spec = load_catalog(CATALOG)["iris"]
    df = pd.read_csv(data_mirror / "iris.csv")
    enc = encode(df, spec, split_seed=42, scaling="standard")
    assert enc.pre.input_names == ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    assert enc.pre.classes == ["setosa", "versicolor", "virginica"]
    assert enc.y_train.shape == (102, 3) and enc.y_test.shape == (24, 3)
    np.testing.assert_array_equal(enc.y_test.argmax(axis=1), enc.y_test_true)
    np.testing.assert_array_equal(np.bincount(enc.y_test_true), [8, 8, 8])
    # the first column (header 꽃잎길이) really is sepal length: the largest of the four
    assert len(enc.pre.mean) == 4
    raw_means = df[list(spec.features)].mean().to_numpy()
    assert raw_means.argmax() == 0
    # a served model takes the CSV rows as they are
    np.testing.assert_allclose(enc.pre.transform_x(enc.split.test), enc.x_test)

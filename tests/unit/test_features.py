"""bnpipe.features: prepare, the fixed-seed split, the Preprocessor and encode."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnpipe.catalog import load_catalog, parse_entry
from bnpipe.features import DataError, Preprocessor, encode, prepare, split

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


# --------------------------------------------------------------------------- blanks, dates, rare levels

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def _spec(**fields):
    """A regression spec: numeric a (renamed alpha), numeric b, categorical colour."""
    entry = {
        "url": "https://example.com/flats.csv",
        "task": "regression",
        "target": "price",
        "features": ["a", "b", "colour"],
        "categorical": ["colour"],
        "rename": {"a": "alpha"},
    }
    return parse_entry("flats", {**entry, **fields})


def _frame(n: int = 40, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "a": rng.normal(10.0, 2.0, n).round(2),
            "b": rng.integers(0, 9, n),
            "colour": rng.choice(["red", "green", "blue"], n),
            "price": rng.normal(100.0, 5.0, n),
        }
    )


def test_impute_fills_numeric_blanks_with_the_training_median_only():
    spec = _spec(missing="impute")
    train = _frame(20)
    train.loc[[2, 5], "a"] = np.nan
    pre = Preprocessor.fit(train, spec)
    assert pre.medians["alpha"] == pytest.approx(np.nanmedian(train["a"]))
    assert pre.medians["b"] == pytest.approx(np.median(train["b"]))
    served = pd.DataFrame({"a": [np.nan, 1000.0], "b": [np.nan, 3], "colour": ["red", "red"]})
    x = pre.transform_x(served)
    names = pre.input_names
    assert x[0, names.index("alpha")] == pytest.approx(pre.medians["alpha"], rel=1e-6)
    assert x[0, names.index("b")] == pytest.approx(pre.medians["b"])
    assert x[1, names.index("alpha")] == 1000.0  # the served rows do not refit anything


def test_encode_fits_medians_on_training_rows_not_validation_or_test():
    spec = _spec(missing="impute")
    df = _frame(200, seed=3)
    df.loc[::7, "a"] = np.nan
    enc = encode(df, spec, split_seed=1, scaling="none")
    train = enc.split.train["a"]
    assert enc.pre.medians["alpha"] == pytest.approx(train.median())
    assert enc.pre.medians["alpha"] != pytest.approx(df["a"].median())  # 200 rows vs 140
    blank = enc.split.test["a"].isna().to_numpy()
    assert blank.any()
    col = enc.pre.input_names.index("alpha")
    np.testing.assert_allclose(enc.x_test[blank, col], enc.pre.medians["alpha"], rtol=1e-6)


def test_an_indicator_input_for_numeric_features_blank_in_training():
    spec = _spec(missing="impute")
    train = _frame(20)
    train.loc[[2, 5], "a"] = np.nan
    pre = Preprocessor.fit(train, spec)
    assert pre.indicators == ["alpha"]  # b had no blank in training: no indicator
    assert pre.input_names[:3] == ["alpha", "alpha__missing", "b"]
    assert pre.input_sources[:3] == ["a", "a", "b"]  # CSV names
    x = pre.transform_x(train)
    np.testing.assert_array_equal(x[:, 1], train["a"].isna().astype(np.float32))
    served = pd.DataFrame({"a": [1.0, np.nan], "b": [np.nan, 2], "colour": ["red", "red"]})
    x = pre.transform_x(served)
    assert list(x[:, 1]) == [0.0, 1.0] and np.isfinite(x).all()


def test_impute_gives_categoricals_a_missing_level_always():
    spec = _spec(missing="impute")
    pre = Preprocessor.fit(_frame(20), spec)  # no blank colour in training
    assert pre.categories["colour"] == ["blue", "green", "red", "__missing__"]
    served = pd.DataFrame({"a": [1.0, 2.0, 3.0], "b": [1, 2, 3], "colour": [None, "  ", "red"]})
    x = pre.transform_x(served)
    one_hot = x[:, [pre.input_names.index(f"colour={v}") for v in pre.categories["colour"]]]
    np.testing.assert_array_equal(one_hot, [[0, 0, 0, 1], [0, 0, 0, 1], [0, 0, 1, 0]])


def test_drop_removes_rows_blank_in_drop_features_before_the_split_and_counts_them():
    spec = _spec(missing={"default": "impute", "columns": {"b": "drop", "colour": "drop"}})
    df = _frame(60)
    df["b"] = df["b"].astype(float)
    df.loc[[1, 2, 3], "b"] = np.nan
    df.loc[[3, 4], "colour"] = None  # row 3 blank twice: counted once
    df.loc[[5, 6], "a"] = np.nan  # impute: kept
    enc = encode(df, spec, split_seed=0, scaling="none")
    assert enc.dropped == {"blank_target": 0, "blank_features": 4}
    kept = pd.concat([enc.split.train, enc.split.val, enc.split.test])
    assert len(kept) == 56 and kept["b"].notna().all() and kept["colour"].notna().all()
    assert kept["a"].isna().sum() == 2
    assert "__missing__" not in enc.pre.categories["colour"]  # drop, not impute
    with pytest.raises(ValueError, match=r"column 'b': blank cells in row 0 \(missing: drop"):
        enc.pre.transform_x(pd.DataFrame({"a": [1.0], "b": [np.nan], "colour": ["red"]}))


@pytest.mark.parametrize("missing", ["error", "impute", "drop"])
def test_rows_with_a_blank_target_are_never_trained_on(missing):
    spec = _spec(missing=missing)
    df = _frame(50)
    df.loc[[0, 10, 20], "price"] = np.nan
    enc = encode(df, spec, split_seed=0, scaling="none")
    assert enc.dropped == {"blank_target": 3, "blank_features": 0}
    assert len(enc.x_train) + len(enc.x_val) + len(enc.x_test) == 47
    assert np.isfinite(enc.y_train).all() and np.isfinite(enc.y_test).all()


def test_blank_class_labels_are_dropped_and_counted():
    df = cls_frame(sizes=(20, 20, 20)).astype({"종류": object})
    df.loc[[0, 30], "종류"] = None
    df.loc[[5], "종류"] = " "
    enc = encode(df, CLS, split_seed=0, scaling="none")
    assert enc.dropped["blank_target"] == 3
    assert enc.pre.classes == ["setosa", "versicolor", "virginica"]


def test_clean_data_drops_nothing():
    enc = encode(reg_frame(40), REG, split_seed=0, scaling="none")
    assert enc.dropped == {"blank_target": 0, "blank_features": 0}


def test_error_policy_blank_raises_naming_the_column_and_rows():
    pre = Preprocessor.fit(_frame(20), _spec())
    rows = pd.DataFrame({"a": [1.0, np.nan, np.nan], "b": [1, 2, 3], "colour": ["red"] * 3})
    with pytest.raises(
        ValueError, match=r"column 'a': blank cells in rows 1, 2 \(missing: error\)"
    ):
        pre.transform_x(rows)
    df = _frame(30)
    df.loc[[4, 9], "colour"] = None
    with pytest.raises(DataError, match=r"^flats: column 'colour': blank cells in rows 6, 11"):
        encode(df, _spec(), split_seed=0, scaling="none")  # rows are CSV lines (header: 1)


def test_rare_categories_fold_into_other():
    spec = _spec(min_frequency=3)
    train = _frame(30)
    train.loc[[0, 1], "colour"] = "pink"  # seen twice: rare
    train.loc[[2], "colour"] = "gold"  # seen once: rare
    train.loc[[3], "colour"] = "red"
    pre = Preprocessor.fit(train, spec)
    assert pre.categories["colour"] == ["blue", "green", "red", "__other__"]
    x = pre.transform_x(train.iloc[:4])
    other = x[:, pre.input_names.index("colour=__other__")]
    assert list(other) == [1.0, 1.0, 1.0, 0.0]
    assert x[3, pre.input_names.index("colour=red")] == 1.0


def test_unseen_levels_map_to_other_when_it_exists_else_all_zeros():
    rows = pd.DataFrame({"a": [1.0], "b": [1], "colour": ["purple"]})
    train = _frame(30)
    train.loc[[0], "colour"] = "pink"
    folded = Preprocessor.fit(train, _spec(min_frequency=2))
    x = folded.transform_x(rows)
    assert x[0, folded.input_names.index("colour=__other__")] == 1.0
    assert x[0, 2:].sum() == 1.0
    # min_frequency set, but no level rare: no __other__, today's all-zero one-hot
    unfolded = Preprocessor.fit(_frame(30), _spec(min_frequency=2))
    assert "__other__" not in unfolded.categories["colour"]
    assert unfolded.transform_x(rows)[0, 2:].sum() == 0.0


def test_categorical_numbers_match_their_training_form():
    spec = _spec(features=["a", "b", "rooms"], categorical=["rooms"], missing="impute")
    train = _frame(20).assign(rooms=[1.0, 2.0, np.nan, 3.0] * 5)  # blanks: read as floats
    pre = Preprocessor.fit(train, spec)
    assert pre.categories["rooms"] == ["1.0", "2.0", "3.0", "__missing__"]
    x = pre.transform_x(pd.DataFrame({"a": [1.0] * 3, "b": [1] * 3, "rooms": ["2", 2, "2.0"]}))
    col = pre.input_names.index("rooms=2.0")
    assert list(x[:, col]) == [1.0, 1.0, 1.0]


_DATE_ENTRY = {
    "url": "https://example.com/d.csv",
    "task": "regression",
    "target": "price",
    "features": ["a", "when"],
    "dates": ["when"],
}


def _dated(times: bool) -> tuple:
    spec = _spec(features=["a", "when"], categorical=[], dates=["when"], missing="impute")
    stamps = ["2024-01-15", "2023-06-03", "2022-12-31", "2024-02-29"]
    if times:
        stamps[1] = "2023-06-03 14:30"
    train = pd.DataFrame({"a": [1.0, 2.0, 3.0, 4.0], "when": stamps, "price": 1.0})
    return spec, train


def test_dates_become_year_month_and_weekday_without_times():
    spec, train = _dated(times=False)
    pre = Preprocessor.fit(train, spec)
    assert pre.dates == {"when": ["year", "month", "dayofweek"]}
    assert pre.input_names == ["alpha", "when__year", "when__month", "when__dayofweek"]
    assert pre.column_types["when"] == "string"
    x = pre.transform_x(train)
    np.testing.assert_array_equal(x[0, 1:], [2024, 1, 0])  # 2024-01-15 was a Monday
    np.testing.assert_array_equal(x[3, 1:], [2024, 2, 3])


def test_a_time_of_day_in_training_adds_the_hour():
    spec, train = _dated(times=True)
    pre = Preprocessor.fit(train, spec)
    assert pre.dates == {"when": ["year", "month", "dayofweek", "hour"]}
    x = pre.transform_x(train)
    np.testing.assert_array_equal(x[:, -1], [0, 14, 0, 0])


def test_blank_and_unparseable_dates_are_imputed_with_an_indicator():
    spec, train = _dated(times=False)
    train = pd.concat([train, pd.DataFrame({"a": [5.0], "when": ["someday"], "price": [1.0]})])
    pre = Preprocessor.fit(train.reset_index(drop=True), spec)
    assert pre.indicators == ["when"] and pre.input_names[-1] == "when__missing"
    assert pre.medians["when__year"] == 2023.5  # of the four parsed dates
    x = pre.transform_x(pd.DataFrame({"a": [1.0, 1.0], "when": [None, "2021-03-04"]}))
    np.testing.assert_array_equal(x[0, 1:], [2023.5, pre.medians["when__month"], 4.0, 1.0])
    np.testing.assert_array_equal(x[1, 1:], [2021, 3, 3, 0])


def test_unparseable_dates_under_error_are_refused():
    _, train = _dated(times=False)
    pre = Preprocessor.fit(train, parse_entry("d", {**_DATE_ENTRY, "missing": "error"}))
    with pytest.raises(ValueError, match="column 'when': blank or unparseable dates in row 1"):
        pre.transform_x(pd.DataFrame({"a": [1.0, 2.0], "when": ["2020-01-01", "soon"]}))


def test_non_finite_values_after_encoding_name_dataset_csv_column_and_rows():
    df = _frame(40)
    df.loc[[3, 8, 12], "a"] = np.inf
    with pytest.raises(DataError) as info:
        encode(df, _spec(), split_seed=0, scaling="standard")
    assert str(info.value).startswith(
        "flats: column 'a': 3 rows are not finite numbers after encoding"
    )  # the CSV name, not the renamed 'alpha'
    assert isinstance(info.value, ValueError)


def test_text_in_a_numeric_column_is_one_clear_error():
    pre = Preprocessor.fit(_frame(20), _spec())
    rows = pd.DataFrame({"a": ["1.5", "abc", "2", "n/a"], "b": [1, 2, 3, 4], "colour": ["red"] * 4})
    with pytest.raises(ValueError) as info:
        pre.transform_x(rows)
    assert str(info.value) == "column 'a': text in a numeric column, e.g. rows 1, 3: 'abc', 'n/a'"
    df = _frame(30).astype({"b": object})
    df.loc[[4, 9], "b"] = ["lots", "few"]
    with pytest.raises(
        DataError, match=r"^flats: column 'b': text in a numeric column, e.g. rows 6, 11"
    ):
        encode(df, _spec(missing="impute"), split_seed=0, scaling="none")


RULE = (
    "(every value must be finite as the model's float32 input, after its scaling: "
    "no ±inf, nothing beyond ±3.4e+38)"
)


def test_values_no_float32_holds_are_refused_naming_column_rows_and_the_rule():
    """1e39 is finite in float64 but overflows the network's float32 input: refused
    like inf, by column (its CSV name) and row, not scored as a NaN probability."""
    pre = Preprocessor.fit(_frame(20), _spec())
    rows = pd.DataFrame(
        {"a": [1.5, 1e39, 2.0, -np.inf], "b": [1, 2, 3, 4], "colour": ["red"] * 4},
        index=[7, 8, 9, 10],
    )
    with pytest.raises(ValueError) as info:
        pre.transform_x(rows)
    assert str(info.value) == (
        f"column 'a': not a finite float32 number, e.g. rows 8, 10: '1e+39', '-inf' {RULE}"
    )
    with pytest.raises(
        ValueError, match=r"^column 'b': not a finite float32 number, e.g. row 0: 'Infinity'"
    ):
        pre.check(pd.DataFrame({"a": [1.0], "b": ["Infinity"], "colour": ["red"]}))
    finite = pre.transform_x(rows.assign(a=[1.5, 3.4e38, 2.0, -3.4e38]))  # within float32
    assert np.isfinite(finite).all()


def test_a_value_that_overflows_after_scaling_is_refused_too():
    train = _frame(20).assign(a=lambda d: d["a"] * 1e-15)  # a tiny standard deviation
    pre = Preprocessor.fit(train, _spec(), scaling="standard")
    with pytest.raises(
        ValueError, match=r"^column 'a': not a finite float32 number, e.g. row 0: '1e\+30'"
    ):
        pre.transform_x(pd.DataFrame({"a": [1e30], "b": [1], "colour": ["red"]}))


def test_headers_in_another_unicode_form_are_the_same_columns():
    """Hangul typed on macOS comes as NFD (decomposed jamo); the catalog and the
    signature hold NFC. Both spellings are the same column."""
    import unicodedata

    pre = Preprocessor.fit(prepare(cls_frame(), CLS), CLS)
    rows = cls_frame().drop(columns="종류").iloc[:5]
    nfd = rows.rename(columns=lambda c: unicodedata.normalize("NFD", c))
    assert list(nfd.columns) != list(rows.columns)
    np.testing.assert_array_equal(pre.transform_x(nfd), pre.transform_x(rows))
    with pytest.raises(KeyError, match="missing required columns: width"):
        pre.transform_x(nfd.drop(columns=unicodedata.normalize("NFD", "폭")))


def test_format_2_round_trips_with_every_new_field():
    spec = _spec(missing="impute", min_frequency=3)
    train = _frame(40)
    train.loc[[1, 2], "a"] = np.nan
    train.loc[[3], "colour"] = "pink"
    pre = Preprocessor.fit(train, spec, scaling="standard")
    d = json.loads(json.dumps(pre.to_dict()))
    assert d["format"] == 2 and d["missing"] == {
        "alpha": "impute",
        "b": "impute",
        "colour": "impute",
    }
    again = Preprocessor.from_dict(d)
    assert again == pre
    np.testing.assert_array_equal(again.transform_x(train), pre.transform_x(train))


def test_a_format_1_dict_loads_and_transforms_as_it_did():
    old = json.loads((FIXTURES / "format1" / "preprocessor.json").read_text(encoding="utf-8"))
    expected = json.loads((FIXTURES / "format1" / "expected.json").read_text(encoding="utf-8"))
    assert "format" not in old  # written by bnpipe before format 2
    pre = Preprocessor.from_dict(old)
    rows = pd.DataFrame(expected["rows"])
    x = pre.transform_x(rows)
    assert pre.input_names == expected["input_names"]
    np.testing.assert_array_equal(x, np.asarray(expected["x"], dtype=np.float32))
    # ... and identically after a round-trip through format 2
    again = Preprocessor.from_dict(json.loads(json.dumps(pre.to_dict())))
    assert again.to_dict()["format"] == 2 and again == pre
    np.testing.assert_array_equal(again.transform_x(rows), x)
    # format 1 knew no blanks: a blank is refused, not a NaN prediction
    with pytest.raises(ValueError, match="column 'side length': blank cells in row 0"):
        pre.transform_x(rows.assign(**{"side length": [np.nan, 1.0, 2.0, 3.0]}))


def test_a_newer_format_is_refused():
    d = Preprocessor.fit(_frame(20), _spec()).to_dict() | {"format": 3}
    with pytest.raises(
        ValueError,
        match=r"preprocessor format 3 is newer than this bnpipe understands \(2\); upgrade bnpipe",
    ):
        Preprocessor.from_dict(d)


def test_unknown_or_missing_keys_are_refused():
    d = Preprocessor.fit(_frame(20), _spec()).to_dict()
    with pytest.raises(ValueError, match=r"format 2: unknown keys \['clip'\]"):
        Preprocessor.from_dict(d | {"clip": 3})
    with pytest.raises(ValueError, match=r"format 2: missing keys \['medians'\]"):
        Preprocessor.from_dict({k: v for k, v in d.items() if k != "medians"})
    old = json.loads((FIXTURES / "format1" / "preprocessor.json").read_text(encoding="utf-8"))
    with pytest.raises(ValueError, match=r"format 1: unknown keys \['medians'\]"):
        Preprocessor.from_dict(old | {"medians": {}})


def test_signature_types_numeric_inputs_double_under_impute():
    from bnpipe.serving import signature

    def types(pre):
        return {
            c.name: getattr(c.type, "name", None) or c.type.to_dict()["type"]
            for c in signature(pre).inputs.inputs
        }

    spec, train = _dated(times=False)
    plain = Preprocessor.fit(_frame(20), _spec())
    assert types(plain) == {"a": "double", "b": "long", "colour": "string"}  # as today
    imputed = Preprocessor.fit(
        _frame(20), _spec(missing={"default": "error", "columns": {"a": "impute"}})
    )
    assert types(imputed) == {"a": "any", "b": "any", "colour": "string"}
    dated = Preprocessor.fit(train, spec)
    assert types(dated) == {"a": "any", "when": "string"}

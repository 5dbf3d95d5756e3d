"""The generic GX validator, the two shipped suites, and suite drafting."""

from __future__ import annotations

import io
import json
import pickle
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from bnpipe.validation import (
    DataValidationError,
    Failure,
    ValidationReport,
    _exception_messages,
    check,
    draft_suite,
    load_suite,
    validate,
    write_suite,
)

pytestmark = pytest.mark.slow  # the first validation imports Great Expectations (~10 s)

SUITES = Path(__file__).resolve().parents[2] / "expectations"
BOSTON_SUITE = SUITES / "boston.json"
IRIS_SUITE = SUITES / "iris.json"
BOSTON_COLUMNS = [
    "crim", "zn", "indus", "chas", "nox", "rm", "age",
    "dis", "rad", "tax", "ptratio", "b", "lstat", "medv",
]  # fmt: skip
IRIS_COLUMNS = ["꽃잎길이", "꽃잎폭", "꽃받침길이", "꽃받침폭", "품종"]


@pytest.fixture(scope="module")
def boston_csv(data_mirror: Path) -> str:
    return (data_mirror / "boston.csv").read_text(encoding="utf-8")


@pytest.fixture
def boston(boston_csv: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(boston_csv))


@pytest.fixture
def iris(data_mirror: Path) -> pd.DataFrame:
    return pd.read_csv(data_mirror / "iris.csv")


def failing(df: pd.DataFrame, suite: Path, dataset: str) -> DataValidationError:
    """Run check() expecting it to fail; return the error."""
    with pytest.raises(DataValidationError) as info:
        check(df, suite, dataset)
    return info.value


def only(report: ValidationReport, column: str | None, rule: str) -> Failure:
    matches = [f for f in report.failures if f.column == column and f.rule == rule]
    assert len(matches) == 1, report.summary()
    return matches[0]


# --------------------------------------------------------------------------- real data


def test_real_boston_passes_its_suite(boston):
    report = check(boston, BOSTON_SUITE, "boston")
    assert report.success and report.failures == ()
    assert report.rows == 506
    assert report.evaluated == len(load_suite(BOSTON_SUITE)["expectations"]) == 44
    assert report.summary().startswith("boston: validation passed (44 expectations, 506 rows)")


def test_real_iris_passes_its_suite(iris):
    report = check(iris, IRIS_SUITE, "iris")
    assert report.success and report.failures == ()
    assert report.rows == 150
    assert report.evaluated == len(load_suite(IRIS_SUITE)["expectations"])


@pytest.mark.parametrize(
    ("path", "columns"), [(BOSTON_SUITE, BOSTON_COLUMNS), (IRIS_SUITE, IRIS_COLUMNS)]
)
def test_suites_pin_the_upstream_columns_and_explain_themselves(path, columns):
    suite = load_suite(path)
    assert suite["name"] == path.stem
    ordered = [e for e in suite["expectations"] if e["type"].endswith("match_ordered_list")]
    assert [e["kwargs"]["column_list"] for e in ordered] == [columns]
    assert len(suite["meta"]["notes"]) > 100
    for column in columns:  # every column is guarded against nulls
        assert {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}} in [
            {"type": e["type"], "kwargs": e["kwargs"]} for e in suite["expectations"]
        ]


def test_iris_suite_notes_the_mislabeled_headers():
    assert "mislabeled" in load_suite(IRIS_SUITE)["meta"]["notes"]


# --------------------------------------------------------------------------- bad data


def test_missing_column_is_named(boston):
    err = failing(boston.drop(columns="lstat"), BOSTON_SUITE, "boston")
    message = str(err)
    assert message.startswith("boston: validation failed (2 of")
    assert "column 'lstat': expect_column_to_exist — column is missing from the data" in message
    table = only(err.report, None, "expect_table_columns_to_match_ordered_list")
    assert "missing [lstat]" in table.detail
    assert only(err.report, "lstat", "expect_column_to_exist").offending == []
    assert [f.rule for f in err.report.failures] == [  # in suite order: table rules first
        "expect_table_columns_to_match_ordered_list",
        "expect_column_to_exist",
    ]


def test_extra_column_is_named(boston):
    err = failing(boston.assign(zipcode=2134), BOSTON_SUITE, "boston")
    failure = only(err.report, None, "expect_table_columns_to_match_ordered_list")
    assert "unexpected [zipcode]" in failure.detail
    assert len(err.report.failures) == 1
    assert "boston" in str(err) and "zipcode" in str(err)


def test_renamed_column_is_not_matched_case_insensitively(boston):
    # GX alone would check rules on "medv" against "MEDV"; the column must count as missing.
    err = failing(boston.rename(columns={"medv": "MEDV"}), BOSTON_SUITE, "boston")
    assert only(err.report, "medv", "expect_column_to_exist")
    table = only(err.report, None, "expect_table_columns_to_match_ordered_list")
    assert "missing [medv]" in table.detail and "unexpected [MEDV]" in table.detail
    assert "column 'medv': expect_column_to_exist" in str(err)


def test_reordered_columns_fail(iris):
    err = failing(iris[list(reversed(IRIS_COLUMNS))], IRIS_SUITE, "iris")
    failure = only(err.report, None, "expect_table_columns_to_match_ordered_list")
    assert "found [품종, 꽃받침폭" in failure.detail
    assert len(err.report.failures) == 1


def test_text_in_a_numeric_column_is_shown(boston_csv):
    # As it arrives: a CSV cell that is not a number makes pandas read the column as text.
    df = pd.read_csv(io.StringIO(boston_csv.replace("\n0.00632,", "\nn/a?,", 1)))
    assert df["crim"].dtype == "str"
    err = failing(df, BOSTON_SUITE, "boston")
    failure = only(err.report, "crim", "expect_column_values_to_be_in_type_list")
    assert failure.offending == ["n/a?"] and failure.count == 1
    assert "found str" in failure.detail
    ranged = only(err.report, "crim", "expect_column_values_to_be_between")
    assert "could not be checked" in ranged.detail  # GX answers with exception_info only
    assert "column 'crim': expect_column_values_to_be_in_type_list" in str(err)
    assert "1 row, e.g. ['n/a?']" in str(err)


def test_missing_values_are_counted(boston):
    boston.loc[[3, 8, 13], "rm"] = np.nan
    err = failing(boston, BOSTON_SUITE, "boston")
    failure = only(err.report, "rm", "expect_column_values_to_not_be_null")
    assert failure.count == 3 and failure.offending == []  # the NaNs themselves say nothing
    assert len(err.report.failures) == 1
    assert str(err).splitlines()[1] == (
        "  column 'rm': expect_column_values_to_not_be_null — values must not be null; 3 rows"
    )


def test_negative_medv_is_shown(boston):
    boston.loc[[3, 7, 9], "medv"] = [-1.0, -5.0, -1.0]
    err = failing(boston, BOSTON_SUITE, "boston")
    assert err.report.failures == (
        Failure("medv", "expect_column_values_to_be_between", "values must be > 0 and <= 50", [-1.0, -5.0], 3),
    )  # fmt: skip
    assert str(err) == (
        "boston: validation failed (1 of 44 expectations) against suite 'boston'\n"
        "  column 'medv': expect_column_values_to_be_between — values must be > 0 and <= 50;"
        " 3 rows, e.g. [-1.0, -5.0]"
    )


def test_chas_must_be_zero_or_one(boston):
    boston.loc[0, "chas"] = 2
    err = failing(boston, BOSTON_SUITE, "boston")
    assert only(err.report, "chas", "expect_column_values_to_be_in_set").offending == [2]


def test_unknown_iris_class_is_shown(iris):
    iris.loc[[10, 60], "품종"] = ["Iris-setosa", "unknown"]
    err = failing(iris, IRIS_SUITE, "iris")
    failure = only(err.report, "품종", "expect_column_values_to_be_in_set")
    assert failure.offending == ["Iris-setosa", "unknown"] and failure.count == 2
    assert str(err).startswith("iris: validation failed (1 of 16 expectations)")
    assert "column '품종': expect_column_values_to_be_in_set" in str(err)


def test_non_positive_iris_measure_fails(iris):
    iris.loc[0, "꽃잎폭"] = 0.0
    err = failing(iris, IRIS_SUITE, "iris")
    assert only(err.report, "꽃잎폭", "expect_column_values_to_be_between").offending == [0.0]


@pytest.mark.parametrize(("dataset", "rows"), [("boston", 20), ("iris", 12)])
def test_too_few_rows(dataset, rows, boston, iris):
    df = {"boston": boston, "iris": iris}[dataset].head(rows)
    err = failing(df, SUITES / f"{dataset}.json", dataset)
    failure = only(err.report, None, "expect_table_row_count_to_be_between")
    assert failure.detail.endswith(f"; found {rows}")
    assert str(err).startswith(f"{dataset}: validation failed (1 of")
    assert "table: expect_table_row_count_to_be_between — row count must be" in str(err)


# --------------------------------------------------------------------------- plumbing


def test_report_is_json_and_error_survives_pickling(boston):
    boston.loc[0, "medv"] = -1.0
    err = failing(boston, BOSTON_SUITE, "boston")
    data = json.loads(json.dumps(err.report.to_dict()))
    assert data["success"] is False and data["dataset"] == "boston"
    assert data["failures"][0]["offending"] == [-1.0]
    copy = pickle.loads(pickle.dumps(err))  # Prefect ships task exceptions across processes
    assert isinstance(copy, DataValidationError) and copy.report == err.report
    assert str(copy) == str(err) and isinstance(err, ValueError)


def test_repeated_validation_is_fast_and_sees_mutations(boston):
    validate(boston, BOSTON_SUITE, "boston")  # warm (GX imported, context built)
    start = time.perf_counter()
    assert validate(boston, BOSTON_SUITE, "boston").success
    assert time.perf_counter() - start < 0.5
    boston.loc[0, "medv"] = -1.0  # mutated in place: must not be answered from the memo
    assert not validate(boston, BOSTON_SUITE, "boston").success


def test_exception_info_in_both_shapes():
    single = {"raised_exception": True, "exception_message": "boom", "exception_traceback": "tb"}
    keyed = {"MetricConfigurationID(a)": single, "MetricConfigurationID(b)": dict(single)}
    quiet = {"raised_exception": False, "exception_message": None, "exception_traceback": None}
    assert _exception_messages(single) == ["boom"]
    assert _exception_messages(keyed) == ["boom"]
    assert _exception_messages({"x": quiet, "y": {**single, "exception_message": "b2"}}) == ["b2"]
    assert _exception_messages(quiet) == _exception_messages(None) == []


def test_a_broken_suite_fails_loudly_instead_of_shrinking(tmp_path, boston):
    # GX's ExpectationSuite(**dict) would log and drop the unknown expectation.
    suite = {"name": "typo", "expectations": [{"type": "expect_column_valuse_to_not_be_null", "kwargs": {"column": "crim"}}]}  # fmt: skip
    write_suite(suite, tmp_path / "typo.json")
    with pytest.raises(ValueError, match="expect_column_valuse_to_not_be_null"):
        validate(boston, tmp_path / "typo.json", "boston")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="bad.json"):
        load_suite(tmp_path / "bad.json")


# --------------------------------------------------------------------------- drafting


def synthetic() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    n = 40
    return pd.DataFrame(
        {
            "temp": rng.normal(-5, 10, n),  # negative values
            "count": rng.integers(3, 90, n),  # ints, all >= 0
            "ratio": rng.uniform(0.2, 0.4, n),
            "maybe": np.where(np.arange(n) % 7 == 0, np.nan, 1.5),  # has nulls
            "city": pd.Series(rng.choice(["Seoul", "Busan"], n), dtype="str"),
            "flag": rng.integers(0, 2, n).astype(bool),
            "label": rng.choice(["a", "b", "c"], n),
        }
    )


def test_draft_suite_round_trip_on_a_synthetic_frame(tmp_path):
    df = synthetic()
    suite = draft_suite(df, "toy", target="label", task="classification", categorical=["city"])
    write_suite(suite, tmp_path / "toy.json")
    assert load_suite(tmp_path / "toy.json") == suite
    report = validate(df, tmp_path / "toy.json", "toy")
    assert report.success, report.summary()
    assert report.evaluated == len(suite["expectations"])

    rules = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert rules[("expect_table_columns_to_match_ordered_list", None)]["column_list"] == list(df)
    assert ("expect_column_values_to_not_be_null", "maybe") not in rules
    assert ("expect_column_values_to_not_be_null", "temp") in rules
    assert rules[("expect_column_values_to_be_in_set", "label")]["value_set"] == ["a", "b", "c"]
    assert rules[("expect_column_values_to_be_in_set", "city")]["value_set"] == ["Busan", "Seoul"]
    assert rules[("expect_column_values_to_be_in_set", "flag")]["value_set"] == [False, True]
    assert ("expect_column_values_to_be_in_type_list", "city") not in rules
    temp = rules[("expect_column_values_to_be_between", "temp")]
    assert temp["min_value"] < df["temp"].min() < df["temp"].max() < temp["max_value"]
    assert temp["min_value"] < 0
    count = rules[("expect_column_values_to_be_between", "count")]
    assert count["min_value"] >= 0 and count["max_value"] > df["count"].max()
    assert rules[("expect_table_row_count_to_be_between", None)] == {"min_value": 20}

    # The draft has teeth: an out-of-range value and a new class fail.
    df.loc[0, "ratio"] = 5.0
    df.loc[1, "label"] = "z"
    report = validate(df, tmp_path / "toy.json", "toy")
    assert {(f.column, f.rule) for f in report.failures} == {
        ("ratio", "expect_column_values_to_be_between"),
        ("label", "expect_column_values_to_be_in_set"),
    }


def test_draft_suite_round_trip_on_boston(boston, tmp_path):
    suite = draft_suite(boston, "boston", target="medv", task="regression", categorical=["chas"])
    write_suite(suite, tmp_path / "boston.json")
    assert validate(boston, tmp_path / "boston.json", "boston").success
    boston.loc[0, "medv"] = -1.0
    failure = only(
        validate(boston, tmp_path / "boston.json", "boston"),
        "medv",
        "expect_column_values_to_be_between",
    )
    assert failure.offending == [-1.0]


def test_draft_suite_on_tiny_frames_still_passes(tmp_path):
    df = pd.DataFrame({"x": [1.0, 1.0, 1.0], "y": ["u", "v", "u"]})
    suite = draft_suite(df, "tiny", target="y", task="classification", categorical=[])
    write_suite(suite, tmp_path / "tiny.json")
    assert validate(df, tmp_path / "tiny.json", "tiny").success


def test_draft_suite_skips_ranges_it_cannot_draw(tmp_path):
    df = pd.DataFrame({"x": [1.0, np.inf, 3.0] * 5, "y": [0.5, 0.7, 0.9] * 5})
    suite = draft_suite(df, "inf", target="y", task="regression", categorical=[])
    ranged = [
        e["kwargs"]["column"]
        for e in suite["expectations"]
        if e["type"] == "expect_column_values_to_be_between"
    ]
    assert ranged == ["y"]
    write_suite(suite, tmp_path / "inf.json")
    assert validate(df, tmp_path / "inf.json", "inf").success


def test_draft_suite_rejects_unknown_columns_and_tasks():
    with pytest.raises(ValueError, match="nope"):
        draft_suite(synthetic(), "toy", target="nope", task="regression", categorical=[])
    with pytest.raises(ValueError, match="task"):
        draft_suite(synthetic(), "toy", target="temp", task="ranking", categorical=[])

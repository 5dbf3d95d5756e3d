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

from bnpipe.drafting import draft_suite
from bnpipe.validation import (
    DataValidationError,
    Failure,
    ValidationReport,
    check,
    load_suite,
    validate,
    write_suite,
)
from bnpipe.validation.failures import _exception_messages

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


def failing(
    df: pd.DataFrame, suite: Path, dataset: str, reference_rows: int | None = None
) -> DataValidationError:
    """Run check() expecting it to fail; return the error."""
    with pytest.raises(DataValidationError) as info:
        check(df, suite, dataset, reference_rows)
    return info.value


def only(report: ValidationReport, column: str | None, rule: str) -> Failure:
    matches = [f for f in report.failures if f.column == column and f.rule == rule]
    assert len(matches) == 1, report.summary()
    return matches[0]


# --------------------------------------------------------------------------- real data


def test_real_boston_passes_its_suite(boston):
    report = check(boston, BOSTON_SUITE, "boston", reference_rows=506)
    assert report.success and report.failures == ()
    assert report.rows == 506
    assert report.evaluated == len(load_suite(BOSTON_SUITE)["expectations"]) == 73
    assert report.summary().startswith("boston: validation passed (73 expectations, 506 rows)")
    # without a last good snapshot the near-reference rule is not evaluated
    assert check(boston, BOSTON_SUITE, "boston").evaluated == 72


def test_real_iris_passes_its_suite(iris):
    report = check(iris, IRIS_SUITE, "iris", reference_rows=150)
    assert report.success and report.failures == ()
    assert report.rows == 150
    assert report.evaluated == len(load_suite(IRIS_SUITE)["expectations"]) == 27
    assert check(iris, IRIS_SUITE, "iris").evaluated == 26


def test_real_data_read_as_the_pipeline_reads_it_passes(data_mirror):
    for name, suite in (("boston", BOSTON_SUITE), ("iris", IRIS_SUITE)):
        df = pd.read_csv(data_mirror / f"{name}.csv", encoding="utf-8-sig")
        report = validate(df, suite, name, reference_rows=len(df))
        assert report.success, report.summary()


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
        "boston: validation failed (1 of 72 expectations) against suite 'boston'\n"
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
    assert str(err).startswith("iris: validation failed (1 of 26 expectations)")
    assert "column '품종': expect_column_values_to_be_in_set" in str(err)


def test_non_positive_iris_measure_fails(iris):
    iris.loc[0, "꽃잎폭"] = 0.0
    err = failing(iris, IRIS_SUITE, "iris")
    assert only(err.report, "꽃잎폭", "expect_column_values_to_be_between").offending == [0.0]


@pytest.mark.parametrize(
    ("dataset", "rows", "also"),
    [
        # the first 20 boston rows are all off the river (chas 0): a constant feature
        ("boston", 20, ("chas", "expect_column_unique_value_count_to_be_between")),
        # the first 12 iris rows are all setosa: two species missing
        ("iris", 12, ("품종", "bnpipe_expect_column_value_counts_to_be_at_least")),
    ],
)
def test_too_few_rows(dataset, rows, also, boston, iris):
    df = {"boston": boston, "iris": iris}[dataset].head(rows)
    err = failing(df, SUITES / f"{dataset}.json", dataset)
    failure = only(err.report, None, "expect_table_row_count_to_be_between")
    assert failure.detail.endswith(f"; found {rows}")
    assert str(err).startswith(f"{dataset}: validation failed (2 of")
    assert {(f.column, f.rule) for f in err.report.failures} == {
        (None, "expect_table_row_count_to_be_between"),
        also,
    }
    assert "table: expect_table_row_count_to_be_between — row count must be" in str(err)


# --------------------------------------------------------------------------- sanity rules

FINITE = "bnpipe_expect_column_values_to_be_finite"
CLASS_COUNTS = "bnpipe_expect_column_value_counts_to_be_at_least"
NEAR_REFERENCE = "bnpipe_expect_row_count_to_be_near_reference"
DUPLICATES = "expect_compound_columns_to_be_unique"
UNIQUE_COUNT = "expect_column_unique_value_count_to_be_between"


@pytest.mark.parametrize(("path", "columns"), [(BOSTON_SUITE, BOSTON_COLUMNS), (IRIS_SUITE, IRIS_COLUMNS)])  # fmt: skip
def test_suites_hold_the_sanity_rules(path, columns):
    suite = load_suite(path)
    rules = {(e["type"], e["kwargs"].get("column")): e for e in suite["expectations"]}
    target = columns[-1]
    numeric = BOSTON_COLUMNS if path == BOSTON_SUITE else IRIS_COLUMNS[:4]
    for column in numeric:
        assert rules[(FINITE, column)]["kwargs"] == {"column": column}
    for column in columns[:-1]:
        assert rules[(UNIQUE_COUNT, column)]["kwargs"] == {"column": column, "min_value": 2}
    assert (UNIQUE_COUNT, target) not in rules
    assert rules[(DUPLICATES, None)]["kwargs"] == {"column_list": columns, "mostly": 0.9}
    assert rules[(NEAR_REFERENCE, None)]["kwargs"] == {"min_ratio": 0.5, "max_ratio": 2.0}
    new = [e for e in suite["expectations"] if e["type"] in (FINITE, CLASS_COUNTS, NEAR_REFERENCE, DUPLICATES, UNIQUE_COUNT)]  # fmt: skip
    assert all(e["meta"]["why"] for e in new)
    if path == IRIS_SUITE:
        in_set = rules[("expect_column_values_to_be_in_set", "품종")]["kwargs"]["value_set"]
        assert rules[(CLASS_COUNTS, "품종")]["kwargs"] == {
            "column": "품종",
            "value_set": in_set,
            "min_value": 10,
        }
    else:
        assert not [e for e in suite["expectations"] if e["type"] == CLASS_COUNTS]


def test_all_rows_identical_fail_duplicates_and_constant_features(boston):
    df = pd.concat([boston.head(1)] * 506, ignore_index=True)
    err = failing(df, BOSTON_SUITE, "boston", reference_rows=506)
    dup = only(err.report, None, DUPLICATES)
    assert dup.detail == "at most 10% of rows may duplicate another row; found 100%"
    assert dup.count == 506 and dup.offending == [boston.iloc[0].to_dict()]
    for column in BOSTON_COLUMNS[:-1]:  # every feature, not the target
        failure = only(err.report, column, UNIQUE_COUNT)
        assert failure.detail == (
            "must have at least 2 distinct values (a constant column carries no information);"
            " found 1"
        )
        assert failure.offending == [boston.loc[0, column]]
    assert len(err.report.failures) == 1 + 13
    assert "table: expect_compound_columns_to_be_unique — at most 10% of rows" in str(err)
    assert f"column 'rad': {UNIQUE_COUNT} — must have at least 2 distinct values" in str(err)


def test_iris_duplicates_pass_but_many_more_fail(iris):
    assert iris.duplicated(keep=False).sum() == 5  # upstream, accepted
    assert validate(iris, IRIS_SUITE, "iris").success
    doubled = pd.concat([iris, iris.head(20)], ignore_index=True)  # 170 rows, 44 duplicated
    err = failing(doubled, IRIS_SUITE, "iris", reference_rows=150)
    failure = only(err.report, None, DUPLICATES)
    assert failure.count == 44 and len(failure.offending) == 2  # whole rows: a couple
    assert failure.detail.endswith("; found 25.9%")
    assert len(err.report.failures) == 1


def test_inf_and_overflow_fail_the_finite_rule(boston):
    boston.loc[[5, 9, 40], "crim"] = [np.inf, 1e308, 3.4e38]  # 3.4e38 still fits float32
    err = failing(boston, BOSTON_SUITE, "boston")
    assert err.report.failures == (
        Failure("crim", FINITE, "values must be finite (no ±inf, |x| within float32 range)", ["inf", 1e308], 2),
    )  # fmt: skip
    assert "column 'crim': bnpipe_expect_column_values_to_be_finite" in str(err)
    assert "2 rows, e.g. ['inf', 1e+308]" in str(err)


def test_negative_inf_fails_finite_and_range_and_stays_json(iris):
    iris.loc[[0, 1, 2], "꽃잎폭"] = [-np.inf, -np.inf, 3.5e38]
    err = failing(iris, IRIS_SUITE, "iris")
    finite = only(err.report, "꽃잎폭", FINITE)
    assert finite.count == 3 and finite.offending == ["-inf", 3.5e38]
    ranged = only(err.report, "꽃잎폭", "expect_column_values_to_be_between")
    assert "-inf" in ranged.offending  # GX's own examples are made JSON-safe too
    assert [f.rule for f in err.report.failures] == [FINITE, "expect_column_values_to_be_between"]


def test_finite_rule_ignores_text_that_is_not_a_number(boston_csv):
    df = pd.read_csv(io.StringIO(boston_csv.replace("\n0.00632,", "\nn/a?,", 1)))
    report = validate(df, BOSTON_SUITE, "boston")
    assert not [f for f in report.failures if f.rule == FINITE]  # the type rule's business
    only(report, "crim", "expect_column_values_to_be_in_type_list")
    df.loc[1, "crim"] = "-inf"  # but text that parses as a number is checked
    assert only(validate(df, BOSTON_SUITE, "boston"), "crim", FINITE).offending == ["-inf"]


def test_report_with_inf_is_json_without_infinity(boston):
    boston.loc[[1, 2], "crim"] = [np.inf, -np.inf]
    boston.loc[3, "medv"] = np.inf  # also out of range: GX's example list holds it
    boston["tax"] = boston["tax"].astype("float64")
    boston.loc[4, "tax"] = 1e308  # out of range and beyond float32
    report = validate(boston, BOSTON_SUITE, "boston")
    assert not report.success
    text = json.dumps(report.to_dict())
    assert "Infinity" not in text and "NaN" not in text
    json.dumps(report.to_dict(), allow_nan=False)  # strict JSON
    crim = only(report, "crim", FINITE)
    assert crim.offending == ["inf", "-inf"] and crim.count == 2
    assert only(report, "medv", "expect_column_values_to_be_between").offending == ["inf"]
    assert only(report, "tax", FINITE).offending == [1e308]


def test_iris_with_one_class_is_refused(iris):
    df = iris[iris["품종"] == "setosa"].reset_index(drop=True)  # 50 rows, >= 30
    err = failing(df, IRIS_SUITE, "iris")
    assert err.report.failures == (
        Failure(
            "품종",
            CLASS_COUNTS,
            "each of [setosa, versicolor, virginica] must occur at least 10 times;"
            " found {'setosa': 50, 'versicolor': 0, 'virginica': 0}",
            ["versicolor", "virginica"],
            None,
        ),
    )
    assert f"column '품종': {CLASS_COUNTS} — each of [setosa, versicolor, virginica]" in str(err)


def test_iris_with_one_class_missing_is_refused(iris):
    df = iris[iris["품종"] != "virginica"].reset_index(drop=True)
    err = failing(df, IRIS_SUITE, "iris", reference_rows=150)  # 100 rows: near enough
    failure = only(err.report, "품종", CLASS_COUNTS)
    assert failure.offending == ["virginica"]
    assert "found {'setosa': 50, 'versicolor': 50, 'virginica': 0}" in failure.detail
    assert len(err.report.failures) == 1


def test_iris_with_a_rare_class_is_refused(iris):
    df = pd.concat([iris[iris["품종"] != "versicolor"], iris[iris["품종"] == "versicolor"].head(9)])
    failure = only(failing(df, IRIS_SUITE, "iris").report, "품종", CLASS_COUNTS)
    assert failure.offending == ["versicolor"] and "'versicolor': 9" in failure.detail
    ten = pd.concat(
        [iris[iris["품종"] != "versicolor"], iris[iris["품종"] == "versicolor"].head(10)]
    )
    assert validate(ten, IRIS_SUITE, "iris").success  # exactly the minimum passes


def test_class_counts_compare_csv_text_with_suite_values(tmp_path):
    suite = {"name": "codes", "expectations": [
        {"type": CLASS_COUNTS, "kwargs": {"column": "code", "value_set": [0, 1, 2], "min_value": 2}},
        {"type": CLASS_COUNTS, "kwargs": {"column": "flag", "value_set": ["0", "1"], "min_value": 2}},
        {"type": CLASS_COUNTS, "kwargs": {"column": "ok", "value_set": [True, False], "min_value": 2}},
    ]}  # fmt: skip
    write_suite(suite, tmp_path / "codes.json")
    df = pd.DataFrame(
        {
            "code": pd.Series(["0", "1", "2", "0", "1", "2 "], dtype="str"),  # text in the CSV
            "flag": [0, 1, 0, 1, 0, 1],  # ints in the frame, text in the suite
            "ok": pd.Series(["True", "False"] * 3, dtype="str"),
        }
    )
    assert validate(df, tmp_path / "codes.json", "codes").success
    df.loc[[2, 5], "code"] = "1"
    failure = only(validate(df, tmp_path / "codes.json", "codes"), "code", CLASS_COUNTS)
    assert failure.offending == [2] and "found {0: 2, 1: 4, 2: 0}" in failure.detail


def test_a_constant_feature_is_refused(boston):
    boston["chas"] = 0
    err = failing(boston, BOSTON_SUITE, "boston")
    assert err.report.failures == (
        Failure("chas", UNIQUE_COUNT, "must have at least 2 distinct values (a constant column carries no information); found 1", [0], None),
    )  # fmt: skip


def test_row_count_far_from_the_reference_is_refused(boston, iris):
    err = failing(boston, BOSTON_SUITE, "boston", reference_rows=5000)
    assert err.report.failures == (
        Failure(None, NEAR_REFERENCE, "row count must be within 0.5x..2x of the last good snapshot's 5000 rows; found 506", [], None),
    )  # fmt: skip
    assert "table: bnpipe_expect_row_count_to_be_near_reference — row count must be" in str(err)
    # the same frame passes without a reference (and the memo keeps the two apart)
    assert validate(boston, BOSTON_SUITE, "boston").success
    assert not validate(boston, BOSTON_SUITE, "boston", reference_rows=5000).success
    assert validate(boston, BOSTON_SUITE, "boston", reference_rows=253).success  # 2x exactly
    assert validate(boston, BOSTON_SUITE, "boston", reference_rows=1012).success  # 0.5x exactly
    assert not validate(boston, BOSTON_SUITE, "boston", reference_rows=1013).success
    # too many rows, too
    only(failing(iris, IRIS_SUITE, "iris", reference_rows=60).report, None, NEAR_REFERENCE)


def test_a_missing_column_skips_its_sanity_rules(iris):
    err = failing(iris.drop(columns="품종"), IRIS_SUITE, "iris", reference_rows=150)
    assert [(f.column, f.rule) for f in err.report.failures] == [
        (None, "expect_table_columns_to_match_ordered_list"),
        ("품종", "expect_column_to_exist"),
    ]  # no class-count failure, no duplicates rule run on a missing column


def test_a_column_named_only_in_a_column_list_is_missing(tmp_path):
    suite = {"name": "pair", "expectations": [
        {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "a"}},
        {"type": DUPLICATES, "kwargs": {"column_list": ["a", "b"], "mostly": 0.9}},
    ]}  # fmt: skip
    write_suite(suite, tmp_path / "pair.json")
    report = validate(pd.DataFrame({"a": [1, 2, 3]}), tmp_path / "pair.json", "pair")
    assert report.failures == (
        Failure("b", "expect_column_to_exist", "column is missing from the data", [], None),
    )
    assert report.evaluated == 2


def test_duplicates_rule_words_follow_mostly():
    from bnpipe.validation.failures import _describe

    assert _describe(DUPLICATES, {"mostly": 0.9}) == "at most 10% of rows may duplicate another row"
    assert _describe(DUPLICATES, {"mostly": 0.95}).startswith("at most 5% of rows")
    assert _describe(DUPLICATES, {}) == "no row may duplicate another row"


@pytest.mark.parametrize(
    ("exp", "match"),
    [
        ({"type": "bnpipe_expect_something_else", "kwargs": {}}, "unknown bnpipe rule"),
        ({"type": FINITE, "kwargs": {}}, "missing \\['column'\\]"),
        ({"type": FINITE, "kwargs": {"column": "crim", "mostly": 0.9}}, "unexpected"),
        (
            {"type": CLASS_COUNTS, "kwargs": {"column": "chas", "value_set": [], "min_value": 1}},
            "value_set",
        ),  # fmt: skip
        (
            {
                "type": CLASS_COUNTS,
                "kwargs": {"column": "chas", "value_set": [0], "min_value": "ten"},
            },
            "min_value",
        ),  # fmt: skip
        ({"type": NEAR_REFERENCE, "kwargs": {"min_ratio": 2, "max_ratio": 0.5}}, "min_ratio"),
    ],
)
def test_a_broken_sanity_rule_fails_loudly(tmp_path, boston, exp, match):
    write_suite({"name": "broken", "expectations": [exp]}, tmp_path / "broken.json")
    with pytest.raises(ValueError, match=match):
        validate(boston, tmp_path / "broken.json", "boston")


def test_reference_rows_must_be_a_count(boston):
    with pytest.raises(TypeError):
        validate(boston, BOSTON_SUITE, "boston", reference_rows="506")
    with pytest.raises(ValueError):
        validate(boston, BOSTON_SUITE, "boston", reference_rows=-1)
    assert validate(boston, BOSTON_SUITE, "boston", reference_rows=np.int64(506)).success


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
    report = validate(df, tmp_path / "toy.json", "toy", reference_rows=len(df))
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

    # The draft has teeth: an out-of-range value and a new class fail, and the new
    # class takes a row from the rarest class "b" (10 rows, the drafted minimum).
    assert df["label"].value_counts()["b"] == 10 and df.loc[1, "label"] == "b"
    df.loc[0, "ratio"] = 5.0
    df.loc[1, "label"] = "z"
    report = validate(df, tmp_path / "toy.json", "toy")
    assert {(f.column, f.rule) for f in report.failures} == {
        ("ratio", "expect_column_values_to_be_between"),
        ("label", "expect_column_values_to_be_in_set"),
        ("label", "bnpipe_expect_column_value_counts_to_be_at_least"),
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
    assert validate(df, tmp_path / "tiny.json", "tiny", reference_rows=3).success


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


def test_draft_suite_drafts_the_sanity_rules(tmp_path):
    df = synthetic()
    suite = draft_suite(df, "toy", target="label", task="classification", categorical=["city"])
    rules = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert {c for t, c in rules if t == FINITE} == {"temp", "count", "ratio", "maybe"}
    features = {c for c in df if c != "label"}
    # "maybe" is 1.5 or null: one distinct value, so no rule (and a note saying so)
    assert {c for t, c in rules if t == UNIQUE_COUNT} == features - {"maybe"}
    assert "at least 2 distinct values in 'maybe'" in suite["meta"]["notes"]
    assert rules[(CLASS_COUNTS, "label")] == {
        "column": "label",
        "value_set": ["a", "b", "c"],
        "min_value": 10,  # min(10, the rarest class's 10 rows)
    }
    assert rules[(DUPLICATES, None)] == {"column_list": list(df), "mostly": 0.9}
    assert rules[(NEAR_REFERENCE, None)] == {"min_ratio": 0.5, "max_ratio": 2.0}
    write_suite(suite, tmp_path / "toy.json")
    assert validate(df, tmp_path / "toy.json", "toy", reference_rows=40).success
    assert not validate(df.head(15), tmp_path / "toy.json", "toy", reference_rows=40).success


def test_draft_suite_with_a_constant_column_and_a_classification_target(tmp_path):
    rng = np.random.default_rng(1)
    n = 30
    df = pd.DataFrame(
        {
            "x": rng.normal(0, 1, n),
            "const": np.full(n, 7.0),  # constant: no distinct-count rule can pass
            "kind": pd.Series(["p"] * n, dtype="str"),  # constant text feature
            "y": ["u"] * 27 + ["v"] * 3,  # the rarest class has 3 rows
        }
    )
    original = df.copy()
    suite = draft_suite(df, "const", target="y", task="classification", categorical=["kind"])
    rules = {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}
    assert {c for t, c in rules if t == UNIQUE_COUNT} == {"x"}
    assert (FINITE, "const") in rules and (FINITE, "kind") not in rules
    assert rules[(CLASS_COUNTS, "y")] == {"column": "y", "value_set": ["u", "v"], "min_value": 3}
    assert "'const'" in suite["meta"]["notes"] and "'kind'" in suite["meta"]["notes"]
    write_suite(suite, tmp_path / "const.json")
    report = validate(df, tmp_path / "const.json", "const", reference_rows=n)
    assert report.success, report.summary()
    assert report.evaluated == len(suite["expectations"])
    # and it has teeth: the rare class gone, an infinite x
    df.loc[df["y"] == "v", "y"] = "u"
    df.loc[0, "x"] = np.inf
    report = validate(df, tmp_path / "const.json", "const", reference_rows=n)
    assert {(f.column, f.rule) for f in report.failures} == {
        ("y", CLASS_COUNTS),
        ("x", FINITE),
        ("x", "expect_column_values_to_be_between"),
    }
    # a constant x is refused as well (x is the only feature drafted with the rule)
    report = validate(original.assign(x=0.5), tmp_path / "const.json", "const")
    assert ("x", UNIQUE_COUNT) in {(f.column, f.rule) for f in report.failures}


def test_draft_suite_skips_what_its_own_data_breaks(tmp_path):
    df = pd.DataFrame({"x": [1.0, 2.0, 1e39] * 5, "y": [0.5, 0.7, 0.9] * 5})  # 100% duplicated
    suite = draft_suite(df, "odd", target="y", task="regression", categorical=[])
    types = {(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]}
    assert (FINITE, "x") not in types and (FINITE, "y") in types
    assert (DUPLICATES, None) not in types
    assert (UNIQUE_COUNT, "y") not in types  # the target
    write_suite(suite, tmp_path / "odd.json")
    assert validate(df, tmp_path / "odd.json", "odd", reference_rows=15).success


def test_draft_suite_on_boston_has_the_sanity_rules_and_passes(boston, tmp_path):
    suite = draft_suite(boston, "boston", target="medv", task="regression", categorical=["chas"])
    types = [(e["type"], e["kwargs"].get("column")) for e in suite["expectations"]]
    assert {c for t, c in types if t == FINITE} == set(BOSTON_COLUMNS)
    assert {c for t, c in types if t == UNIQUE_COUNT} == set(BOSTON_COLUMNS[:-1])
    assert not [t for t, _ in types if t == CLASS_COUNTS]  # regression
    write_suite(suite, tmp_path / "boston.json")
    assert validate(boston, tmp_path / "boston.json", "boston", reference_rows=506).success

"""`bnpipe dataset init`: column roles from the data (bnpipe.profiling), the separator,
the commented catalog entry, and a drafted suite that passes on data with blanks
(bnpipe.drafting). Synthetic frames only."""

from __future__ import annotations

import io
import json
import textwrap

import numpy as np
import pandas as pd
import pytest
import yaml

from bnpipe import ingest
from bnpipe.catalog import append_entry, load_catalog, parse_entry
from bnpipe.drafting import draft_for, relaxed_floor
from bnpipe.ops.cli import main
from bnpipe.profiling import (
    ColumnError,
    column_role,
    detect_separator,
    entry_comments,
    looks_like_id,
    profile_frame,
    rare_threshold,
)

NOT_NULL = "expect_column_values_to_not_be_null"
UNIQUE_COUNT = "expect_column_unique_value_count_to_be_between"
FINITE = "bnpipe_expect_column_values_to_be_finite"
DUPLICATES = "expect_compound_columns_to_be_unique"
BETWEEN = "expect_column_values_to_be_between"
IN_SET = "expect_column_values_to_be_in_set"
TYPES = "expect_column_values_to_be_in_type_list"


def rng(seed: int = 0) -> np.random.Generator:
    return np.random.default_rng(seed)


def role(values, name: str = "x", **kw):
    return column_role(pd.Series(values), name, **kw)


def flats(n: int = 200, seed: int = 0) -> pd.DataFrame:
    """An id, blanks in a number, a category and the target, free text, a date, a
    true/false column and a leaky one."""
    r = rng(seed)
    df = pd.DataFrame(
        {
            "flat_id": np.arange(1, n + 1),
            "size": r.uniform(20, 200, n).round(1),
            "rooms": r.integers(1, 6, n),
            "city": pd.Series(r.choice(["north", "south", "east"], n), dtype="str"),
            "built": pd.date_range("2001-01-01", periods=n, freq="17D").strftime("%Y-%m-%d"),
            "notes": [f"flat {i}, {r.integers(10**6)} stairs" for i in range(n)],
            "balcony": r.choice([True, False], n),
            "agent_fee": r.uniform(0, 10, n),
        }
    )
    df["price"] = (df["size"] * 3 + df["rooms"] * 10 + r.normal(0, 5, n)).round(2)
    df.loc[r.choice(n, 4, replace=False), "size"] = np.nan
    df.loc[r.choice(n, 2, replace=False), "city"] = np.nan
    df.loc[r.choice(n, 3, replace=False), "price"] = np.nan
    df.loc[r.choice(n, 20, replace=False), "notes"] = np.nan
    return df


# --------------------------------------------------------------------------- identifiers


def test_a_float_column_distinct_on_every_row_is_numeric_not_an_id():
    values = rng().uniform(10, 500, 300)
    assert pd.Series(values).nunique() == 300
    assert role(values, "price").role == "numeric"
    # even named like an id, and sorted: a float is a measurement
    assert role(np.sort(values), "id").role == "numeric"
    assert role(np.arange(1.0, 301.0), "row").role == "numeric"


def test_whole_numbers_1_to_n_are_an_identifier_in_any_order():
    got = role(np.arange(1, 101), "number")
    assert (got.role, got.reason) == ("identifier", "distinct on every row, the numbers 1..100")
    shuffled = rng().permutation(np.arange(0, 100))
    assert role(shuffled, "n").role == "identifier"
    increasing = np.cumsum(rng().integers(1, 50, 100)) + 1000  # gaps, but in order
    got = role(increasing, "serial")
    assert (got.role, got.reason) == (
        "identifier",
        "distinct on every row, increasing on every row",
    )


def test_a_text_column_named_passengerid_and_distinct_is_an_identifier():
    got = role([f"P{i:04d}" for i in rng().permutation(50)], "PassengerId")
    assert (got.role, got.reason) == ("identifier", "distinct on every row, named like an id")
    assert role(rng().permutation(50) + 7, "PassengerId").role == "identifier"


def test_distinct_whole_numbers_in_no_order_and_not_named_like_an_id_stay_numeric():
    """Documented choice: nothing tells them from a quantity (a population, a price in
    cents), so they are kept; the summary says to --exclude them if they are a key."""
    values = rng().choice(np.arange(10_000, 99_999), 200, replace=False)
    got = role(values, "population")
    assert got.role == "numeric" and got.kept
    assert "--exclude it if it is a row key" in got.note
    assert "--exclude it if it is a row key" in got.describe()


def test_id_rules_need_every_row_distinct_and_enough_rows_for_order():
    assert role([1, 2, 3, 3, 4, 5, 6, 7, 8, 9, 10, 11], "n").role == "numeric"  # a repeat
    assert role([1, 2, np.nan, 4, 5, 6, 7, 8, 9, 10, 11], "n").role == "numeric"  # a blank
    assert role([1, 2, 3, 4, 5], "n").role == "numeric"  # too few rows to call it numbering
    assert role([3, 1, 2], "id").role == "identifier"  # the name is enough
    store = role(rng().integers(1, 9, 100), "store_id")
    assert store.role == "numeric" and "named like an id, but values repeat" in store.note


@pytest.mark.parametrize(
    "name",
    ["id", "ID", "Id", "user_id", "USER_ID", "PassengerId", "userID", "index", "Index", "row",
     "ROW", "Unnamed: 0", "order-id", "row_no", "key", "uuid"],
)  # fmt: skip
def test_names_that_look_like_an_id(name):
    assert looks_like_id(name)


@pytest.mark.parametrize("name", ["paid", "valid", "humidity", "idle", "ideal", "size", "grid"])
def test_names_that_do_not(name):
    assert not looks_like_id(name)


# --------------------------------------------------------------------------- text, dates


def test_free_text_is_left_out_with_its_count():
    r = rng()
    values = [f"note {i}: {r.integers(10**6)}" for i in range(200)]
    values[:20] = [np.nan] * 20
    got = role(values, "notes")
    assert got.role == "free_text" and got.left_out
    assert got.reason == "180 of 180 values unique" and got.blanks == 20
    # many levels, but each seen often: a category
    assert role(r.choice([f"d{i}" for i in range(30)], 600), "district").role == "categorical"
    # 15 distinct names in 15 rows: each level too rare to learn from
    small = role([f"name {i}" for i in range(15)], "name")
    assert small.role == "free_text" and "too rare to learn from" in small.reason


@pytest.mark.parametrize(
    ("values", "has_time"),
    [
        (["2011-01-01", "2011-01-02", "2011-02-03", "2012-12-31"] * 5, False),
        (["2011/01/02 13:00", "2011/01/03 09:30", "2011/01/04 00:00"] * 5, True),
        (["2011-01-01", "2011/01/02 13:00", "03/04/2012", "2013-05-06T07:08:09"] * 5, True),
    ],
)
def test_text_that_parses_as_dates_is_a_date(values, has_time):
    got = role(values, "when")
    assert got.role == "date" and got.kept
    assert got.has_time is has_time and got.unparsed == 0
    assert got.describe().startswith("date parts (year, month, day of week")


def test_dates_allow_a_few_bad_values_and_refuse_numbers():
    good = list(pd.date_range("2020-01-01", periods=95, freq="D").strftime("%Y-%m-%d"))
    got = role(good + ["unknown"] * 5, "day")
    assert got.role == "date" and got.unparsed == 5
    assert role(good + ["unknown"] * 15, "day").role != "date"  # 86% dates: not enough
    numbers = role([str(v) for v in rng().integers(1000, 2030, 100)], "year_text")
    assert numbers.role != "date"  # plain numbers are not dates
    assert role(["3-4", "5-6", "1-2", "7-8"] * 10, "range").role == "categorical"


def test_the_date_profile_counts_unreadable_dates_as_blanks_to_impute():
    days = list(pd.date_range("2020-01-01", periods=95, freq="D").strftime("%Y-%m-%d"))
    df = pd.DataFrame({"day": days + ["n/a?"] * 5, "y": rng().normal(size=100)})
    profile = profile_frame(df, target="y")
    assert profile.dates == ["day"] and profile.blank_features == {"day": 5}
    assert profile.missing == "impute"


# --------------------------------------------------------------------------- other roles


def test_constant_columns_are_left_out():
    assert role(["a"] * 30, "kind").reason == "only 'a'"
    assert role([7.0] * 30).role == "constant"
    one = role(["Y"] * 20 + [np.nan] * 10, "flag")
    assert (one.role, one.blanks) == ("constant", 10)
    assert role([np.nan] * 10).reason == "blank on every row"
    assert role(["  ", "", "x"] * 5).role == "constant"  # spaces are blanks


def test_true_false_columns_are_categorical_even_with_blanks():
    flag = role(rng().choice([True, False], 50), "flag")
    assert (flag.role, flag.reason) == ("categorical", "true/false")
    df = pd.read_csv(io.StringIO("a,y\n" + "True,1.5\nFalse,2.5\n" * 5 + ",3.5\n"))
    assert df["a"].dtype == object
    got = profile_frame(df, target="y").role("a")
    assert (got.role, got.blanks, got.describe()) == (
        "categorical",
        1,
        "one-hot (true/false), 1 blank cell",
    )


def test_excluded_columns_and_unknown_names():
    df = flats()
    profile = profile_frame(df, target="price", exclude=["agent_fee"])
    assert profile.role("agent_fee").role == "excluded"
    assert "agent_fee" not in profile.features
    with pytest.raises(ColumnError) as err:
        profile_frame(df, target="price", exclude=["agent_fee", "fee"])
    assert "'fee', not a column" in str(err.value) and "flat_id, size, rooms" in str(err.value)
    with pytest.raises(ColumnError, match="the target 'price'"):
        profile_frame(df, target="price", exclude=["price"])
    with pytest.raises(ColumnError, match="target 'cost' is not a column; columns: flat_id"):
        profile_frame(df, target="cost")


def test_the_profile_of_a_realistic_frame():
    profile = profile_frame(flats(), target="price", exclude=["agent_fee"])
    roles = {c.column: c.role for c in profile.columns}
    assert roles == {
        "flat_id": "identifier",
        "size": "numeric",
        "rooms": "numeric",
        "city": "categorical",
        "built": "date",
        "notes": "free_text",
        "balcony": "categorical",
        "agent_fee": "excluded",
        "price": "target",
    }
    assert profile.features == ["size", "rooms", "city", "built", "balcony"]
    assert profile.categorical == ["city", "balcony"] and profile.dates == ["built"]
    assert profile.task == "regression" and profile.target_blanks == 3
    assert profile.blank_features == {"size": 4, "city": 2}
    assert profile.missing == "impute" and profile.min_frequency == 0
    assert profile.target_note() == "3 rows have a blank target: they are not trained on"
    lines = profile.summary()
    assert lines[0].split() == ["flat_id", "left", "out:", "identifier", "(distinct", "on",
                                "every", "row,", "named", "like", "an", "id)"]  # fmt: skip
    assert "  size       numeric, 4 blank cells" in lines
    assert "  city       one-hot (3 levels), 2 blank cells" in lines
    assert "  built      date parts (year, month, day of week)" in lines
    assert "  notes      left out: free text (180 of 180 values unique), 20 blank cells" in lines
    assert "  agent_fee  left out: --exclude" in lines
    assert (
        'blank cells: size 4, city 2; missing: impute (training medians + indicator; a "missing" '
        "category)" in lines
    )
    assert lines[-1] == "3 rows have a blank target: they are not trained on"


def test_missing_is_error_without_blanks_and_impute_for_a_blank_target():
    df = pd.DataFrame({"a": rng().normal(size=40), "y": rng().normal(size=40)})
    assert profile_frame(df, target="y").missing == "error"
    df.loc[3, "y"] = np.nan  # the pipeline refuses a blank target under error
    profile = profile_frame(df, target="y")
    assert profile.missing == "impute" and profile.blank_features == {}
    assert "blank targets (1) are not trained on" in profile.missing_note()


def test_min_frequency_is_chosen_when_a_category_has_rare_levels():
    assert [rare_threshold(n) for n in (10, 200, 201, 1000)] == [2, 2, 3, 10]
    r = rng()
    city = list(r.choice(["north", "south", "east"], 495)) + ["west"] * 3 + ["moon", "mars"]
    df = pd.DataFrame({"city": city, "y": r.normal(size=500)})
    profile = profile_frame(df, target="y")
    assert profile.min_frequency == 5  # ceil(1% of 500)
    assert profile.role("city").rare == 3  # west (3 rows), moon, mars
    assert "rare levels: city: 3" in profile.summary()[-1]
    common = pd.DataFrame({"city": r.choice(["a", "b"], 500), "y": r.normal(size=500)})
    assert profile_frame(common, target="y").min_frequency == 0


def test_the_task_is_inferred_or_given():
    df = pd.DataFrame({"x": rng().normal(size=30), "label": ["a", "b", "c"] * 10})
    profile = profile_frame(df, target="label")
    assert (profile.task, profile.task_reason) == ("classification", "text with 3 classes")
    assert profile_frame(df, target="x", task="classification").task_reason == "given with --task"


# --------------------------------------------------------------------------- separators


@pytest.mark.parametrize("sep", [",", ";", "\t", "|"])
@pytest.mark.parametrize("bom", [False, True], ids=["plain", "bom"])
@pytest.mark.parametrize("eol", ["\n", "\r\n"], ids=["lf", "crlf"])
def test_the_separator_is_detected_and_read(tmp_path, sep, bom, eol):
    df = flats(30)
    text = df.to_csv(index=False, sep=sep, lineterminator=eol)
    data = (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8")
    assert detect_separator(data) == sep
    assert ingest.check_csv(data, dataset="flats", url="file:///f.csv", sep=sep) == 30
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    back = ingest.read_csv(path, sep=sep)
    assert list(back.columns) == list(df.columns)  # no BOM in the first name
    assert len(back) == 30
    pd.testing.assert_frame_equal(back[["notes", "price"]], df[["notes", "price"]])
    assert not back.map(lambda v: isinstance(v, str) and "\r" in v).any().any()


def test_separator_detection_with_decimal_commas_and_edge_cases():
    euro = b"price;size;city\n1,5;20,1;north\n2,5;30,7;south\n"
    assert detect_separator(euro) == ";"
    assert detect_separator(b"y\n1\n2\n") == ","  # one column
    assert detect_separator(b'"a;b",c\n1,2\n') == ","  # a quoted ';' in a name
    assert detect_separator("a\tb\n1\t2\n") == "\t"  # text too


# --------------------------------------------------------------------------- the catalog entry


def _init_entry(profile, name: str = "flats", sep: str = ";") -> tuple:
    entry = {
        "description": "flats: a test",
        "url": "https://example.com/flats.csv",
        "sep": sep,
        "task": profile.task,
        "target": profile.target,
        "features": profile.features,
        "categorical": profile.categorical,
        "dates": profile.dates,
        "missing": profile.missing,
        "min_frequency": profile.min_frequency,
        "suite": name,
        "sha256": None,
        "drift": {"warn": 0.2, "block": 1.0, "relation_warn": 0.2, "relation_block": 0.4},
    }
    return parse_entry(name, entry), entry_comments(profile, sep=sep, suite_path="x/flats.json")


def test_the_written_entry_round_trips_with_its_comments(tmp_path):
    df = flats()
    df.loc[:3, "city"] = "west"  # rare levels: min_frequency is written
    df.loc[4, "city"] = "moon"
    profile = profile_frame(df, target="price", exclude=["agent_fee"])
    assert profile.min_frequency == 2
    spec, (comments, notes) = _init_entry(profile)
    path = tmp_path / "datasets.yaml"
    path.write_text("# the catalog\ndatasets:\n  # nothing yet\n", encoding="utf-8")
    append_entry(path, spec, comments=comments, notes=notes)
    text = path.read_text(encoding="utf-8")
    assert text.startswith("# the catalog\ndatasets:\n  # nothing yet\n")
    back = load_catalog(path)["flats"]
    assert back == spec
    assert (back.missing, back.dates, back.min_frequency, back.sep) == (
        "impute",
        ("built",),
        2,
        ";",
    )
    entry = text.split("  flats:\n", 1)[1]
    assert "    sep: ';'  # detected from the header line\n" in entry
    assert "    task: regression  # inferred from the target: numbers with" in entry
    assert "    target: price  # 3 rows have a blank target: they are not trained on\n" in entry
    assert (
        "    features: [size, rooms, city, built, balcony]  # 2 numeric, 2 one-hot, 1 date\n"
        in entry
    )
    assert "    # left out:\n" in entry and "    #   flat_id (identifier: distinct on" in entry
    assert "    #   agent_fee (--exclude)\n" in entry
    assert "    categorical: [city, balcony]  # city: 5 levels, balcony: true/false\n" in entry
    assert "    dates: [built]  # parsed dates -> year, month, day of week\n" in entry
    assert "    missing: impute  # size: 4 blank cells, city: 2 (training medians" in entry
    rare = '    min_frequency: 2  # rarer categories fold into "other" (rare levels: city: 1)\n'
    assert rare in entry
    assert "    suite: flats  # x/flats.json, drafted from 200 rows: review it\n" in entry
    assert "    drift: {warn: 0.2, block: 1.0, relation_warn: 0.2, relation_block: 0.4}\n" in entry


def test_a_short_left_out_note_is_one_line_and_error_is_written(tmp_path):
    df = pd.DataFrame({"id": range(50), "a": rng().normal(size=50), "y": rng().normal(size=50)})
    profile = profile_frame(df, target="y")
    spec, (comments, notes) = _init_entry(profile, sep=",")
    assert notes == {
        "features": ["left out: id (identifier: distinct on every row, named like an id)"]
    }
    path = tmp_path / "datasets.yaml"
    append_entry(path, spec, comments=comments, notes=notes)
    text = path.read_text(encoding="utf-8")
    assert "sep:" not in text and "min_frequency" not in text and "dates" not in text
    assert "    missing: error  # no blank cells in the kept features" in text
    assert "    categorical: []  # no text kept as a feature\n" in text
    assert load_catalog(path)["flats"] == spec


def test_odd_names_and_a_tab_separator_round_trip(tmp_path):
    names = ["가격: 원", "#rooms", "city, town", "a'b", 'say "hi"', "- dash", "yes"]
    r = rng()
    df = pd.DataFrame({n: r.normal(size=40) for n in names})
    df["when"] = pd.date_range("2020-01-01 10:00", periods=40, freq="h").astype(str)
    df.loc[2, "#rooms"] = np.nan
    profile = profile_frame(df, target="yes")
    spec, (comments, notes) = _init_entry(profile, sep="\t")
    path = tmp_path / "c.yaml"
    append_entry(path, spec, comments=comments, notes=notes)
    text = path.read_text(encoding="utf-8")
    assert '    sep: "\\t"  # detected from the header line\n' in text
    assert "day of week, hour\n" in text
    back = load_catalog(path)["flats"]
    assert back == spec and back.sep == "\t" and back.dates == ("when",)
    assert yaml.safe_load(text)["datasets"]["flats"]["features"] == [*names[:-1], "when"]


# --------------------------------------------------------------------------- the suite


def test_relaxed_floor():
    assert relaxed_floor(0.0) == 0.95
    assert relaxed_floor(0.02) == 0.91
    assert relaxed_floor(0.015) == 0.92
    assert relaxed_floor(0.1) == 0.75
    assert relaxed_floor(0.5) == 0.0


def _draft(df: pd.DataFrame, profile, name: str = "flats") -> dict:
    spec, _ = _init_entry(profile, name=name)
    return draft_for(df, spec)


def _rules(suite: dict) -> dict:
    return {(e["type"], e["kwargs"].get("column")): e["kwargs"] for e in suite["expectations"]}


def test_the_drafted_rules_for_blanks_left_out_columns_and_dates():
    df = flats()
    profile = profile_frame(df, target="price", exclude=["agent_fee"])
    suite = _draft(df, profile)
    rules = _rules(suite)
    assert rules[("expect_table_columns_to_match_ordered_list", None)]["column_list"] == list(df)
    columns = {c for _, c in rules if c is not None}
    assert columns == {"size", "rooms", "city", "built", "balcony", "price"}  # no left-out ones
    assert rules[(NOT_NULL, "size")] == {"column": "size", "mostly": 0.91}  # 2% blank
    assert rules[(NOT_NULL, "city")] == {"column": "city", "mostly": 0.93}  # 1% blank
    assert rules[(NOT_NULL, "rooms")] == {"column": "rooms", "mostly": 0.95}  # none, impute
    assert rules[(NOT_NULL, "price")] == {"column": "price", "mostly": 0.92}  # the target
    assert {t for t, c in rules if c == "built"} == {NOT_NULL, UNIQUE_COUNT}  # no numeric rules
    assert {c for t, c in rules if t == UNIQUE_COUNT} == set(profile.features)
    assert {c for t, c in rules if t == FINITE} == {"size", "rooms", "price"}
    assert rules[(IN_SET, "city")] == {"column": "city", "value_set": ["east", "north", "south"]}
    assert rules[(IN_SET, "balcony")]["value_set"] == [False, True]
    assert rules[(DUPLICATES, None)]["column_list"] == [*profile.features, "price"]
    notes = suite["meta"]["notes"]
    assert "only in the column list: flat_id, notes, agent_fee" in notes
    assert "size 9% (4 of 200 now)" in notes and "rooms 5% (none now)" in notes


def test_without_blanks_the_not_null_rules_stay_strict():
    df = pd.DataFrame({"a": rng().normal(size=40), "y": rng().normal(size=40)})
    rules = _rules(_draft(df, profile_frame(df, target="y")))
    assert rules[(NOT_NULL, "a")] == {"column": "a"} and rules[(NOT_NULL, "y")] == {"column": "y"}


def test_rare_levels_relax_the_value_set():
    r = rng()
    city = list(r.choice(["north", "south"], 490)) + [f"town{i}" for i in range(10)]
    df = pd.DataFrame({"city": city, "y": r.normal(size=500)})
    profile = profile_frame(df, target="y")
    assert profile.min_frequency == 5
    rule = _rules(_draft(df, profile))[(IN_SET, "city")]
    assert rule["mostly"] == 0.91 and len(rule["value_set"]) == 12  # 2% of the rows rare


@pytest.mark.slow  # Great Expectations
def test_draft_suite_passes_on_a_frame_with_blanks_and_has_teeth(tmp_path):
    from bnpipe.validation import validate, write_suite

    df = flats()
    profile = profile_frame(df, target="price", exclude=["agent_fee"])
    path = tmp_path / "flats.json"
    write_suite(_draft(df, profile), path)
    report = validate(df, path, "flats", reference_rows=len(df))
    assert report.success, report.summary()
    # left-out columns may change freely; a few more blanks are fine
    later = df.assign(notes="x", flat_id=0, agent_fee=-1.0)
    later.loc[rng(1).choice(200, 6, replace=False), "size"] = np.nan
    assert validate(later, path, "flats").success
    # a column going mostly blank, a new city, a negative size: failures
    later.loc[:100, "rooms"] = np.nan
    later.loc[150, "city"] = "atlantis"
    later.loc[160, "size"] = -5.0
    failed = {(f.column, f.rule) for f in validate(later, path, "flats").failures}
    assert failed == {("rooms", NOT_NULL), ("city", IN_SET), ("size", BETWEEN)}


@pytest.mark.slow  # Great Expectations
def test_draft_suite_passes_on_blanks_in_a_classification_target(tmp_path):
    from bnpipe.validation import validate, write_suite

    r = rng(3)
    n = 120
    df = pd.DataFrame(
        {
            "x": r.normal(size=n),
            "kind": pd.Series(r.choice(["a", "b", None], n, p=[0.5, 0.4, 0.1]), dtype="str"),
            "label": pd.Series(r.choice(["u", "v", None], n, p=[0.6, 0.35, 0.05]), dtype="str"),
        }
    )
    df.loc[:9, "x"] = np.nan
    profile = profile_frame(df, target="label")
    assert profile.task == "classification" and profile.missing == "impute"
    suite = _draft(df, profile, name="kinds")
    assert (NOT_NULL, "x") in _rules(suite) and _rules(suite)[(NOT_NULL, "x")]["mostly"] < 0.9
    path = tmp_path / "kinds.json"
    write_suite(suite, path)
    assert validate(df, path, "kinds").success


# --------------------------------------------------------------------------- the CLI


def _project(env, tmp_path):
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text(
        textwrap.dedent(
            """\
            # my catalog
            datasets:
              wine:  # kept as it is
                url: https://example.com/wine.csv
                task: classification
                target: color
                features: [acidity, sugar]
            """
        ),
        encoding="utf-8",
    )
    env["BNPIPE_CATALOG"] = str(catalog)
    env["BNPIPE_EXPECTATIONS_DIR"] = str(tmp_path / "expectations")
    return catalog


def _csv(tmp_path, df: pd.DataFrame) -> str:
    path = tmp_path / "flats.csv"
    text = df.to_csv(index=False, sep=";", lineterminator="\r\n")
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    return str(path)


@pytest.mark.slow  # Great Expectations
def test_dataset_init_drafts_what_a_careful_person_would(env, tmp_path, capsys):
    catalog = _project(env, tmp_path)
    before = catalog.read_text(encoding="utf-8")
    csv = _csv(tmp_path, flats())
    argv = ["dataset", "init", "flats", "--url", csv, "--target", "price", "--exclude", "agent_fee"]
    assert main(argv) == 0, capsys.readouterr().err
    out = capsys.readouterr().out.splitlines()
    text = catalog.read_text(encoding="utf-8")
    assert text.startswith(before)
    spec = load_catalog(catalog)["flats"]
    assert spec.features == ("size", "rooms", "city", "built", "balcony")
    assert spec.categorical == ("city", "balcony") and spec.dates == ("built",)
    assert (spec.missing, spec.min_frequency, spec.sep, spec.task) == (
        "impute",
        0,
        ";",
        "regression",
    )
    assert spec.drift == {"warn": 0.2, "block": 1.0, "relation_warn": 0.2, "relation_block": 0.4}
    assert "    # left out:\n" in text and "    #   notes (free text: 180 of 180" in text
    assert "    sep: ';'  # detected from the header line\n" in text
    assert "    missing: impute  # size: 4 blank cells, city: 2 (" in text

    assert out[0] == "flats: 200 rows, 9 columns"
    assert "  flat_id    left out: identifier (distinct on every row, named like an id)" in out
    assert "  size       numeric, 4 blank cells" in out
    assert "  city       one-hot (3 levels), 2 blank cells" in out
    assert "  built      date parts (year, month, day of week)" in out
    assert "  agent_fee  left out: --exclude" in out
    assert "  balcony    one-hot (true/false)" in out
    assert any(line.startswith("  price      target (regression: numbers with") for line in out)
    assert "3 rows have a blank target: they are not trained on" in out
    assert out[-2].startswith("added 'flats' to ") and "5 features (2 categorical" in out[-2]
    assert out[-1].startswith("drafted ") and out[-1].endswith("bnpipe run flats")

    suite = json.loads((tmp_path / "expectations" / "flats.json").read_text("utf-8"))
    columns = {e["kwargs"].get("column") for e in suite["expectations"]} - {None}
    assert columns == {"size", "rooms", "city", "built", "balcony", "price"}


def test_dataset_init_refuses_unknown_exclude_names(env, tmp_path, capsys):
    catalog = _project(env, tmp_path)
    before = catalog.read_text(encoding="utf-8")
    csv = _csv(tmp_path, flats(30))
    argv = ["dataset", "init", "flats", "--url", csv, "--target", "price", "--exclude", "fee"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--exclude names 'fee', not a column; columns: flat_id, size, rooms, city" in err
    assert catalog.read_text(encoding="utf-8") == before
    assert not (tmp_path / "expectations").exists()


@pytest.mark.slow  # Great Expectations
def test_dataset_init_names_features_that_sum_to_the_target(env, tmp_path, capsys):
    """Kept in the entry (a person decides), flagged in the output and in the
    entry's comments with the columns and the rule, and proposed for --exclude."""
    from tests.unit.test_leaks import sums

    catalog = _project(env, tmp_path)
    csv = _csv(tmp_path, sums())
    assert main(["dataset", "init", "fees", "--url", csv, "--target", "total"]) == 0
    out = capsys.readouterr().out.splitlines()
    [warning] = [line for line in out if line.startswith("warning: possible target leak: ")]
    assert warning.startswith(("warning: possible target leak: base_fee, extras (a linear",
                               "warning: possible target leak: extras, base_fee (a linear"))  # fmt: skip
    assert "least squares R² 1.0000" in warning
    [hint] = [line for line in out if "--exclude" in line]
    assert "--exclude base_fee" in hint and "--exclude extras" in hint and "held" in hint
    spec = load_catalog(catalog)["fees"]
    assert {"base_fee", "extras"} <= set(spec.features)
    text = catalog.read_text(encoding="utf-8")
    assert "    # possible target leak: " in text and "--exclude extras" in text
    # with the proposal taken, init finds nothing
    assert main(["dataset", "init", "fees2", "--url", csv, "--target", "total",
                 "--exclude", "base_fee", "--exclude", "extras"]) == 0  # fmt: skip
    assert "possible target leak" not in capsys.readouterr().out


@pytest.mark.slow  # Great Expectations
def test_dataset_init_interrupted_at_the_catalog_write_puts_everything_back(
    env, tmp_path, capsys, monkeypatch
):
    """A Ctrl-C at the last step (the catalog's new content about to replace the
    old): the catalog as it was, no suite, no expectations folder, one line."""
    import os

    catalog = _project(env, tmp_path)
    before = catalog.read_bytes()
    csv = _csv(tmp_path, flats(60))
    real_replace = os.replace

    def replace(src, dst, *a, **kw):
        if os.fspath(dst) == str(catalog):
            raise KeyboardInterrupt("interrupted")
        return real_replace(src, dst, *a, **kw)

    monkeypatch.setattr(os, "replace", replace)
    assert main(["dataset", "init", "flats", "--url", csv, "--target", "price"]) == 130
    err = capsys.readouterr().err.splitlines()
    assert err[-1] == "bnpipe: interrupted; nothing written (datasets.yaml and expectations/ as they were)"  # fmt: skip
    assert catalog.read_bytes() == before
    assert not (tmp_path / "expectations").exists()
    left = sorted(p.name for p in tmp_path.iterdir() if p.name != "state")
    assert left == ["datasets.yaml", "flats.csv"]  # no temporary file either


@pytest.mark.parametrize(
    ("target", "values", "words"),
    [
        ("price", [250.5], "found only 250.5, on all 60 rows"),
        ("price", [250.0], "found only 250.0, on all 60 rows"),  # whole numbers: "classes"
        ("kind", ["flat"], "found only 'flat', on all 60 rows"),
        ("kind", ["flat", None], "found only 'flat', on all 30 rows with a target"),
    ],
    ids=["regression", "one-code", "one-class", "one-class-and-blanks"],
)  # fmt: skip
def test_dataset_init_refuses_a_constant_target_in_one_line(
    env, tmp_path, capsys, target, values, words
):
    catalog = _project(env, tmp_path)
    before = catalog.read_bytes()
    df = flats(60).drop(columns=["price"])
    df[target] = (values * 60)[:60]
    argv = ["dataset", "init", "flats", "--url", _csv(tmp_path, df), "--target", target]
    assert main(argv) == 2
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"bnpipe: error: flats: column {target!r}: bnpipe_target_varies — the target must have "
        f"at least 2 distinct values (a constant target leaves nothing to learn); {words}"
    ]
    assert catalog.read_bytes() == before
    assert not (tmp_path / "expectations").exists()


@pytest.mark.parametrize(
    ("name", "rule"),
    [
        ("f" * 65, "name must be at most 64 characters, not 65"),
        ("Flats", "name must start with a lowercase letter, then lowercase letters, digits, '-' or '_'"),
    ],
    ids=["too-long", "capital"],
)  # fmt: skip
def test_dataset_init_checks_the_name_before_anything_else(env, tmp_path, capsys, name, rule):
    """Before the CSV is read (here: there is none) and before any file is named."""
    catalog = _project(env, tmp_path)
    before = catalog.read_bytes()
    argv = ["dataset", "init", name, "--url", str(tmp_path / "absent.csv"), "--target", "y"]
    assert main(argv) == 2
    assert capsys.readouterr().err.splitlines() == [f"bnpipe: error: dataset {name!r}: {rule}"]
    assert catalog.read_bytes() == before and not (tmp_path / "expectations").exists()
    # the longest name allowed is fine
    csv = _csv(tmp_path, flats(60))
    assert main(["dataset", "init", "f" * 64, "--url", csv, "--target", "price"]) == 0
    assert "f" * 64 in load_catalog(catalog)

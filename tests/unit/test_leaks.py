"""bnpipe.leaks: feature columns that reproduce the target, found at init and at
run time, naming the columns; none on the notebook's boston and iris."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnpipe import ingest, leaks


def sums(n: int = 400, seed: int = 0) -> pd.DataFrame:
    """A target that two features add up to exactly, beside honest features."""
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({f"x{i}": rng.normal(10, 3, n).round(3) for i in range(6)})
    df["base_fee"] = rng.uniform(100, 300, n).round(2)
    df["extras"] = rng.uniform(0, 80, n).round(2)
    df["city"] = rng.choice(["north", "south", "east"], n)
    df["total"] = df["base_fee"] + df["extras"]
    return df


NUMERIC = [*(f"x{i}" for i in range(6)), "base_fee", "extras"]


def test_two_features_that_sum_to_the_target_are_named():
    df = sums()
    [leak] = leaks.find_leaks(
        df, target="total", task="regression", numeric=NUMERIC, categorical=["city"]
    )
    assert leak.rule == "linear" and set(leak.columns) == {"base_fee", "extras"}
    assert leak.line("total").startswith("possible target leak: ")
    assert "a linear combination of them reproduces 'total': least squares R² 1.0000" in leak.line(
        "total"
    )
    hint = leaks.drop_hint([leak])
    assert (
        "--exclude base_fee --exclude extras" in hint
        or "--exclude extras --exclude base_fee" in hint
    )
    # without one of them, the rest reproduces nothing
    rest = [c for c in NUMERIC if c != "extras"]
    assert leaks.find_leaks(df, target="total", task="regression", numeric=rest) == []


def test_a_monotone_function_of_the_target_is_named_even_with_blanks():
    df = sums()
    df["log_total"] = np.log(df["total"])
    df["ounces"] = df["total"] * 16
    df.loc[df.index[::7], "log_total"] = np.nan
    found = leaks.find_leaks(
        df, target="total", task="regression", numeric=[*NUMERIC[:6], "log_total", "ounces"]
    )
    assert {(f.columns, f.rule) for f in found} == {
        (("log_total",), "monotone"),
        (("ounces",), "monotone"),
    }
    assert all("Spearman rho +1.0000" in f.detail for f in found)


def test_a_category_that_bins_the_target_is_named():
    df = sums()
    df["band"] = pd.cut(df["total"], [0, 200, 260, 1000], labels=["low", "mid", "high"]).astype(str)
    [leak] = leaks.find_leaks(
        df, target="total", task="regression", numeric=NUMERIC[:6], categorical=["city", "band"]
    )
    assert (leak.columns, leak.rule) == (("band",), "bins")


def test_class_codes_and_values_derived_from_the_class_are_named():
    rng = np.random.default_rng(1)
    n = 300
    area = rng.choice(["a1", "a2", "b1", "b2", "c1"], n)
    df = pd.DataFrame(
        {
            "length": rng.normal(5, 1, n),
            "code": pd.Series(area).map({"a1": 1, "a2": 2, "b1": 3, "b2": 4, "c1": 5}),
            "region": [a[0] for a in area],  # each area lies in one region
            "colour": rng.choice(["red", "blue"], n),
            "area": area,
        }
    )
    found = leaks.find_leaks(
        df, target="area", task="classification", numeric=["length", "code"],
        categorical=["region", "colour"],
    )  # fmt: skip
    assert {(f.columns, f.rule) for f in found} == {
        (("code",), "classes"),
        (("region",), "derived"),
    }


def test_the_linear_reference_at_r2_one_names_the_columns_that_carry_it():
    x = np.random.default_rng(2).normal(size=(200, 4))
    y = 2 * x[:, 1] - x[:, 3]
    assert leaks.carriers(x, y, ["a", "b", "c", "d"]) == ("b", "d")
    assert leaks.reference_leak("regression", {"test_r2": 0.9995}).endswith("R² 0.9995")
    assert leaks.reference_leak("regression", {"test_r2": 0.98}) is None
    assert leaks.reference_leak("classification", {"test_log_loss": 0.0004}) is not None
    assert leaks.reference_leak("classification", {"test_log_loss": 0.015}) is None  # iris nets


@pytest.mark.parametrize(
    ("name", "target", "task"),
    [("boston", "medv", "regression"), ("iris", "품종", "classification")],
)
def test_the_notebooks_datasets_do_not_leak(data_mirror, name, target, task):
    df = ingest.read_csv(data_mirror / f"{name}.csv")
    numeric = [c for c in df.columns if c != target]
    assert leaks.find_leaks(df, target=target, task=task, numeric=numeric) == []


def test_a_wide_table_is_checked_on_a_sample_of_its_rows():
    rng = np.random.default_rng(3)
    df = pd.DataFrame(rng.normal(size=(6000, 300)), columns=[f"c{i}" for i in range(300)])
    df["y"] = df["c10"] + df["c20"]
    [leak] = leaks.find_leaks(df, target="y", task="regression", numeric=list(df.columns[:-1]))
    assert set(leak.columns) == {"c10", "c20"}
    df["y"] = rng.normal(size=len(df))  # 300 columns, 2500 rows fitted: no leak by chance
    assert leaks.find_leaks(df, target="y", task="regression", numeric=list(df.columns[:-1])) == []

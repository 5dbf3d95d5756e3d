"""Bad input at the CLI: exit 1 (data) or 2 (usage), one clear line, the last good
download kept, tracebacks only with --debug.

Already covered elsewhere (not repeated here): unknown dataset listing the known
ones, epochs/seeds/batch size/learning rate <= 0, a malformed catalog for
``bnpipe datasets`` (tests/unit/test_cli.py); the validator's per-rule details
(tests/unit/test_validation.py); ftp:// in a catalog entry (tests/unit/test_catalog.py).
"""

from __future__ import annotations

import io
import subprocess
import textwrap

import numpy as np
import pandas as pd
import pytest

from bnpipe import ingest, validation
from bnpipe.ops.cli import error_line, main
from tests.faults.conftest import BNPIPE, REPO, make_project, seed_cache, sha256


def _with_text_in_crim(df):
    df["crim"] = df["crim"].astype(object)
    df.loc[0, "crim"] = "n/a?"
    return df


def _with_nan_rm(df):
    df.loc[[3, 8, 13], "rm"] = np.nan
    return df


def _with_negative_medv(df):
    df.loc[[3, 7], "medv"] = -5.0
    return df


def _with_unknown_species(df):
    df.loc[[10, 60], "품종"] = "unknown"
    return df


BAD = {
    # case: (dataset, how the CSV is broken, what the first failure names)
    "missing column": (
        "boston",
        lambda df: df.drop(columns="lstat"),
        "column 'lstat': expect_column_to_exist",
    ),
    "extra column": (
        "boston",
        lambda df: df.assign(zipcode=2134),
        "table: expect_table_columns_to_match_ordered_list — columns must be exactly",
    ),
    "renamed column": (
        "boston",
        lambda df: df.rename(columns={"medv": "MEDV"}),
        "column 'medv': expect_column_to_exist",
    ),
    "text in a numeric column": (
        "boston",
        _with_text_in_crim,
        "column 'crim': expect_column_values_to_be_in_type_list",
    ),
    "missing values": ("boston", _with_nan_rm, "column 'rm': expect_column_values_to_not_be_null"),
    "negative medv": (
        "boston",
        _with_negative_medv,
        "column 'medv': expect_column_values_to_be_between",
    ),
    "unknown iris class": (
        "iris",
        _with_unknown_species,
        "column '품종': expect_column_values_to_be_in_set",
    ),
    "too few rows": (
        "boston",
        # both values of chas, so no feature is constant: only the row count is wrong
        lambda df: pd.concat([df[df.chas == 1].head(2), df[df.chas == 0].head(18)]),
        "table: expect_table_row_count_to_be_between",
    ),
}
EXTRA = {  # what else the message must show
    "extra column": "unexpected [zipcode]",
    "renamed column": "unexpected [MEDV]",
    "text in a numeric column": "e.g. ['n/a?']",
    "missing values": "3 rows",
    "negative medv": "e.g. [-5.0]",
    "unknown iris class": "e.g. ['unknown']",
    "too few rows": "found 20",
}


@pytest.mark.slow  # Great Expectations
@pytest.mark.parametrize("case", list(BAD))
def test_validate_names_dataset_column_and_rule_and_keeps_the_last_good_copy(
    env, data_mirror, tmp_path, capsys, case
):
    dataset, breaks, names = BAD[case]
    good = (data_mirror / f"{dataset}.csv").read_bytes()
    good_sha = seed_cache(dict(env), dataset, good)
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    bad = breaks(pd.read_csv(io.BytesIO(good))).to_csv(index=False).encode()
    (mirror / f"{dataset}.csv").write_bytes(bad)
    env["BNPIPE_DATA_MIRROR"] = str(mirror)

    assert main(["validate", dataset]) == 1

    out = capsys.readouterr().out
    assert f"{dataset}: validation failed (" in out
    assert f"  {names}" in out and EXTRA.get(case, "") in out
    cache = ingest.DataCache(tmp_path / "state" / "cache")
    assert cache.latest(dataset).sha256 == good_sha  # bad data never becomes the last good copy
    assert (tmp_path / "state" / "cache" / dataset / f"{sha256(bad)}.csv").is_file()

    # what `bnpipe run` prints for the same data: one line, dataset, column, rule
    report = validation.validate(
        ingest.read_csv(mirror / f"{dataset}.csv"),
        REPO / "expectations" / f"{dataset}.json",
        dataset,
    )
    line = error_line(validation.DataValidationError(report))
    assert "\n" not in line
    assert line.startswith(f"{dataset}: validation failed against suite '{dataset}': ")
    assert names in line


@pytest.mark.slow  # Great Expectations
def test_validate_that_passes_does_not_make_the_last_good_copy(env, data_mirror, tmp_path, capsys):
    """Only a completed run moves ``latest``: validating alone is not enough."""
    real = (data_mirror / "iris.csv").read_bytes()
    older = b"\n".join(real.splitlines()[:-10]) + b"\n"  # the same file, 10 rows fewer
    before = seed_cache(dict(env), "iris", older)
    env["BNPIPE_DATA_MIRROR"] = str(data_mirror)
    assert main(["validate", "iris"]) == 0
    assert "iris: validation passed" in capsys.readouterr().out
    latest = ingest.DataCache(tmp_path / "state" / "cache").latest("iris")
    assert latest.sha256 == before != sha256(real)


# --------------------------------------------------------------------------- URL schemes


@pytest.mark.parametrize(
    "argv",
    [
        ["validate", "boston"],
        ["dataset", "init", "toy", "--url", "ftp://127.0.0.1/toy.csv", "--target", "y"],
    ],
    ids=["mirror", "dataset-init"],
)
def test_ftp_urls_are_refused(env, tmp_path, capsys, argv):
    env["BNPIPE_DATA_MIRROR"] = "ftp://127.0.0.1/pub"
    env["BNPIPE_CATALOG"] = str(make_project(tmp_path / "p", None)["BNPIPE_CATALOG"])
    env["BNPIPE_EXPECTATIONS_DIR"] = str(tmp_path / "p" / "expectations")
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "unsupported URL scheme 'ftp' (use http, https or file)" in err
    assert err.count("\n") == 2 and "Traceback" not in err  # the error and the --debug hint


# --------------------------------------------------------------------------- catalog, predict, --debug


@pytest.mark.parametrize(
    "argv", [["run", "boston"], ["validate", "boston"], ["predict", "boston", "--input", "x.csv"]]
)
def test_a_malformed_catalog_entry_is_a_usage_error_for_every_command(env, tmp_path, capsys, argv):
    catalog = tmp_path / "catalog.yaml"
    catalog.write_text(
        textwrap.dedent(
            """\
            datasets:
              boston:
                url: https://example.com/boston.csv
                task: regression
                target: medv
                features: crim
            """
        )
    )
    env["BNPIPE_CATALOG"] = str(catalog)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnpipe: error: ") and err.count("bnpipe: error:") == 1
    assert str(catalog) in err and "dataset 'boston'" in err and "'features'" in err
    assert "Traceback" not in err


def _rows_without_a_feature(data_mirror, tmp_path):
    rows = pd.read_csv(data_mirror / "iris.csv").head(3).drop(columns=["꽃받침폭", "품종"])
    path = tmp_path / "rows.csv"
    rows.to_csv(path, index=False)
    return path


def test_predict_input_missing_required_columns_exits_1_naming_them(
    env, data_mirror, tmp_path, capsys
):
    path = _rows_without_a_feature(data_mirror, tmp_path)
    assert main(["predict", "iris", "--input", str(path)]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err == [
        f"bnpipe: error: {path}: missing required column(s) for iris: 꽃받침폭",
        "(run with --debug for the traceback)",
    ]


@pytest.mark.e2e  # subprocesses (pandas only: a few seconds)
def test_debug_shows_the_traceback_and_only_then(data_mirror, tmp_path):
    path = _rows_without_a_feature(data_mirror, tmp_path)
    env = make_project(tmp_path / "p", None)
    plain = subprocess.run(
        [str(BNPIPE), "predict", "iris", "--input", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    debug = subprocess.run(
        [str(BNPIPE), "--debug", "predict", "iris", "--input", str(path)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert plain.returncode == 1 and "Traceback" not in plain.stderr
    assert plain.stderr.startswith("bnpipe: error: ")
    assert debug.returncode == 1
    assert "Traceback (most recent call last)" in debug.stderr
    assert (
        "bnpipe.ops.cli.errors.DataError" in debug.stderr
        and "missing required column(s) for iris: 꽃받침폭" in debug.stderr
    )

"""bnpipe.ops.cli: fast `datasets`, usage errors (exit 2), `validate` (exit 0/1: the suite
and the catalog's missing-value policy), the task `dataset init` infers, the result table."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import yaml

from bnpipe.ops.cli import main
from bnpipe.profiling import infer_task
from bnpipe.results import ComparisonResult, format_result
from tests.conftest import PROJECT_VARS

HEAVY = ("tensorflow", "keras", "mlflow", "great_expectations", "prefect")


def _catalog(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "catalog.yaml"
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- datasets


def test_datasets_does_not_import_heavy_libraries(tmp_path):
    code = textwrap.dedent(
        f"""\
        import json, sys
        from bnpipe.ops.cli import main
        rc = main(["datasets"])
        heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)
        print("RESULT " + json.dumps({{"rc": rc, "heavy": heavy}}))
        """
    )
    child_env = {k: v for k, v in os.environ.items() if k not in PROJECT_VARS}
    child_env["BNPIPE_STATE_DIR"] = str(tmp_path / "state")
    proc = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=child_env,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    result = json.loads(lines[-1].removeprefix("RESULT "))
    assert result == {"rc": 0, "heavy": []}
    listing = "\n".join(lines[:-1])
    assert "boston" in listing and "regression" in listing
    assert "iris" in listing and "classification" in listing


def test_datasets_lists_a_custom_catalog(env, tmp_path, capsys):
    env["BNPIPE_CATALOG"] = str(
        _catalog(
            tmp_path,
            """\
            datasets:
              wine:
                description: red or white
                url: https://example.com/wine.csv
                task: classification
                target: color
                features: [acidity, sugar, alcohol]
            """,
        )
    )
    assert main(["datasets"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("wine") and "classification" in out
    assert "target=color" in out and "3 features" in out and "red or white" in out


def test_a_malformed_catalog_is_a_usage_error_naming_the_file(env, tmp_path, capsys):
    path = _catalog(
        tmp_path,
        """\
        datasets:
          wine:
            url: https://example.com/wine.csv
            task: clustering
            target: color
            features: [acidity]
        """,
    )
    env["BNPIPE_CATALOG"] = str(path)
    assert main(["datasets"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnpipe: error: ")
    assert str(path) in err and "dataset 'wine'" in err and "'task'" in err
    assert "Traceback" not in err


# --------------------------------------------------------------------------- usage errors


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "titanic"],
        ["run", "boston", "titanic"],
        ["validate", "titanic"],
        ["predict", "titanic", "--input", "rows.csv"],
    ],
)
def test_unknown_dataset_exits_2_listing_the_known_ones(env, capsys, argv):
    flows_loaded = "bnpipe.flows.bn_comparison" in sys.modules
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "unknown dataset 'titanic'" in err
    assert "known datasets: boston, iris" in err
    assert "Traceback" not in err
    if not flows_loaded:  # rejected before the flow (and Prefect) is imported
        assert "bnpipe.flows.bn_comparison" not in sys.modules


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--epochs", "0"], "epochs must be a whole number from 1 to 100000, got 0"),
        (["--epochs", "100001"], "epochs must be a whole number from 1 to 100000, got 100001"),
        (["--optimizer", "rmsprob"], "optimizer must be one of Keras's optimizers: adadelta,"),
        (["--seeds", "-1"], "seeds must be a positive whole number, got -1"),
        (["--batch-size", "0"], "batch_size must be a positive whole number"),
        (["--learning-rate", "-0.5"], "learning_rate must be a positive number"),
    ],
)
def test_run_with_bad_parameters_exits_2(env, capsys, args, message):
    flows_loaded = "bnpipe.flows.bn_comparison" in sys.modules
    assert main(["run", "boston", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnpipe: error: ") and message in err
    if not flows_loaded:
        assert "bnpipe.flows.bn_comparison" not in sys.modules


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["iris", "--grid", "learning_rate=0.1", "--epochs", "0"], "epochs must be a whole"),
        (["iris", "--grid", "batch_size=16,16.5"], "grid batch_size: '16.5' is not a whole number"),
        (["iris", "--grid", "optimizer=adam,nadamw"], "grid optimizer: optimizer must be one of"),
        (["iris", "--grid", "epochs=10,1000000"], "from 1 to 100000, got 1000000"),
        (["iris", "--grid", "learning_rate=0.1", "--seeds", "0"], "seeds must be a positive"),
        (["iris", "--grid", "momentum=0.9"], "'momentum' is not a sweep parameter"),
        (["iris"], "give at least one --grid NAME=V1,V2"),
        (["--grid", "learning_rate=0.1"], "name one or more datasets"),
        (["nosuch", "--grid", "learning_rate=0.1"], "nosuch"),
        (["--file", "no/such.yaml"], "cannot read the sweep file"),
        (["iris", "--grid", "learning_rate=0.1,1", "--heatmap", "learning_rate"], "two different"),
        (
            [
                "iris",
                "--grid",
                "learning_rate=0.1",
                "--grid",
                "batch_size=8,16",
                "--heatmap",
                "learning_rate,optimizer",
            ],
            "optimizer is not an axis of this grid",
        ),  # fmt: skip
    ],
)
def test_sweep_with_bad_arguments_exits_2_before_anything_starts(env, capsys, args, message):
    flows_loaded = "bnpipe.flows.bn_sweep" in sys.modules
    assert main(["sweep", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("bnpipe: error: ") and message in err, err
    if not flows_loaded:
        assert "bnpipe.flows.bn_sweep" not in sys.modules


@pytest.mark.parametrize(
    "argv",
    [
        ["run"],
        ["run", "boston", "--epochs", "ten"],
        ["run", "boston", "--input-scaling", "minmax"],
        ["run", "boston", "--engine", "turbo"],
        ["frobnicate"],
        [],
    ],
)
def test_argparse_errors_exit_2(env, capsys, argv):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "usage: bnpipe" in capsys.readouterr().err


# --------------------------------------------------------------------------- validate


def test_validate_rejects_an_html_page_before_validation(env, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    (mirror / "boston.csv").write_text("<html><body>Service unavailable</body></html>")
    env["BNPIPE_DATA_MIRROR"] = str(mirror)
    assert main(["validate", "boston"]) == 1
    err = capsys.readouterr().err
    assert "boston: download failed" in err and "HTML/XML page" in err
    assert (mirror / "boston.csv").as_uri() in err
    assert not (tmp_path / "state" / "cache" / "boston" / "latest.json").exists()


def test_validate_offline_without_a_cache_fails(env, capsys):
    assert main(["validate", "boston", "--offline"]) == 1
    assert "boston: offline, and no cached copy" in capsys.readouterr().err


@pytest.mark.slow  # imports Great Expectations
def test_validate_boston_from_the_mirror(env, data_mirror, tmp_path, capsys):
    env["BNPIPE_DATA_MIRROR"] = str(data_mirror)
    assert main(["validate", "boston"]) == 0
    out = capsys.readouterr().out
    assert (data_mirror / "boston.csv").as_uri() in out
    assert "sha256 " in out
    assert "boston: validation passed" in out and "506 rows" in out
    # validating alone does not make the last good copy (a completed run does)
    assert not (tmp_path / "state" / "cache" / "boston" / "latest.json").exists()
    assert main(["validate", "boston", "--offline"]) == 1
    assert "offline, and no cached copy" in capsys.readouterr().err

    # a cached copy serves --offline, with a warning
    from bnpipe.ingest import DataCache

    DataCache(tmp_path / "state" / "cache").store(
        "boston", "https://example.com/boston.csv", (data_mirror / "boston.csv").read_bytes()
    )
    assert main(["validate", "boston", "--offline"]) == 0
    captured = capsys.readouterr()
    assert "warning: boston: offline" in captured.err
    assert "validation passed" in captured.out


@pytest.mark.slow  # imports Great Expectations
def test_validate_bad_data_exits_1_naming_the_column(env, data_mirror, tmp_path, capsys):
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    df = pd.read_csv(data_mirror / "boston.csv")
    df.loc[3, "crim"] = -1.5
    df.to_csv(mirror / "boston.csv", index=False)
    env["BNPIPE_DATA_MIRROR"] = str(mirror)
    assert main(["validate", "boston"]) == 1
    out = capsys.readouterr().out
    assert "boston: validation failed" in out
    assert "column 'crim'" in out and "-1.5" in out


@pytest.mark.slow  # imports Great Expectations
def test_validate_reports_blank_cells_the_missing_policy_refuses(env, tmp_path, capsys):
    """What a run refuses, validate refuses: blanks under ``missing: error`` that the
    suite itself does not check (here it checks only the column list)."""
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    frame = pd.DataFrame(
        {"size": [30.5, np.nan, 80.0, np.nan, 55.0] * 4, "rooms": [1, 2, 3, 4, 5] * 4}
    )
    frame["price"] = frame["rooms"] * 10.0
    frame.to_csv(mirror / "flats.csv", index=False)
    suites = tmp_path / "expectations"
    suites.mkdir()
    suite = {
        "name": "flats",
        "expectations": [
            {
                "type": "expect_table_columns_to_match_ordered_list",
                "kwargs": {"column_list": list(frame.columns)},
            }
        ],
    }
    (suites / "flats.json").write_text(json.dumps(suite), "utf-8")
    entry = {
        "url": (mirror / "flats.csv").as_uri(),
        "task": "regression",
        "target": "price",
        "features": ["size", "rooms"],
        "missing": "error",
    }
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text(yaml.safe_dump({"datasets": {"flats": entry}}), "utf-8")
    env.update(
        BNPIPE_CATALOG=str(catalog),
        BNPIPE_EXPECTATIONS_DIR=str(suites),
        BNPIPE_DATA_MIRROR=str(mirror),
    )
    assert main(["validate", "flats"]) == 1
    out = capsys.readouterr().out
    assert "flats: validation failed" in out
    assert (
        "column 'size': bnpipe_missing_policy — blank cells are not allowed (missing: error): "
        "8 blank cells, e.g. on CSV lines [3, 5, 8, 10, 13]"
    ) in out

    entry["missing"] = "impute"  # the same file under impute passes
    catalog.write_text(yaml.safe_dump({"datasets": {"flats": entry}}), "utf-8")
    assert main(["validate", "flats"]) == 0
    assert "flats: validation passed" in capsys.readouterr().out


# --------------------------------------------------------------------------- infer_task (what `dataset init` infers: bnpipe.profiling)


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        (pd.Series(["setosa", "virginica"], dtype="category"), "classification"),
        ([0, 1, 1, 0], "classification"),
        ([1.0, 2.0, 3.0, 2.0], "classification"),  # whole-number codes stored as floats
        (pd.Series([1, 2, None], dtype="Int64"), "classification"),
        (list(range(11)), "regression"),  # more than 10 distinct whole numbers
        ([1.5, 2.0, 3.25], "regression"),
        ([24.0, 21.6, 34.7, np.nan], "regression"),
    ],
)
def test_infer_task(values, task):
    assert infer_task(pd.Series(values)) == task


def test_infer_task_on_real_data(data_mirror):
    assert infer_task(pd.read_csv(data_mirror / "boston.csv")["medv"]) == "regression"
    assert infer_task(pd.read_csv(data_mirror / "iris.csv")["품종"]) == "classification"


# --------------------------------------------------------------------------- format_result


def comparison(summary, seeds: int, **fields) -> ComparisonResult:
    return ComparisonResult(
        dataset="boston",
        task="regression",
        run_id="run123",
        experiment_id="1",
        data_sha256="ab" * 32,
        data_source="bundled",
        seeds=seeds,
        primary_metric=summary.primary,
        winner=summary.winner,
        summaries=summary.summaries,
        differences=summary.intervals,
        diverged=tuple(summary.diverged),
        **fields,
    )


def seed_results(rmse: dict[str, list[float]]):
    from bnpipe.comparison import SeedResult

    return [
        SeedResult(
            v,
            s,
            {"loss": [r if np.isfinite(r) else np.nan]},
            {"test_rmse": r, "test_mae": r, "test_r2": 0.5 if np.isfinite(r) else np.nan},
            np.zeros(1),
            0.1,
        )
        for v, rs in rmse.items()
        for s, r in enumerate(rs)
    ]


def test_format_result_shows_the_parent_run_numbers():
    from bnpipe.comparison import summarize_results
    from bnpipe.registry import Decision

    # bn's seed 3 diverged: its pair is left out, its mean over the other three
    results = seed_results({"plain": [5.0, 6.0, 4.0, 9.0], "bn": [4.5, 5.5, 3.5, np.nan]})
    summary = summarize_results("boston", "regression", results, n_boot=200)
    decision = Decision(
        "bnpipe-boston", False, "drift", "test_rmse", "r1", "bn", 4.5, version="3",
        holds=["drift above the block level: crim"],
    )  # fmt: skip
    text = format_result(comparison(summary, 4, promotion=decision, outcome="held", drift="block"))
    assert text.startswith(
        "boston (regression, 4 seeds, data abababababab from bundled, MLflow run run123)"
    )
    assert "plain" in text and "bn" in text and "test_rmse" in text
    assert "4.5 ± 1.0 (1 of 4 non-finite)" in text  # bn over its three finite seeds
    assert "bn - plain test_rmse: -0.5 (95% CI -0.5 to -0.5)  winner: bn" in text
    assert "diverged and left out: bn-seed3" in text
    assert "registry: bnpipe-boston v3 registered; promotion HELD for review (drift)" in text
    assert "  held: drift above the block level: crim" in text
    assert text.endswith("drift against the champion's data: block")


def test_format_result_with_one_seed_prints_no_interval_and_no_winner():
    from bnpipe.comparison import summarize_results

    results = seed_results({"plain": [40.0], "bn": [72.79]})
    summary = summarize_results("boston", "regression", results, n_boot=200)
    text = format_result(comparison(summary, 1))
    assert (
        "bn - plain test_rmse: +32.79 (95% CI n/a: one seed; use --seeds 2 or more)  winner: n/a"
        in text
    )
    assert "+32.79 to +32.79" not in text and summary.winner == "tie"
    assert "diverged" not in text and "registry:" not in text


def test_format_sweep_names_the_dataset_once_the_metric_and_ends_with_the_links(env):
    from bnpipe.ops.cli.sweep import format_sweep, format_sweep_links
    from bnpipe.registry import Decision
    from bnpipe.settings import load_settings

    decision = Decision("bnpipe-iris", True, "first version", "test_log_loss", "r1", "bn", 0.2)
    decision.version = "4"
    cell = {"cell": "lr=0.1", "mean": -0.05, "ci_low": -0.08, "ci_high": -0.02}
    diverged = {"cell": "lr=1e9", "mean": float("nan"), "ci_low": float("nan")}
    result = {
        "dataset": "iris",
        "task": "classification",
        "metric": "test_log_loss",
        "seeds": 2,
        "run_id": "sweep1",
        "link": "http://127.0.0.1:5000/#/experiments/3/runs/sweep1",
        "report": "/somewhere/sweep.html",
        "summary": "iris: bn wins 1 of 2 cells, plain 0, tie 0, diverged 1 (Holm-adjusted)",
        "cells": [
            cell | {"p_adjusted": 0.01, "winner": "bn"},
            diverged | {"ci_high": float("nan"), "p_adjusted": float("nan"), "winner": "diverged"},
        ],
        "reused": 0,
        "trained": 2,
        "seed_runs": 8,
        "training_seconds": 8.0,
        "logging_seconds": 2.0,
        "store": "sqlite",
        "best_cell": "lr=0.1",
        "promotion": decision.to_dict(),
        "outcome": decision.outcome,
    }
    text = format_sweep(result)
    assert text.splitlines()[0] == (
        "iris (classification, 2 cells x 2 variants x 2 seeds, primary metric test_log_loss)"
    )
    assert text.count("iris") == 2  # the head, and the registered model's name
    assert "bn - plain test_log_loss" in text.splitlines()[1]
    assert "lr=0.1" in text and "-0.08 to -0.02" in text
    diverged_row = next(line for line in text.splitlines() if line.startswith("lr=1e9"))
    assert "n/a to n/a" in diverged_row and diverged_row.split()[-1] == "diverged"
    assert (
        "bn wins 1 of 2 cells, plain 0, tie 0, diverged 1 (Holm-adjusted); 2 cell(s) trained"
        in text
    )
    assert "logging 8 seed runs 2.0 s (0.25 s each, MLflow sqlite)" in text
    assert (
        "best cell: lr=0.1; registry: bnpipe-iris v4 promoted to @champion (first version)" in text
    )
    links = format_sweep_links([result], load_settings()).splitlines()
    assert links[0].startswith("MLflow UI: ")
    assert links[1:] == [
        "  iris sweep:   http://127.0.0.1:5000/#/experiments/3/runs/sweep1",
        "  iris report:  /somewhere/sweep.html",
    ]

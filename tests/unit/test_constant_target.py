"""A target with fewer than 2 distinct values is refused (``bnpipe.validation.sanity``): at
``dataset init`` (tests/unit/test_drafting.py), and at run time and by ``bnpipe
validate`` beside the suite's rules, in one line naming the dataset, the column
and the rule."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnpipe.catalog import get_spec, load_catalog
from bnpipe.ops.cli import main
from bnpipe.ops.cli.errors import error_line
from bnpipe.validation import DataValidationError, sanity
from tests.conftest import REPO


def test_a_varying_target_passes_and_blank_rows_do_not_count():
    assert sanity.constant_target(pd.Series([1.0, 2.0])) is None
    assert sanity.constant_target(pd.Series(["a", "b", None])) is None
    assert sanity.constant_target(pd.Series([3.5, np.nan, 3.5])) == (
        "the target must have at least 2 distinct values (a constant target leaves nothing "
        "to learn); found only 3.5, on all 2 rows with a target"
    )
    assert sanity.constant_target(pd.Series([np.nan, np.nan])) == (
        "the target must have at least 2 distinct values; every row's target is blank"
    )
    assert "found only [1], on all 2 rows" in sanity.constant_target(pd.Series([[1], [1]]))


def test_an_absent_target_is_left_to_the_suite():
    spec = get_spec(load_catalog(REPO / "datasets.yaml"), "boston")
    assert sanity.target_failures(pd.DataFrame({"crim": [1.0, 1.0]}), spec) == []


@pytest.mark.slow  # imports Great Expectations
def test_a_run_and_validate_refuse_a_constant_target_in_one_line(
    env, data_mirror, tmp_path, capsys
):
    """boston with every medv 22.0 passes its own suite (22.0 is in range), so only
    the target rule stops it."""
    from bnpipe.data_checks import check_data
    from bnpipe.settings import load_settings

    mirror = tmp_path / "mirror"
    mirror.mkdir()
    df = pd.read_csv(data_mirror / "boston.csv").assign(medv=22.0)
    df.to_csv(mirror / "boston.csv", index=False)
    env["BNPIPE_DATA_MIRROR"] = str(mirror)
    assert main(["validate", "boston"]) == 1
    out = capsys.readouterr().out
    words = (
        "column 'medv': bnpipe_target_varies — the target must have at least 2 distinct values "
        "(a constant target leaves nothing to learn); found only 22.0, on all 506 rows"
    )
    assert words in out.splitlines()[-1], out

    # what `bnpipe run` prints: the validate task raises DataValidationError
    settings = load_settings()
    report = check_data(df, get_spec(load_catalog(settings.catalog_path), "boston"), settings)
    assert [f.rule for f in report.failures] == ["bnpipe_target_varies"]
    line = error_line(DataValidationError(report), settings)
    assert line.startswith(f"boston: validation failed against suite 'boston': {words}; ")
    assert "\n" not in line

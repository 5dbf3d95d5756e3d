"""A real-world CSV at the flow level: blank cells, a date, a rare category.

The catalog entry is written here by hand (``dataset init`` drafting it is
tested in tests/unit and tests/e2e): under ``missing: impute`` every seed trains
on finite inputs and the logged model scores rows with blank cells; under
``missing: error`` the same file is refused naming the column and the count.
"""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml
from mlflow import MlflowClient

from bnpipe.params import RunConfig

pytestmark = pytest.mark.slow


def flats(n: int = 240, seed: int = 5) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    size = rng.uniform(30, 150, n).round(1)
    city = rng.choice(["north", "south", "east"], n)
    city[:2] = "harbour"  # a rare category
    built = pd.Timestamp("1990-01-01") + pd.to_timedelta(rng.integers(0, 12000, n), unit="D")
    price = size * 3 + np.where(city == "north", 50, 0) + rng.normal(0, 5, n)
    frame = pd.DataFrame(
        {
            "size": size,
            "rooms": rng.integers(1, 6, n),
            "city": city,
            "built": built.strftime("%Y-%m-%d"),
            "price": price.round(2),
        }
    )
    frame.loc[[3, 17, 40, 41], "size"] = np.nan
    frame.loc[[5, 60], "city"] = None
    frame.loc[[7], "built"] = None
    frame.loc[[9, 99], "price"] = np.nan  # blank targets: never trained on
    return frame


ENTRY = {
    "description": "flats with blanks",
    "task": "regression",
    "target": "price",
    "features": ["size", "rooms", "city", "built"],
    "categorical": ["city"],
    "dates": ["built"],
    "min_frequency": 3,
    "suite": "flats",
    "sha256": None,
}


@pytest.fixture
def project(env, tmp_path, monkeypatch):
    """A catalog with `flats` (policy given per test), its data and a permissive suite."""
    frame = flats()
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    frame.to_csv(mirror / "flats.csv", index=False)
    expectations = tmp_path / "expectations"
    expectations.mkdir()
    suite = {
        "name": "flats",
        "expectations": [
            {
                "type": "expect_table_columns_to_match_ordered_list",
                "kwargs": {"column_list": list(frame.columns)},
            }
        ],
    }
    (expectations / "flats.json").write_text(json.dumps(suite), "utf-8")
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("BNPIPE_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.setenv("BNPIPE_DATA_MIRROR", str(mirror))
    monkeypatch.setenv("BNPIPE_EXPECTATIONS_DIR", str(expectations))

    def catalog(missing: str) -> None:
        entry = {**ENTRY, "url": (mirror / "flats.csv").as_uri(), "missing": missing}
        path = tmp_path / "datasets.yaml"
        path.write_text(yaml.safe_dump({"datasets": {"flats": entry}}), "utf-8")
        monkeypatch.setenv("BNPIPE_CATALOG", str(path))

    return {"frame": frame, "uri": uri, "catalog": catalog, "tmp": tmp_path}


def test_blank_cells_are_imputed_and_every_seed_trains_on_finite_inputs(project):
    import mlflow

    from bnpipe.flows.bn_comparison import bn_comparison

    project["catalog"]("impute")
    out = bn_comparison(
        datasets=["flats"], config=RunConfig(epochs=5, seeds=2, input_scaling="standard")
    )
    result = out["flats"]
    assert result.diverged == ()
    client = MlflowClient(project["uri"])
    parent = client.get_run(result.run_id)
    assert parent.data.tags["dropped_rows_blank_target"] == "2"
    children = client.search_runs(
        [result.experiment_id], f"tags.mlflow.parentRunId = '{parent.info.run_id}'"
    )
    assert len(children) == 4
    for child in children:
        assert all(np.isfinite(v) for k, v in child.data.metrics.items() if k.startswith("test_"))

    # the logged model scores raw rows with blank cells (its own imputation)
    model = mlflow.pyfunc.load_model(f"runs:/{children[0].info.run_id}/{children[0].info.run_name}")
    rows = project["frame"].drop(columns=["price"]).iloc[[3, 5, 7, 10]]
    assert rows.isna().any(axis=1).tolist() == [True, True, True, False]
    pred = model.predict(rows)
    assert len(pred) == 4 and np.isfinite(pred["prediction"]).all()


def test_blank_cells_under_missing_error_are_refused_naming_column_and_count(project):
    from bnpipe.flows.bn_comparison import bn_comparison

    project["catalog"]("error")
    with pytest.raises(Exception, match="flats: validation failed") as err:
        bn_comparison(datasets=["flats"], config=RunConfig(epochs=5, seeds=1))
    lines = [f.line() for f in err.value.report.failures]
    assert any(
        line.startswith("column 'size': bnpipe_missing_policy — blank cells are not allowed")
        and "4 blank cells" in line
        for line in lines
    ), lines
    client = MlflowClient(project["uri"])
    exp = client.get_experiment_by_name("bn-comparison-flats")
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]  # the parent, nothing RUNNING
    assert client.search_model_versions("name='bnpipe-flats'") == []

"""The bn-comparison flow in one Prefect test harness, against a throwaway MLflow store."""

from __future__ import annotations

import pandas as pd
import pytest
from mlflow import MlflowClient

from tests.contract import assert_comparison, assert_model_predicts_raw_rows

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def env(tmp_path_factory, data_mirror):
    from prefect.testing.utilities import prefect_test_harness

    tmp = tmp_path_factory.mktemp("flow")
    mp = pytest.MonkeyPatch()
    uri = f"sqlite:///{tmp / 'mlflow.db'}"
    mp.setenv("MLFLOW_TRACKING_URI", uri)
    mp.setenv("BNPIPE_STATE_DIR", str(tmp / "state"))
    mp.setenv("BNPIPE_DATA_MIRROR", str(data_mirror))
    with prefect_test_harness(server_startup_timeout=90):
        yield {"uri": uri, "tmp": tmp, "mirror": data_mirror}
    mp.undo()


def test_flow_logs_the_contract_and_registers_a_champion(env):
    from flows.bn_comparison import bn_comparison

    result = bn_comparison(datasets=["iris"], epochs=4, seeds=2)

    client = MlflowClient(env["uri"])
    parent, children = assert_comparison(client, "iris", "classification", epochs=4, seeds=2)
    assert result["iris"]["run_id"] == parent.info.run_id
    raw = pd.read_csv(env["mirror"] / "iris.csv")
    assert_model_predicts_raw_rows(env["uri"], children[0], raw, "classification", "품종")
    champion = client.get_model_version_by_alias("bnpipe-iris", "champion")
    assert str(champion.version) == "1"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {
        "validation.json",
        "promotion.json",
        "comparison.html",
        "learning_curves.png",
    } <= artifacts


def test_flow_stops_before_training_on_bad_data(env, tmp_path, monkeypatch):
    """A CSV that breaks the suite fails the flow with a message naming the column;
    the parent run ends FAILED with the validation report, no child runs, no model."""
    from flows.bn_comparison import bn_comparison

    bad = pd.read_csv(env["mirror"] / "boston.csv")
    bad.loc[[3, 7], "medv"] = -5.0
    bad.to_csv(tmp_path / "boston.csv", index=False)
    monkeypatch.setenv("BNPIPE_DATA_MIRROR", str(tmp_path))

    with pytest.raises(Exception, match="medv") as err:
        bn_comparison(datasets=["boston"], epochs=2, seeds=1)
    assert "boston" in str(err.value)

    client = MlflowClient(env["uri"])
    exp = client.get_experiment_by_name("bn-comparison-boston")
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert runs[0].data.tags["validation"] == "failed"
    assert "validation.json" in {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert client.search_model_versions("name='bnpipe-boston'") == []

"""Links into the MLflow UI and the seed runs' descriptions (no MLflow needed)."""

from __future__ import annotations

import json
import urllib.parse

from bnpipe import links, tracking
from bnpipe.settings import load_settings


def _settings(uri: str, port: str = "5000"):
    return load_settings({"MLFLOW_TRACKING_URI": uri, "BNPIPE_MLFLOW_PORT": port})


def test_links_point_at_the_tracking_server_without_credentials():
    s = _settings("https://bob:secret@mlflow.example.org/team/")
    assert links.ui_base(s) == "https://mlflow.example.org/team"
    ui = links.comparison_links(s, "7", "p1", ["c1", "c2"])
    base = "https://mlflow.example.org/team/#/experiments/7/runs"
    # the parameter opens the UI in its Model training mode, not on a GenAI overview
    # the runs table opens on the comparison's saved view (winner, primary metric)
    assert ui["runs"] == f"{base}?viewStateShareKey=bnpipe-comparison&workflowType=machine_learning"
    assert links.experiment_runs("http://h:1", "7") == (
        "http://h:1/#/experiments/7/runs?workflowType=machine_learning"
    )
    assert ui["parent"] == f"{base}/p1?workflowType=machine_learning"
    assert "secret" not in "".join(ui.values()) and "bob" not in "".join(ui.values())


def test_with_sqlite_the_links_go_to_the_local_ui_on_the_stack_port():
    s = _settings("sqlite:////data/mlflow.db", port="5123")
    assert not links.served(s.tracking_uri)
    assert links.ui_base(s) == "http://127.0.0.1:5123"
    assert links.ui_command(s).endswith(
        "mlflow ui --backend-store-uri sqlite:////data/mlflow.db --host 127.0.0.1 --port 5123"
        " --app-name bnpipe"  # the UI opening in Model training mode (bnpipe.ops.mlflow_app)
    )


def test_the_compare_link_names_every_seed_run_and_the_experiment():
    url = links.compare_runs("http://h:1", "3", ["a1", "b2", "c3"])
    route, _, query = url.partition("?")
    assert route == "http://h:1/#/compare-runs"
    args = urllib.parse.parse_qs(query)
    assert json.loads(args["runs"][0]) == ["a1", "b2", "c3"]
    assert json.loads(args["experiments"][0]) == ["3"]
    assert args["workflowType"] == ["machine_learning"]


def test_a_seed_runs_description_says_variant_seed_and_its_test_metrics():
    text = tracking.child_description(
        "bn", 3, {"test_rmse": 3.14159, "test_r2": 0.8123}, dataset="boston"
    )
    assert text.startswith("**bn**, seed 3 on boston")
    assert "| rmse | 3.142 |" in text and "| r2 | 0.8123 |" in text
    assert "Diverged" not in text
    bad = tracking.child_description("plain", 0, {"test_rmse": float("nan")}, diverged=True)
    assert "Diverged" in bad and "no model logged" in bad


def test_a_description_longer_than_mlflow_keeps_is_cut_with_a_pointer():
    class Client:
        def log_batch(self, run_id, tags):
            self.value = tags[0].value

    client = Client()
    tracking.describe(client, "r", "x" * 20_000)
    assert len(client.value) <= tracking.DESCRIPTION_MAX
    assert client.value.endswith("(cut: see comparison.md)\n")

"""The runs table's saved view of a comparison experiment, on a real SQLite store,
in the form MLflow 3.17's UI reads (tests/e2e/test_ui.py opens it in a browser)."""

from __future__ import annotations

import json

from bnpipe import tracking
from bnpipe.tracking import views


def test_the_view_shows_the_primary_metric_and_the_winner_and_is_written_once(tmp_path):
    client = tracking.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    eid = tracking.ensure_experiment(client, "bn-comparison-x", (tmp_path / "a").as_uri())
    assert tracking.ensure_runs_view(client, eid, "test_rmse") == tracking.VIEW_ID
    key = "mlflow.sharedViewState.bnpipe-comparison"
    raw = client.get_experiment(eid).tags[key]
    envelope = json.loads(raw)
    # the UI's saved-view envelope: a string name, a number createdAt, a string state
    assert envelope["name"] == "bnpipe: winner and test_rmse"
    assert isinstance(envelope["createdAt"], int) and isinstance(envelope["state"], str)
    assert json.loads(envelope["state"]) == {
        "selectedColumns": [
            "metrics.`test_rmse`",
            "metrics.`val_rmse`",
            "metrics.`plain_test_rmse_mean`",
            "metrics.`bn_test_rmse_mean`",
            "tags.`winner`",
        ]
    }
    tracking.ensure_runs_view(client, eid, "test_rmse")  # the same: left as it was
    assert client.get_experiment(eid).tags[key] == raw

    client.set_experiment_tag(eid, key, "not json")  # a broken one is written again
    tracking.ensure_runs_view(client, eid, "test_log_loss")
    again = json.loads(client.get_experiment(eid).tags[key])
    assert "metrics.`test_log_loss`" in json.loads(again["state"])["selectedColumns"]
    before = json.loads(client.get_experiment(eid).tags[key])["createdAt"]
    tracking.ensure_runs_view(client, eid, "test_rmse")  # changed: its creation time kept
    assert json.loads(client.get_experiment(eid).tags[key])["createdAt"] == before
    assert views.column("tags", "winner") == "tags.`winner`"

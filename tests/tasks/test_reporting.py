"""The reporting tasks on a small real comparison: their undecorated functions
(``.fn``) log to a throwaway SQLite MLflow store and create their Prefect
artifacts on a temporary Prefect server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bnpipe import report, tracking
from bnpipe.settings import load_settings
from bnpipe.tasks.reporting import publish_report, summarize_comparison
from tests import comparisons

pytestmark = pytest.mark.slow  # MLflow, Prefect, matplotlib, scikit-learn


@pytest.fixture(scope="module")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=90):
        yield


@pytest.fixture
def parent(tmp_path):
    """A parent run in a new SQLite store, its artifacts under ``tmp_path``."""
    from mlflow import MlflowClient

    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = MlflowClient(uri)
    exp_id = tracking.ensure_experiment(client, "bnpipe-toy", (tmp_path / "mlartifacts").as_uri())
    run_id = tracking.start_run(client, exp_id, run_name="toy-test", tags={"dataset": "toy"})
    return tracking.ParentRun(uri, exp_id, run_id)


@pytest.fixture(scope="module")
def toy():
    return comparisons.comparison("regression")


def test_summarize_logs_the_summary_on_the_parent_run(parent, toy):
    from prefect.logging import disable_run_logger

    with disable_run_logger():
        summary = summarize_comparison.fn(parent, toy.spec, toy.results)
    assert summary.winner == toy.summary.winner and summary.primary == "test_rmse"
    run = parent.client.get_run(parent.run_id)
    assert run.data.tags["winner"] == summary.winner
    assert run.data.tags["primary_metric"] == "test_rmse"
    assert run.data.tags["diverged_seeds"] == "0"
    metrics = run.data.metrics
    for variant in ("plain", "bn"):
        mean = summary.summaries[variant]["test_rmse"].mean
        assert metrics[f"{variant}_test_rmse_mean"] == pytest.approx(mean)
    assert metrics["bn_minus_plain_test_rmse_mean"] == pytest.approx(
        summary.intervals["test_rmse"].mean
    )
    assert "bn_minus_plain_test_rmse_boot_ci_low" in metrics


def test_publish_logs_the_report_and_the_flow_shows_it_as_prefect_artifacts(
    parent, toy, tmp_path, prefect_api
):
    from prefect.artifacts import Artifact
    from prefect.logging import disable_run_logger

    from bnpipe.tasks.artifacts import show_comparison

    settings = load_settings({"MLFLOW_TRACKING_URI": parent.tracking_uri})
    decision = comparisons.decision(toy)
    drift = comparisons.drift_check(toy)
    with disable_run_logger():
        judged = comparisons.judged(
            parent, toy.spec, toy.data, toy.results, toy.summary, settings, snap=toy.snap,
            check=toy.check, drift=drift, validation_summary="3 expectations, 3 passed",
        )  # fmt: skip
        ui, markdown = publish_report.fn(judged, decision)
        show_comparison(toy.spec.name, parent.run_id, markdown, ui["parent"])

    base = f"http://127.0.0.1:{settings.mlflow_port}/#/experiments/{parent.experiment_id}"
    assert set(ui) == {"runs", "parent", "compare"}
    assert ui["parent"].startswith(f"{base}/runs/{parent.run_id}")
    assert all(r.run_id in ui["compare"] for r in toy.results)

    client = parent.client
    names = {a.path for a in client.list_artifacts(parent.run_id)}
    assert names == {
        "comparison.html",
        "comparison.md",
        "learning_curves.png",
        "predicted_vs_actual.png",
    }
    out = tmp_path / "downloaded"
    out.mkdir()
    md = Path(client.download_artifacts(parent.run_id, "comparison.md", str(out))).read_text()
    expected = report.markdown_report(toy.spec, toy.snap, toy.summary, decision, drift, toy.check)
    assert md == expected == markdown
    run = client.get_run(parent.run_id)
    assert run.data.tags["mlflow.note.content"] == md  # the run's description
    page = Path(client.download_artifacts(parent.run_id, "comparison.html", str(out))).read_text()
    assert "<h2>References: is the network worth it?</h2>" in page
    assert 'src="predicted_vs_actual.png"' in page

    comparison = Artifact.get("bn-comparison-toy")
    assert comparison is not None and comparison.type == "markdown"
    assert comparison.data == md
    link = Artifact.get("mlflow-run-toy")
    assert link is not None  # Prefect keeps a link artifact as Markdown: [text](link)
    assert f"MLflow: toy comparison (run {parent.run_id[:8]})" in link.data
    assert ui["parent"] in link.data

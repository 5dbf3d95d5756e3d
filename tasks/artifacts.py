"""What a person sees of a comparison on the Prefect flow run: its table as a
markdown artifact and its MLflow run as a link artifact.

These are called from the flow body, never from inside a task: an artifact made
in a task belongs to that task run, and the UI's artifact page then shows the
task run rather than the flow run the user opened. A failure to create one is a
warning: the artifacts are a convenience, the run's outcome is in MLflow.
"""

from __future__ import annotations

from collections.abc import Callable

from prefect import get_run_logger

from bnpipe import report
from bnpipe.results import ComparisonResult, unchanged_markdown


def show_comparison(dataset: str, run_id: str, markdown: str, link: str) -> None:
    """A comparison that trained: its report's markdown and its parent run's link."""
    _markdown(dataset, markdown, f"plain vs bn on {dataset}")
    _link(dataset, link, f"MLflow: {dataset} comparison (run {run_id[:8]})")


def show_unchanged(result: ComparisonResult) -> None:
    """A comparison skipped as unchanged: the earlier run's table, and its link."""
    _markdown(
        result.dataset,
        unchanged_markdown(result),
        f"{result.dataset}: unchanged, the outcome of run {result.run_id[:8]} stands",
    )
    if result.links.get("parent"):
        text = f"MLflow: {result.dataset} comparison reused (run {result.run_id[:8]})"
        _link(result.dataset, result.links["parent"], text)


def show_sweep(dataset: str, markdown: str) -> None:
    """A sweep's table of cells."""
    from prefect.artifacts import create_markdown_artifact

    _create("sweep", lambda: create_markdown_artifact(
        markdown=markdown, key=f"bn-sweep-{report.artifact_key(dataset)}",
        description=f"sweep on {dataset}",
    ))  # fmt: skip


def _markdown(dataset: str, markdown: str, description: str) -> None:
    from prefect.artifacts import create_markdown_artifact

    key = f"bn-comparison-{report.artifact_key(dataset)}"
    _create("comparison", lambda: create_markdown_artifact(
        markdown=markdown, key=key, description=description,
    ))  # fmt: skip


def _link(dataset: str, link: str, text: str) -> None:
    from prefect.artifacts import create_link_artifact

    _create("link", lambda: create_link_artifact(
        link=link, key=f"mlflow-run-{report.artifact_key(dataset)}", link_text=text,
        description=f"the parent run of plain vs bn on {dataset} in the MLflow UI",
    ))  # fmt: skip


def _create(what: str, create: Callable[[], object]) -> None:
    try:
        create()
    except Exception as exc:  # noqa: BLE001 - a UI convenience never fails a run
        get_run_logger().warning("could not create the Prefect %s artifact: %s", what, exc)

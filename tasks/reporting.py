"""Summaries, plots and the comparison report on the parent run (and in Prefect)."""

from __future__ import annotations

import tempfile
from collections.abc import Sequence
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import report
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import ComparisonSummary, SeedResult, summarize_results
from bnpipe.registry import Decision
from bnpipe.report import ReferenceCheck
from bnpipe.stages import Judged
from bnpipe.tracking import ParentRun

__all__ = ["ReferenceCheck", "publish_report", "summarize_comparison"]


@task(name="summarize", cache_policy=NO_CACHE)
def summarize_comparison(
    parent: ParentRun, spec: DatasetSpec, results: Sequence[SeedResult]
) -> ComparisonSummary:
    """Mean ± std per variant and bn − plain paired bootstrap intervals; logged on the parent run."""
    summary = summarize_results(spec.name, spec.task, results)
    parent.log_metrics(summary.parent_metrics())
    parent.tag(
        {
            "winner": summary.winner,
            "primary_metric": summary.primary,
            "diverged_seeds": len(summary.diverged),
        }
    )
    # One line: the table is the flow run's artifact and the end of `bnpipe run`'s output.
    iv = summary.intervals.get(summary.primary)
    get_run_logger().info(
        "%s: winner %s on %s%s",
        spec.name,
        summary.winner,
        summary.primary,
        f": {report.describe_interval(iv)}" if iv is not None else "",
    )
    return summary


@task(name="report", cache_policy=NO_CACHE)
def publish_report(judged: Judged, decision: Decision | None) -> tuple[dict[str, str], str]:
    """Plots (learning curves; confusion matrix or predicted vs actual, with the
    references drawn in), ``comparison.html`` and ``comparison.md`` on the parent
    run, the comparison as its description. Returns the MLflow UI links
    (:func:`bnpipe.links.comparison_links`) and the report's markdown, which the
    flow shows on its flow run (``tasks.artifacts``)."""
    from bnpipe import links

    p = judged.prepared
    parent, results = p.run, judged.results
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        markdown = report.write_comparison_report(
            out, spec=p.spec, snap=p.checked.snap, data=p.data, results=results,
            summary=judged.summary, validation_summary=p.checked.validation_summary,
            decision=decision, drift=p.checked.drift, check=judged.check,
        )  # fmt: skip
        for f in out.iterdir():
            parent.log_artifact(f)
    try:  # the MLflow UI's view of the comparison: never worth failing a finished run
        parent.describe(markdown)
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning("could not set the MLflow run description: %s", exc)
    ui = links.comparison_links(
        p.request.settings, parent.experiment_id, parent.run_id,
        [r.run_id for r in results if r.run_id],
    )  # fmt: skip
    return ui, markdown

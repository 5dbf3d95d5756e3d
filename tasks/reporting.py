"""Summaries, plots and the comparison report on the parent run (and in Prefect)."""

from __future__ import annotations

import hashlib
import re
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import report
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import ComparisonSummary, SeedResult, by_variant, summarize_results
from bnpipe.features import Encoded
from bnpipe.gate import DriftCheck
from bnpipe.ingest import Snapshot
from bnpipe.references import References
from bnpipe.registry import Decision
from bnpipe.settings import Settings
from bnpipe.tracking import ParentRun


@dataclass
class ReferenceCheck:
    """The references of one comparison and the variants' verdicts against them."""

    refs: References
    verdicts: dict[str, str]
    headline: str | None

    def metrics_by_reference(self) -> dict[str, dict[str, float]]:
        return {"baseline": self.refs.baseline_metrics, "linear": self.refs.linear_metrics}


def results_table(
    summary: ComparisonSummary, check: ReferenceCheck | None = None
) -> tuple[list[str], list[list[str]]]:
    """The per-variant mean ± std table, with the references' rows below: the
    terminal, the report and Prefect show this."""
    rows = report.comparison_table(summary.summaries, summary.metrics)
    if check is not None:
        rows += report.reference_rows(check.metrics_by_reference(), summary.metrics)
    return report.comparison_headers(summary.metrics), rows


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
    headers, rows = results_table(summary)
    get_run_logger().info(
        "%s: winner %s on %s\n%s",
        spec.name,
        summary.winner,
        summary.primary,
        report.format_table(rows, headers),
    )
    return summary


@task(name="report", cache_policy=NO_CACHE)
def publish_report(
    parent: ParentRun,
    spec: DatasetSpec,
    snap: Snapshot,
    data: Encoded,
    results: Sequence[SeedResult],
    summary: ComparisonSummary,
    validation_summary: str,
    decision: Decision | None,
    drift: DriftCheck | None,
    check: ReferenceCheck | None,
    settings: Settings,
) -> dict[str, str]:
    """Plots (learning curves; confusion matrix or predicted vs actual, with the
    references drawn in), ``comparison.html`` and ``comparison.md`` on the parent
    run, the comparison as its description; on the Prefect flow run, the table as
    a markdown artifact and a link to the parent run. Returns the MLflow UI links
    (:func:`bnpipe.links.comparison_links`)."""
    from bnpipe import links, references

    groups = by_variant(results)
    plots: dict[str, str] = {}
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        report.plot_learning_curves(
            {v: [r.history for r in rs] for v, rs in groups.items()},
            out / "learning_curves.png",
            title=f"{spec.name}: training and validation loss per epoch (mean, band over seeds)",
            reference_losses=(
                references.reference_losses(check.refs, target_scale=data.pre.target_unit)
                if check
                else None
            ),
        )
        plots["Learning curves"] = "learning_curves.png"
        best = {v: summary.best(rs) for v, rs in groups.items()}
        if spec.task == "classification":
            for v, r in best.items():
                if r is not None:
                    name = f"confusion_{v}.png"
                    report.plot_confusion_matrix(
                        data.y_test_true,
                        np.asarray(r.predictions).argmax(axis=1),
                        data.pre.classes,
                        out / name,
                        title=f"{spec.name}: {v} (seed {r.seed}) on the test rows",
                    )
                    plots[f"Confusion matrix, {v}"] = name
        else:
            report.plot_predicted_vs_actual(
                data.y_test_true,
                {v: r.predictions for v, r in best.items() if r is not None},
                out / "predicted_vs_actual.png",
                title=f"{spec.name}: predicted vs actual on the test rows",
                target=spec.target_column,
                references=references.prediction_series(check.refs) if check else None,
            )
            plots["Predicted vs actual"] = "predicted_vs_actual.png"
        headers, rows = results_table(summary, check)
        lineage = {
            "dataset": spec.name,
            "url": snap.url,
            "source": snap.source,
            "sha256": snap.sha256,
            "bytes": snap.size,
            "rows": len(data.split.train) + len(data.split.val) + len(data.split.test),
            "train/val/test rows": f"{len(data.x_train)}/{len(data.x_val)}/{len(data.x_test)}",
            **{f"rows left out ({k.replace('_', ' ')})": n for k, n in data.dropped.items() if n},
        }
        html = report.render_html_report(
            dataset=spec.name,
            lineage=lineage,
            validation_summary=validation_summary,
            table_headers=headers,
            table_rows=rows,
            intervals=list(summary.intervals.values()),
            winner=summary.winner,
            plots=plots,
            champion_decision=decision.to_dict() if decision else None,
            primary_metric=summary.primary,
            notes=[f"diverged (left out): {v}-seed{s}" for v, s in summary.diverged],
            drift=drift_section(drift),
            references=(
                references.report_section(
                    check.refs, check.verdicts, check.headline, summary.primary
                )
                if check
                else None
            ),
        )
        (out / "comparison.html").write_text(html, "utf-8")
        markdown = markdown_report(spec, snap, summary, decision, drift, check)
        (out / "comparison.md").write_text(markdown, "utf-8")
        for f in out.iterdir():
            parent.log_artifact(f)
    try:  # the MLflow UI's view of the comparison: never worth failing a finished run
        parent.describe(markdown)
    except Exception as exc:  # noqa: BLE001
        get_run_logger().warning("could not set the MLflow run description: %s", exc)
    ui = links.comparison_links(
        settings,
        parent.experiment_id,
        parent.run_id,
        [r.run_id for r in results if r.run_id],
    )
    from prefect.artifacts import create_link_artifact, create_markdown_artifact

    key = artifact_key(spec.name)
    for what, create in (
        ("comparison", lambda: create_markdown_artifact(
            markdown=markdown, key=f"bn-comparison-{key}",
            description=f"plain vs bn on {spec.name}",
        )),
        ("link", lambda: create_link_artifact(
            link=ui["parent"], key=f"mlflow-run-{key}",
            link_text=f"MLflow: {spec.name} comparison (run {parent.run_id[:8]})",
            description=f"the parent run of plain vs bn on {spec.name} in the MLflow UI",
        )),
    ):  # fmt: skip
        try:
            create()
        except Exception as exc:  # noqa: BLE001 - the UI artifacts are a convenience
            get_run_logger().warning("could not create the Prefect %s artifact: %s", what, exc)
    return ui


def artifact_key(name: str) -> str:
    """A dataset name as Prefect accepts in an artifact key (lowercase, digits,
    dashes); a name that had to change gets 6 hex of its hash, so two names never
    share a key (``My_Data`` and ``my-data``)."""
    key = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if key == name:
        return key
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{key}-{digest}" if key else f"dataset-{digest}"


def drift_section(check: DriftCheck | None) -> dict | None:
    """What the report shows of the drift check."""
    if check is None:
        return None
    if check.report is None:
        summary = check.missing or "no champion yet: nothing to compare with"
        return {"summary": summary}
    return {
        "summary": check.report.summary(),
        "columns": check.report.to_dict()["columns"],
    }


def markdown_report(
    spec: DatasetSpec,
    snap: Snapshot,
    summary: ComparisonSummary,
    decision: Decision | None,
    drift: DriftCheck | None = None,
    check: ReferenceCheck | None = None,
) -> str:
    headers, rows = results_table(summary, check)
    registry = (
        f"{decision.model_name} v{decision.version}: {decision.outcome}" if decision else None
    )
    lines = [
        f"## {spec.name}: plain vs BatchNorm",
        "",
        report.headline(
            summary.primary,
            summary.winner,
            summary.intervals.get(summary.primary),
            registry=registry,
            reference=check.headline if check else None,
        ),
        "",
        f"Data: sha256 `{snap.sha256[:12]}` from **{snap.source}** ({snap.url})",
        "",
        report.markdown_table(rows, headers),
        "",
        *(
            [
                "Against the references (paired over the test rows): "
                + ", ".join(
                    f"{k.replace('_vs_', ' vs ')} **{v}**" for k, v in check.verdicts.items()
                ),
                "",
            ]
            if check
            else []
        ),
        "bn − plain (95% paired t interval over seeds; the bootstrap interval is on the parent run):",
        "",
        report.markdown_table(
            report.interval_rows(list(summary.intervals.values())), report.INTERVAL_HEADERS
        ),
    ]
    section = drift_section(drift)
    if section is not None:
        lines += ["", f"**Drift against the champion's data:** {section['summary']}"]
    if decision is not None:
        champion = ""
        if decision.previous_champion:
            champion = f" (champion was v{decision.previous_champion}"
            if decision.champion_score is not None:
                champion += f", {decision.metric} {decision.champion_score:.4g} today"
            champion += ")"
        lines += [
            "",
            f"**Registry:** {decision.model_name} v{decision.version} from "
            f"{decision.challenger_variant} ({decision.metric} {decision.challenger_score:.4g})"
            f"{champion}: **{decision.outcome}** — {decision.reason}",
        ]
        lines += [f"- held: {h}" for h in decision.holds]
    return "\n".join(lines) + "\n"

"""One comparison's report files: the plots, ``comparison.html`` and
``comparison.md`` written into a folder from the comparison's results (the
``report`` task logs them on the parent run), and the results table, drift
summary and artifact key the tasks show in the terminal and in Prefect.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from bnpipe import references
from bnpipe.comparison import by_variant
from bnpipe.report.html import render_html_report
from bnpipe.report.plots import (
    plot_confusion_matrix,
    plot_learning_curves,
    plot_predicted_vs_actual,
    seed_label,
)
from bnpipe.report.tables import (
    INTERVAL_HEADERS,
    comparison_headers,
    comparison_table,
    headline,
    interval_rows,
    markdown_table,
    reference_rows,
)

if TYPE_CHECKING:
    from bnpipe.catalog import DatasetSpec
    from bnpipe.comparison import ComparisonSummary, SeedResult
    from bnpipe.features import Encoded
    from bnpipe.gate import DriftCheck
    from bnpipe.ingest import Snapshot
    from bnpipe.references import References
    from bnpipe.registry import Decision


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
    rows = comparison_table(summary.summaries, summary.metrics)
    if check is not None:
        rows += reference_rows(check.metrics_by_reference(), summary.metrics)
    return comparison_headers(summary.metrics), rows


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


def artifact_key(name: str) -> str:
    """A dataset name as Prefect accepts in an artifact key (lowercase, digits,
    dashes); a name that had to change gets 6 hex of its hash, so two names never
    share a key (``My_Data`` and ``my-data``)."""
    key = re.sub(r"[^a-z0-9-]+", "-", name.lower()).strip("-")
    if key == name:
        return key
    digest = hashlib.sha256(name.encode()).hexdigest()[:6]
    return f"{key}-{digest}" if key else f"dataset-{digest}"


def lineage(spec: DatasetSpec, snap: Snapshot, data: Encoded) -> dict[str, str | int]:
    """Where the data came from and how its rows were used (the report's first table)."""
    return {
        "dataset": spec.name,
        "url": snap.url,
        "source": snap.source,
        "sha256": snap.sha256,
        "bytes": snap.size,
        "rows": len(data.split.train) + len(data.split.val) + len(data.split.test),
        "train/val/test rows": f"{len(data.x_train)}/{len(data.x_val)}/{len(data.x_test)}",
        **{f"rows left out ({k.replace('_', ' ')})": n for k, n in data.dropped.items() if n},
    }


def write_plots(
    out: Path,
    spec: DatasetSpec,
    data: Encoded,
    results: Sequence[SeedResult],
    summary: ComparisonSummary,
    check: ReferenceCheck | None,
) -> dict[str, str]:
    """The learning curves, and the confusion matrix of each variant's best seed
    (classification) or predicted vs actual (regression), with the references
    drawn in, as PNGs in ``out``; returns caption -> file name."""
    groups = by_variant(results)
    plots: dict[str, str] = {}
    plot_learning_curves(
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
                plot_confusion_matrix(
                    data.y_test_true,
                    np.asarray(r.predictions).argmax(axis=1),
                    data.pre.classes,
                    out / name,
                    title=f"{spec.name}: {seed_label(v, r.seed)}, on the test rows",
                )
                plots[f"Confusion matrix, {v}"] = name
    else:
        plot_predicted_vs_actual(
            data.y_test_true,
            {v: r.predictions for v, r in best.items() if r is not None},
            out / "predicted_vs_actual.png",
            title=f"{spec.name}: predicted vs actual on the test rows",
            target=spec.target_column,
            references=references.prediction_series(check.refs) if check else None,
            labels={v: seed_label(v, r.seed) for v, r in best.items() if r is not None},
        )
        plots["Predicted vs actual"] = "predicted_vs_actual.png"
    return plots


def write_comparison_report(
    out: Path,
    *,
    spec: DatasetSpec,
    snap: Snapshot,
    data: Encoded,
    results: Sequence[SeedResult],
    summary: ComparisonSummary,
    validation_summary: str,
    decision: Decision | None,
    drift: DriftCheck | None,
    check: ReferenceCheck | None,
) -> str:
    """Write the plots, ``comparison.html`` and ``comparison.md`` into ``out``
    (the parent run's report artifacts); returns the Markdown."""
    plots = write_plots(out, spec, data, results, summary, check)
    headers, rows = results_table(summary, check)
    page = render_html_report(
        dataset=spec.name,
        lineage=lineage(spec, snap, data),
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
            references.report_section(check.refs, check.verdicts, check.headline, summary.primary)
            if check
            else None
        ),
    )
    (out / "comparison.html").write_text(page, "utf-8")
    markdown = markdown_report(spec, snap, summary, decision, drift, check)
    (out / "comparison.md").write_text(markdown, "utf-8")
    return markdown


def _registry_line(decision: Decision) -> list[str]:
    champion = ""
    if decision.previous_champion:
        champion = f" (champion was v{decision.previous_champion}"
        if decision.champion_score is not None:
            champion += f", {decision.metric} {decision.champion_score:.4g} today"
        champion += ")"
    return [
        "",
        f"**Registry:** {decision.model_name} v{decision.version} from "
        f"{decision.challenger_variant} ({decision.metric} {decision.challenger_score:.4g})"
        f"{champion}: **{decision.outcome}** — {decision.reason}",
        *([f"- {decision.chosen}"] if decision.chosen else []),
        *(f"- held: {h}" for h in decision.holds),
    ]


def markdown_report(
    spec: DatasetSpec,
    snap: Snapshot,
    summary: ComparisonSummary,
    decision: Decision | None,
    drift: DriftCheck | None = None,
    check: ReferenceCheck | None = None,
) -> str:
    """``comparison.md``, also the parent run's description and the Prefect
    artifact: the headline, the data, the results and references, the bn − plain
    intervals, drift and the registry's decision."""
    headers, rows = results_table(summary, check)
    registry = (
        f"{decision.model_name} v{decision.version}: {decision.outcome}" if decision else None
    )
    lines = [
        f"## {spec.name}: plain vs BatchNorm",
        "",
        headline(
            summary.primary,
            summary.winner,
            summary.intervals.get(summary.primary),
            registry=registry,
            reference=check.headline if check else None,
        ),
        "",
        f"Data: sha256 `{snap.sha256[:12]}` from **{snap.source}** ({snap.url})",
        "",
        markdown_table(rows, headers),
        "",
        *(
            [
                "Against the references (each variant's seed chosen on the validation "
                "rows, and its seeds on average, paired over the test rows): "
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
        markdown_table(interval_rows(list(summary.intervals.values())), INTERVAL_HEADERS),
    ]
    section = drift_section(drift)
    if section is not None:
        lines += ["", f"**Drift against the champion's data:** {section['summary']}"]
    if decision is not None:
        lines += _registry_line(decision)
    return "\n".join(lines) + "\n"

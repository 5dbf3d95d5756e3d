"""A comparison's outcome as data: :class:`ComparisonResult` (what the
``bn-comparison`` flow returns per dataset, and keeps on its parent run as
``result.json`` in its JSON form) and the terminal's table of it
(:func:`format_result`, the same numbers as the parent run and the report).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field

from bnpipe.registry import Decision
from bnpipe.stats import PairedInterval, Summary

NOT_REGISTERED = "not registered"  # the outcome of a run that registered nothing
FAILURE_LOG_FIELD = "bnpipe_failed_dataset"
"""The field of the log record that says a dataset's comparison failed (its value:
the dataset). ``bnpipe run`` prints that error itself, once, as ``bnpipe: error:``."""


@dataclass(frozen=True)
class Reused:
    """Why a comparison trained nothing: an earlier FINISHED one did the same work."""

    earlier_outcome: str | None  # that run's outcome: promoted, kept, held, not registered
    comparison_key: str
    line: str  # "<dataset>: unchanged since run ...: nothing to retrain"
    message: str  # the line with a link to that run


@dataclass(frozen=True)
class ComparisonResult:
    """One dataset's comparison: where its data came from, per-variant summaries of
    every test metric, the bn - plain difference per metric with its interval, the
    winner, the references' verdicts and the registry's decision."""

    dataset: str
    task: str
    run_id: str  # the parent run
    experiment_id: str
    data_sha256: str
    data_source: str  # upstream, mirror, cache or bundled
    seeds: int
    primary_metric: str
    winner: str  # "bn", "plain" or "tie"
    summaries: Mapping[str, Mapping[str, Summary]]  # variant -> metric -> over the seeds
    differences: Mapping[str, PairedInterval]  # metric -> bn - plain, paired over the seeds
    diverged: tuple[tuple[str, int], ...] = ()  # (variant, seed), left out of the means
    promotion: Decision | None = None  # None: nothing registered
    outcome: str = NOT_REGISTERED  # promoted, kept, held, not registered, unchanged
    drift: str = ""  # the parent run's drift tag
    references: Mapping[str, Mapping[str, float]] = field(default_factory=dict)  # baseline, linear
    verdicts: Mapping[str, str] = field(default_factory=dict)  # plain_vs_baseline: better, ...
    headline: str | None = None
    reused: Reused | None = None  # set when an earlier run's result stands in for this one
    links: Mapping[str, str] = field(default_factory=dict)  # into this process's MLflow UI

    @property
    def difference(self) -> PairedInterval:
        """bn - plain on the primary metric (what decides the winner)."""
        return self.differences[self.primary_metric]

    def diverged_seeds(self, variant: str) -> int:
        return sum(1 for v, _ in self.diverged if v == variant)

    def to_dict(self) -> dict:
        """The JSON form (``result.json``): every field but ``links``, which are
        where this process's UI shows the runs, not part of the outcome."""
        data = dataclasses.asdict(dataclasses.replace(self, promotion=None, links={}))
        del data["links"]
        data["promotion"] = self.promotion.to_dict() if self.promotion else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ComparisonResult:
        """The result :meth:`to_dict` gave."""
        names = {f.name for f in dataclasses.fields(cls)} - {"links"}
        values = {k: v for k, v in data.items() if k in names}
        values["summaries"] = {
            variant: {metric: Summary(**s) for metric, s in by_metric.items()}
            for variant, by_metric in data["summaries"].items()
        }
        values["differences"] = {
            metric: PairedInterval(**{**iv, "labels": tuple(iv["labels"])})
            for metric, iv in data["differences"].items()
        }
        values["diverged"] = tuple((str(v), int(s)) for v, s in data.get("diverged") or ())
        values["promotion"] = (
            decision_from_dict(data["promotion"]) if data.get("promotion") else None
        )
        values["reused"] = Reused(**data["reused"]) if data.get("reused") else None
        return cls(**values)


def decision_from_dict(data: Mapping) -> Decision:
    """The registry's :class:`~bnpipe.registry.Decision` from its ``to_dict()``."""
    names = {f.name for f in dataclasses.fields(Decision)}
    return Decision(**{k: v for k, v in data.items() if k in names})


# --------------------------------------------------------------------------- the terminal


def format_result(result: ComparisonResult) -> str:
    """The terminal table: the same numbers as the parent run and the report."""
    from bnpipe import report
    from bnpipe.evaluation import metric_names
    from bnpipe.models import VARIANTS

    metrics = metric_names(result.task)
    lines = [
        f"{result.dataset} ({result.task}, {result.seeds} seeds, data {result.data_sha256[:12]} "
        f"from {result.data_source}, MLflow run {result.run_id})"
    ]
    rows = report.comparison_table(result.summaries, metrics)
    if result.references:  # the baseline and the linear model, on the same rows
        rows += report.reference_rows(result.references, metrics)
    lines.append(report.format_table(rows, report.comparison_headers(metrics)))
    lines.append(difference_line(result))
    if result.verdicts:
        lines.append(
            "against the references: "
            + ", ".join(f"{k.replace('_vs_', ' vs ')} {v}" for k, v in result.verdicts.items())
        )
    if result.headline:
        lines.append(result.headline)
    if result.diverged:  # left out of the means: say so, as the report does
        seeds = ", ".join(f"{variant}-seed{seed}" for variant, seed in result.diverged)
        lines.append(f"diverged and left out: {seeds}")
    if all(result.diverged_seeds(v) >= result.seeds for v in VARIANTS):
        lines.append(
            "every seed diverged (non-finite loss): no finite model, nothing registered, "
            "champion unchanged"
        )
    if result.promotion:
        if result.promotion.chosen:
            lines.append(result.promotion.chosen)
        lines.append(registry_line(result.promotion))
        lines += [f"  held: {h}" for h in result.promotion.holds]
    if result.drift:
        lines.append(f"drift against the champion's data: {result.drift}")
    return "\n".join(lines)


def difference_line(result: ComparisonResult) -> str:
    """``bn - plain test_rmse: -0.5 (95% CI -0.7 to -0.3)  winner: bn``."""
    primary, d = result.primary_metric, result.difference
    if d.mean == d.mean and d.ci_low == d.ci_low:  # not NaN
        return (
            f"bn - plain {primary}: {d.mean:+.4g} (95% CI {d.ci_low:+.4g} to {d.ci_high:+.4g})  "
            f"winner: {result.winner}"
        )
    if d.mean == d.mean:  # one seed pair: a difference, no interval, no winner
        return (
            f"bn - plain {primary}: {d.mean:+.4g} (95% CI n/a: one seed; use --seeds 2 or more)  "
            "winner: n/a"
        )
    return f"bn - plain {primary}: n/a (no seed with both variants finite)  winner: {result.winner}"


def registry_line(decision: Decision) -> str:
    """``registry: bnpipe-iris v3 promoted to @champion (...)``."""
    what = {
        "promoted": "promoted to @champion",
        "kept": "registered; champion kept",
        "held": "registered; promotion HELD for review",
    }[decision.outcome]
    return f"registry: {decision.model_name} v{decision.version} {what} ({decision.reason})"


def unchanged_markdown(result: ComparisonResult) -> str:
    """What a skipped comparison shows in the Prefect UI: that nothing was retrained,
    since which run (linked when ``result.links`` has its page), and that run's table,
    difference, verdicts and registry decision."""
    from bnpipe import report
    from bnpipe.evaluation import metric_names

    assert result.reused is not None, "not a skipped comparison"
    metrics = metric_names(result.task)
    run = f"run {result.run_id}"
    if result.links.get("parent"):
        run = f"[{run}]({result.links['parent']})"
    rows = report.comparison_table(result.summaries, metrics)
    if result.references:
        rows += report.reference_rows(result.references, metrics)
    lines = [
        f"# {result.dataset}: unchanged, nothing retrained",
        "",
        f"The data (sha256 `{result.data_sha256[:12]}`), the catalog entry, the suite, the "
        f"parameters and the code are those of {run}, which finished: its outcome stands "
        "and no run, model or version was added. `--force` (or `force: true`) retrains.",
        "",
        f"## The comparison of {result.run_id[:8]} ({result.seeds} seeds)",
        "",
        report.markdown_table(rows, report.comparison_headers(metrics)),
        "",
        difference_line(result),
    ]
    if result.verdicts:
        lines += [
            "",
            "Against the references: "
            + ", ".join(f"{k.replace('_vs_', ' vs ')} {v}" for k, v in result.verdicts.items()),
        ]
    if result.promotion:
        lines += ["", f"That run's {registry_line(result.promotion)}"]
    return "\n".join(lines) + "\n"

"""The comparison itself as plain data: per-seed results and
the summary a parent run, the terminal table and the report all show."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from bnpipe.models import VARIANTS


@dataclass
class SeedResult:
    """One trained (variant, seed): curves, test metrics and test predictions."""

    variant: str
    seed: int
    history: dict[str, list[float]]
    metrics: dict[str, float]
    predictions: np.ndarray  # regression: (n,) values; classification: (n, k) probabilities
    seconds: float
    model_path: str | None = None  # the trained Keras model, saved as .keras
    worker: str | None = None  # the Dask worker that trained it (tag dask_worker)
    run_id: str | None = None
    model_uri: str | None = None  # the logged MLflow model

    @property
    def diverged(self) -> bool:
        losses = self.history.get("loss", [])
        return (
            not losses
            or not all(math.isfinite(v) for v in losses[-1:])
            or any(not math.isfinite(v) for v in self.metrics.values())
        )


def by_variant(results: Sequence[SeedResult]) -> dict[str, list[SeedResult]]:
    out: dict[str, list[SeedResult]] = {v: [] for v in VARIANTS}
    for r in results:
        out.setdefault(r.variant, []).append(r)
    return out


def best_result(
    results: Sequence[SeedResult], metric: str, higher_is_better: bool
) -> SeedResult | None:
    """The winning variant's best finite seed by ``metric`` (None if all diverged)."""
    ok = [r for r in results if not r.diverged]
    if not ok:
        return None
    sign = -1.0 if higher_is_better else 1.0
    return min(ok, key=lambda r: sign * r.metrics[metric])


@dataclass
class ComparisonSummary:
    """Per-variant mean ± std of each test metric, bn − plain intervals, the winner."""

    dataset: str
    task: str
    primary: str
    metrics: tuple[str, ...]
    summaries: dict  # variant -> metric -> stats.Summary
    intervals: dict  # metric -> stats.PairedInterval (bn - plain), paired t over seeds
    bootstrap: dict  # metric -> stats.PairedInterval (bn - plain), paired bootstrap over seeds
    winner: str  # "bn" | "plain" | "tie"
    diverged: list[tuple[str, int]]

    def parent_metrics(self) -> dict[str, float]:
        """``<variant>_<metric>_mean``/``_std`` and ``bn_minus_plain_<metric>_mean``/
        ``_ci_low``/``_ci_high`` (the difference is bn − plain in the metric's own units)."""
        out: dict[str, float] = {}
        for variant, per_metric in self.summaries.items():
            for metric, s in per_metric.items():
                out[f"{variant}_{metric}_mean"] = s.mean
                out[f"{variant}_{metric}_std"] = s.std
        for metric, iv in self.intervals.items():
            out[f"bn_minus_plain_{metric}_mean"] = iv.mean
            out[f"bn_minus_plain_{metric}_ci_low"] = iv.ci_low
            out[f"bn_minus_plain_{metric}_ci_high"] = iv.ci_high
        for metric, iv in self.bootstrap.items():
            out[f"bn_minus_plain_{metric}_boot_ci_low"] = iv.ci_low
            out[f"bn_minus_plain_{metric}_boot_ci_high"] = iv.ci_high
        return out

    def best(self, results: Sequence[SeedResult]) -> SeedResult | None:
        """The best finite seed among ``results`` by the primary metric."""
        from bnpipe.evaluation import higher_is_better

        return best_result(results, self.primary, higher_is_better(self.primary))

    def leader(self) -> str:
        """The variant with the better mean primary metric (what gets registered)."""
        from bnpipe.evaluation import higher_is_better

        means = {
            v: s[self.primary].mean
            for v, s in self.summaries.items()
            if math.isfinite(s[self.primary].mean)
        }
        if not means:
            return ""
        pick = max if higher_is_better(self.primary) else min
        return pick(means, key=means.get)


def summarize_results(
    dataset: str, task: str, results: Sequence[SeedResult], *, n_boot: int = 10_000
) -> ComparisonSummary:
    """Summaries over seeds and paired (by seed) intervals of bn − plain.

    Diverged seeds have NaN metrics: they are counted, left out of means, and
    their pairs are dropped from the intervals.
    """
    from bnpipe import evaluation, stats

    metrics = evaluation.metric_names(task)
    groups = by_variant(results)
    for runs in groups.values():
        runs.sort(key=lambda r: r.seed)

    def values(variant: str, metric: str) -> list[float]:
        return [r.metrics[metric] for r in groups[variant]]

    summaries = {v: {m: stats.summarize(values(v, m)) for m in metrics} for v in VARIANTS}
    plain = {m: values("plain", m) for m in metrics}
    bn = {m: values("bn", m) for m in metrics}
    # The winner and the contract's bn_minus_plain_* use the paired t interval: with
    # 5 seeds a percentile bootstrap over seeds calls a winner between identical
    # variants ~16% of the time instead of 5% (it can never be wider than the
    # observed differences). The bootstrap interval is logged beside it.
    intervals = stats.paired_intervals(plain, bn, metrics, method="t")
    bootstrap = stats.paired_intervals(plain, bn, metrics, method="bootstrap", n_boot=n_boot)
    primary = evaluation.primary_metric(task)
    return ComparisonSummary(
        dataset=dataset,
        task=task,
        primary=primary,
        metrics=metrics,
        summaries=summaries,
        intervals=intervals,
        bootstrap=bootstrap,
        winner=stats.winner(intervals, primary),
        diverged=[(r.variant, r.seed) for r in results if r.diverged],
    )

"""The comparison itself as plain data: per-seed results and
the summary a parent run, the terminal table and the report all show.

The leader rule: a model is chosen on rows its verdicts do not use. The
leading variant is the one with the better mean **validation** primary metric
over its seeds (``val_rmse``, ``val_log_loss``), and each variant's seed is its
best one on the validation rows (:meth:`ComparisonSummary.best`). The chosen
model is then judged on the test rows: against the baseline and the linear
model (:mod:`bnpipe.references`) and against the champion (:mod:`bnpipe.registry`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from bnpipe.models import VARIANTS


class NoFiniteModelError(RuntimeError):
    """Every seed of every variant diverged (in a sweep: of every cell): no finite
    model, nothing to register; the run fails (exit 1)."""


@dataclass
class SeedResult:
    """One trained (variant, seed): curves, test metrics and test predictions, and
    the metrics on the validation rows (``val_<metric>``) it is chosen by."""

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
    val_metrics: dict[str, float] = field(default_factory=dict)  # val_rmse, val_log_loss, ...

    @property
    def diverged(self) -> bool:
        losses = self.history.get("loss", [])
        return (
            not losses
            or not all(math.isfinite(v) for v in losses[-1:])
            or any(not math.isfinite(v) for v in self.metrics.values())
            or any(not math.isfinite(v) for v in self.val_metrics.values())
        )

    def score(self, metric: str) -> float:
        """``metric`` (a ``test_*`` or ``val_*`` name); NaN when it was not measured."""
        return float(self.metrics.get(metric, self.val_metrics.get(metric, math.nan)))


def by_variant(results: Sequence[SeedResult]) -> dict[str, list[SeedResult]]:
    out: dict[str, list[SeedResult]] = {v: [] for v in VARIANTS}
    for r in results:
        out.setdefault(r.variant, []).append(r)
    return out


def best_result(
    results: Sequence[SeedResult], metric: str, higher_is_better: bool
) -> SeedResult | None:
    """The best finite seed by ``metric`` (``test_*`` or ``val_*``; None if every
    seed diverged or none has ``metric``)."""
    ok = [r for r in results if not r.diverged and math.isfinite(r.score(metric))]
    if not ok:
        return None
    sign = -1.0 if higher_is_better else 1.0
    return min(ok, key=lambda r: sign * r.score(metric))


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
    validation: dict = field(default_factory=dict)  # variant -> val_<metric> -> stats.Summary

    @property
    def selection(self) -> str:
        """The metric a leader and its seed are chosen by: the primary metric on
        the validation rows (``val_rmse``, ``val_log_loss``)."""
        from bnpipe.evaluation import validation_name

        return validation_name(self.primary)

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
        """The best finite seed among ``results`` on the validation rows
        (:attr:`selection`): never chosen by the test rows that judge it."""
        from bnpipe.evaluation import higher_is_better

        return best_result(results, self.selection, higher_is_better(self.primary))

    def leader(self) -> str:
        """The variant with the better mean primary metric on the validation rows
        (:attr:`selection`): the variant that gets registered. "" when no
        seed has a finite validation score."""
        from bnpipe.evaluation import higher_is_better

        means = {
            v: s[self.selection].mean
            for v, s in self.validation.items()
            if self.selection in s and math.isfinite(s[self.selection].mean)
        }
        if not means:
            return ""
        pick = max if higher_is_better(self.primary) else min
        return pick(means, key=means.get)

    def choice(self, results: Sequence[SeedResult], *, val_rows: int, test_rows: int) -> str:
        """How the registered model was chosen, in one line: ``leader: bn seed 3,
        chosen on the 22 validation rows by val_log_loss (...); judged on the 23
        test rows``; "" when there is no leader."""
        from bnpipe.evaluation import higher_is_better

        leader = self.leader()
        best = self.best([r for r in results if r.variant == leader]) if leader else None
        if best is None:
            return ""
        word = "higher" if higher_is_better(self.primary) else "lower"
        est = "highest" if word == "higher" else "lowest"
        return (
            f"leader: {leader} seed {best.seed}, chosen on the {val_rows} validation rows by "
            f"{self.selection} {best.score(self.selection):.4g} (the {word} mean over the "
            f"seeds picks the variant, the {est} value its seed); judged on the "
            f"{test_rows} test rows"
        )


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
    validation = {
        v: {
            evaluation.validation_name(m): stats.summarize(
                [r.score(evaluation.validation_name(m)) for r in groups[v]]
            )
            for m in metrics
        }
        for v in VARIANTS
    }
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
        validation=validation,
    )

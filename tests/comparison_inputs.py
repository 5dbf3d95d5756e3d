"""One small, real comparison as the report takes it: a toy frame encoded by
``features.encode``, per-seed results scored by ``evaluation.evaluate``, their
summary, fitted references and a registry decision. No network is trained: each
seed's predictions are the truth plus noise.

Shared by the report's unit tests and the reporting tasks' tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe import evaluation, features, references
from bnpipe.catalog import DatasetSpec, parse_entry
from bnpipe.comparison import ComparisonSummary, SeedResult, summarize_results
from bnpipe.ingest import Snapshot
from bnpipe.registry import Decision
from bnpipe.report import ReferenceCheck


@dataclass
class Comparison:
    spec: DatasetSpec
    snap: Snapshot
    data: features.Encoded
    results: list[SeedResult]
    summary: ComparisonSummary
    check: ReferenceCheck


def frame(task: str, n: int = 90, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({"x0": rng.normal(size=n), "x1": rng.normal(size=n)})
    if task == "regression":
        df["y"] = 3.0 * df["x0"] - df["x1"] + rng.normal(0, 0.3, n) + 20.0
    else:
        df["y"] = np.where(df["x0"] > 0.3, "a", np.where(df["x1"] > 0, "b", "c"))
    return df


def _predictions(task: str, data: features.Encoded, noise: float, rng) -> np.ndarray:
    truth = data.y_test_true
    if task == "regression":
        return truth + rng.normal(0, noise, truth.shape)
    k = len(data.pre.classes)
    logits = np.eye(k)[truth] * 3.0 + rng.normal(0, noise, (truth.size, k))
    proba = np.exp(logits)
    return proba / proba.sum(axis=1, keepdims=True)


def comparison(
    task: str = "regression", *, name: str = "toy", seeds: int = 3, epochs: int = 6
) -> Comparison:
    """``seeds`` results per variant (bn less noisy than plain) with learning curves
    of ``epochs`` epochs; the references fitted on the same encoded rows."""
    spec = parse_entry(
        name,
        {
            "url": f"https://example.org/data/{name}.csv",
            "task": task,
            "target": "y",
            "features": ["x0", "x1"],
        },
    )
    df = frame(task)
    data = features.encode(df, spec, split_seed=0, scaling="standard")
    rng = np.random.default_rng(1)
    results = []
    for variant, noise in (("plain", 1.0), ("bn", 0.4)):
        for seed in range(seeds):
            pred = _predictions(task, data, noise, rng)
            loss = list(np.linspace(2.0, 0.5, epochs) + noise + 0.01 * seed)
            results.append(
                SeedResult(
                    variant=variant,
                    seed=seed,
                    history={"loss": loss, "val_loss": [v * 1.1 for v in loss]},
                    metrics=evaluation.evaluate(task, data.y_test_true, pred),
                    predictions=pred,
                    seconds=0.1,
                    run_id=f"{variant}{seed}" + "0" * 30,
                )
            )
    summary = summarize_results(spec.name, task, results, n_boot=200)
    refs = references.fit_references(
        task,
        data.x_train,
        data.y_train,
        data.x_test,
        data.y_test_true,
        classes=data.pre.classes or None,
    )
    best = {v: summary.best([r for r in results if r.variant == v]) for v in ("plain", "bn")}
    verdicts = references.verdicts(
        task,
        data.y_test_true,
        refs,
        {v: r.predictions if r else None for v, r in best.items()},
        summary.primary,
    )
    check = ReferenceCheck(
        refs, verdicts, references.headline(spec.name, task, refs, verdicts, summary.primary)
    )
    snap = Snapshot(
        dataset=spec.name,
        url=spec.url,
        sha256="ab" * 32,
        path=Path("/nonexistent") / f"{name}.csv",
        size=4096,
        fetched_at="2026-01-01T00:00:00Z",
    )
    return Comparison(spec, snap, data, results, summary, check)


def decision(c: Comparison, **over) -> Decision:
    """The registry's decision on ``c``: the leader's best seed promoted over v1."""
    leader = c.summary.leader()
    best = c.summary.best([r for r in c.results if r.variant == leader])
    fields = dict(
        model_name=f"bnpipe-{c.spec.name}",
        promoted=True,
        reason="challenger better on today's test rows",
        metric=c.summary.primary,
        challenger_run_id=best.run_id,
        challenger_variant=leader,
        challenger_score=best.metrics[c.summary.primary],
        version="2",
        previous_champion="1",
        champion_score=best.metrics[c.summary.primary] * 1.1,
    )
    fields.update(over)
    return Decision(**fields)


def drift_check(c: Comparison, shift: float = 0.0):
    """Today's frame (its first feature shifted by ``shift``) against the profile of
    the same toy frame, as the drift task hands it to the report."""
    from bnpipe import drift
    from bnpipe.gate import DriftCheck

    args = dict(features=list(c.spec.features), categorical=[], target="y", task=c.spec.task)
    reference = drift.profile(frame(c.spec.task), **args)
    today = frame(c.spec.task)
    today["x0"] += shift
    return DriftCheck("1", reference, drift.compare(reference, today, **drift.DEFAULT_LEVELS))

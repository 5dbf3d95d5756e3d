"""Small real comparisons for the tests of what follows training. No network is
trained: each seed's predictions are the truth blurred by noise, scored by
``bnpipe.evaluation`` as a trained network's would be.

- ``iris``, ``seed_result(s)``: iris encoded from the real CSV, seeds scored on its
  validation and test rows, and the committed fixture's Keras file to log (never loaded).
- ``comparison``, ``decision``, ``drift_check``: a toy frame of either task as the
  report takes it: encoded, scored, summarised, with fitted references, a
  registry decision and a drift check.
- ``a_result``: a ``ComparisonResult`` as the flow returns it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe import evaluation, features, references
from bnpipe.catalog import DatasetSpec, get_spec, load_catalog, parse_entry
from bnpipe.comparison import ComparisonSummary, SeedResult, summarize_results
from bnpipe.features import Encoded, encode
from bnpipe.ingest import Snapshot
from bnpipe.registry import Decision
from bnpipe.report import ReferenceCheck
from bnpipe.results import ComparisonResult

REPO = Path(__file__).resolve().parents[1]
KERAS_FILE = REPO / "tests" / "fixtures" / "models" / "petals-impute" / "artifacts" / "model.keras"


def iris(data_mirror: Path) -> tuple[DatasetSpec, pd.DataFrame, Encoded]:
    """The catalog's iris entry, its CSV rows and their encoding (split seed 0)."""
    spec = get_spec(load_catalog(REPO / "datasets.yaml"), "iris")
    frame = pd.read_csv(data_mirror / "iris.csv")
    return spec, frame, encode(frame, spec, split_seed=0, scaling="standard")


def seed_result(
    data: Encoded, variant: str, seed: int, *, skill: float, model_path: Path | None = KERAS_FILE
) -> SeedResult:
    """One (variant, seed) whose validation and test probabilities put ``skill`` on
    the true class (plus noise of this seed); its metrics are ``evaluation``'s."""
    k = len(data.pre.classes)
    rng = np.random.default_rng(1000 * seed + (variant == "bn"))

    def proba(y: np.ndarray) -> np.ndarray:
        logits = np.log(np.eye(k)[y] * skill + (1 - skill) / k) + rng.normal(0, 0.3, (y.size, k))
        return np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)

    test = proba(data.y_test_true)
    return SeedResult(
        variant=variant,
        seed=seed,
        history={"loss": [1.0, 0.6], "val_loss": [1.1, 0.7]},
        metrics=evaluation.evaluate("classification", data.y_test_true, test),
        predictions=test,
        seconds=0.5,
        model_path=str(model_path) if model_path else None,
        val_metrics=evaluation.evaluate_validation(
            "classification", data.y_val_true, proba(data.y_val_true)
        ),
    )


def seed_results(data: Encoded, seeds: int = 3, *, bn_skill: float = 0.9) -> list[SeedResult]:
    """``seeds`` seeds of plain (skill 0.6) and of bn (``bn_skill``)."""
    return [
        seed_result(data, variant, seed, skill=0.6 if variant == "plain" else bn_skill)
        for variant in ("plain", "bn")
        for seed in range(seeds)
    ]


def a_result() -> ComparisonResult:
    """An iris comparison as the flow returns it: three seeds a variant (one bn
    seed diverged), references, and a promotion to version 2."""
    results = [
        SeedResult(v, s, {"loss": [1.0]}, {"test_accuracy": a, "test_log_loss": 1 - a,
                   "test_macro_f1": a}, np.zeros((1, 3)), 0.1)
        for v, accs in (("plain", [0.9, 0.8, 0.85]), ("bn", [0.95, 0.9, float("nan")]))
        for s, a in enumerate(accs)
    ]  # fmt: skip
    summary = summarize_results("iris", "classification", results, n_boot=200)
    decision = Decision(
        "bnpipe-iris", True, "beats the champion", summary.primary, "r7", "bn", 0.1,
        version="2", previous_champion="1", interval={"mean": -0.02},
    )  # fmt: skip
    return ComparisonResult(
        dataset="iris",
        task="classification",
        run_id="parent1",
        experiment_id="4",
        data_sha256="cd" * 32,
        data_source="mirror",
        seeds=3,
        primary_metric=summary.primary,
        winner=summary.winner,
        summaries=summary.summaries,
        differences=summary.intervals,
        diverged=tuple(summary.diverged),
        promotion=decision,
        outcome=decision.outcome,
        drift="ok",
        references={"baseline": {"test_accuracy": 0.33}, "linear": {"test_accuracy": 0.9}},
        verdicts={"bn_vs_baseline": "better"},
        headline="iris: bn beats the baseline",
        links={"parent": "http://127.0.0.1:5000/#/experiments/4/runs/parent1"},
    )


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


def _predictions(task: str, truth: np.ndarray, data, noise: float, rng) -> np.ndarray:
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
    rng, val_rng = np.random.default_rng(1), np.random.default_rng(2)
    results = []
    for variant, noise in (("plain", 1.0), ("bn", 0.4)):
        for seed in range(seeds):
            pred = _predictions(task, data.y_test_true, data, noise, rng)
            val = _predictions(task, data.y_val_true, data, noise, val_rng)
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
                    val_metrics=evaluation.evaluate_validation(task, data.y_val_true, val),
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


def judged(
    run,
    spec: DatasetSpec,
    data: Encoded,
    results: list[SeedResult],
    summary: ComparisonSummary,
    settings,
    *,
    snap: Snapshot | None = None,
    check: ReferenceCheck | None = None,
    verdicts: dict[str, str] | None = None,
    drift=None,
    validation_summary: str = "",
    leaks: tuple[str, ...] = (),
):
    """The records the chain's stages pass (``bnpipe.stages``) around parts a
    test made: what ``register_best`` and ``publish_report`` take."""
    from bnpipe import stages
    from bnpipe.params import RunConfig

    snap = snap or Snapshot(spec.name, "", "0" * 64, Path("unused.csv"), 0, "", source="cache")
    if check is None:
        check = ReferenceCheck(refs=None, verdicts=dict(verdicts or {}), headline=None)
    request = stages.Request(spec, RunConfig(), settings)
    checked = stages.Checked(snap, pd.DataFrame(), validation_summary, drift)
    prepared = stages.Prepared(request, run, "key", checked, data)
    evaluated = stages.Evaluated(prepared, tuple(results), 0.001)
    return stages.Judged(evaluated, summary, check, tuple(leaks))

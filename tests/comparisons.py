"""A small real comparison for the tests of what follows training: iris encoded
from the real CSV, seed results scored on its test rows, and a Keras file to log.

The seed "models" are the test rows' true classes blurred by noise (``skill``),
scored by ``bnpipe.evaluation`` as a trained network's predictions would be; the
Keras file is the committed fixture's (logged as an artifact, never loaded).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe import evaluation
from bnpipe.catalog import DatasetSpec, get_spec, load_catalog
from bnpipe.comparison import SeedResult, summarize_results
from bnpipe.features import Encoded, encode
from bnpipe.registry import Decision
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
    """One (variant, seed) whose test probabilities put ``skill`` on the true class
    (plus noise of this seed); its metrics are ``evaluation.evaluate``'s."""
    y = data.y_test_true
    k = len(data.pre.classes)
    rng = np.random.default_rng(1000 * seed + (variant == "bn"))
    logits = np.log(np.eye(k)[y] * skill + (1 - skill) / k) + rng.normal(0, 0.3, (y.size, k))
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    return SeedResult(
        variant=variant,
        seed=seed,
        history={"loss": [1.0, 0.6], "val_loss": [1.1, 0.7]},
        metrics=evaluation.evaluate("classification", y, proba),
        predictions=proba,
        seconds=0.5,
        model_path=str(model_path) if model_path else None,
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

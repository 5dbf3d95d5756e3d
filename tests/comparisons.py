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
from bnpipe.comparison import SeedResult
from bnpipe.features import Encoded, encode

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

"""The frame a dataset trains on (:func:`prepare`) and its fixed-seed
train/validation/test split (:func:`split`)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from bnpipe.catalog import DatasetSpec

SPLIT_FRACTIONS = (0.70, 0.15, 0.15)  # train, validation, test


@dataclass(frozen=True)
class Split:
    train: pd.DataFrame
    val: pd.DataFrame
    test: pd.DataFrame


def prepare(df: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Keep the features and the target, under their CSV names.

    Frames stay in raw CSV form up to the model: the :class:`Preprocessor`
    applies the catalog's ``rename`` itself, so the served model takes the
    rows exactly as the CSV has them.
    """
    return df[[*spec.features, spec.target]].reset_index(drop=True)


def split(df: pd.DataFrame, *, task: str, target: str, seed: int) -> Split:
    """Fixed-seed train/validation/test split (70/15/15), stratified by class
    for classification so every class appears in every part."""
    rng = np.random.default_rng(seed)
    if task == "classification":
        parts: list[list[int]] = [[], [], []]
        for _, idx in df.groupby(target, sort=True).indices.items():
            idx = rng.permutation(idx)
            n_train, n_val = _sizes(len(idx))
            parts[0] += idx[:n_train].tolist()
            parts[1] += idx[n_train : n_train + n_val].tolist()
            parts[2] += idx[n_train + n_val :].tolist()
        train, val, test = (np.sort(np.asarray(p, dtype=int)) for p in parts)
    else:
        idx = rng.permutation(len(df))
        n_train, n_val = _sizes(len(df))
        train, val, test = (
            np.sort(idx[:n_train]),
            np.sort(idx[n_train : n_train + n_val]),
            np.sort(idx[n_train + n_val :]),
        )
    take = df.iloc
    return Split(
        take[train].reset_index(drop=True),
        take[val].reset_index(drop=True),
        take[test].reset_index(drop=True),
    )


def _sizes(n: int) -> tuple[int, int]:
    """(train, validation) sizes; training gets rows first, so a class with
    1 or 2 rows is still seen in training."""
    n_val = max(1, round(n * SPLIT_FRACTIONS[1])) if n >= 3 else 0
    n_test = max(1, round(n * SPLIT_FRACTIONS[2])) if n >= 2 else 0
    return n - n_val - n_test, n_val

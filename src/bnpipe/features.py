"""Split, encode and scale: raw DataFrame rows in, float32 arrays out.

The fitted :class:`Preprocessor` is plain data (``to_dict``/``from_dict``) and
is logged with every model, so the served model takes raw CSV rows and applies
exactly the training-time transformation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bnpipe.catalog import DatasetSpec

SCALINGS = ("none", "standard")
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


def _column_type(column: pd.Series) -> str:
    if pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(column):
        return "string"
    return "long" if pd.api.types.is_integer_dtype(column) else "double"


@dataclass
class Preprocessor:
    """Raw rows -> model inputs (and targets), fitted on training rows only."""

    task: str
    features: list[str]  # clean names, in model input order before encoding
    target: str
    rename: dict[str, str] = field(default_factory=dict)
    categories: dict[str, list[str]] = field(default_factory=dict)  # categorical feature -> levels
    classes: list[str] = field(default_factory=list)  # classification target levels
    scaling: str = "none"
    mean: list[float] = field(default_factory=list)
    scale: list[float] = field(default_factory=list)
    # Input column types as training saw them ("long", "double" or "string"):
    # the served model's signature, so a REST request with 1 for an integer
    # column is accepted as the CSV's rows are.
    column_types: dict[str, str] = field(default_factory=dict)

    @classmethod
    def fit(cls, train: pd.DataFrame, spec: DatasetSpec, scaling: str = "none") -> Preprocessor:
        if scaling not in SCALINGS:
            raise ValueError(f"input_scaling must be one of {SCALINGS}, got {scaling!r}")
        raw, train = train, train.rename(columns=dict(spec.rename))
        pre = cls(
            task=spec.task,
            features=list(spec.feature_columns),
            target=spec.target_column,
            rename=dict(spec.rename),
            categories={
                c: sorted(map(str, train[c].dropna().unique())) for c in spec.categorical_columns
            },
            classes=(
                sorted(map(str, train[spec.target_column].unique()))
                if spec.task == "classification"
                else []
            ),
            scaling=scaling,
            column_types={c: _column_type(train[c]) for c in spec.feature_columns},
        )
        if scaling == "standard":
            x = pre._encode(raw)
            std = x.std(axis=0)
            pre.mean = x.mean(axis=0).tolist()
            pre.scale = np.where(std > 0, std, 1.0).tolist()
        return pre

    @property
    def input_names(self) -> list[str]:
        """Encoded input column names (one per network input)."""
        names: list[str] = []
        for c in self.features:
            if c in self.categories:
                names += [f"{c}={level}" for level in self.categories[c]]
            else:
                names.append(c)
        return names

    @property
    def raw_features(self) -> list[str]:
        """Feature names as they appear in the CSV (before ``rename``)."""
        back = {v: k for k, v in self.rename.items()}
        return [back.get(c, c) for c in self.features]

    def _rows(self, df: pd.DataFrame) -> pd.DataFrame:
        df = df.rename(columns=self.rename)
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise KeyError(f"input is missing required columns: {', '.join(missing)}")
        return df

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        df = self._rows(df)
        blocks = []
        for c in self.features:
            if c in self.categories:
                values = df[c].astype(str).to_numpy()
                levels = np.asarray(self.categories[c])
                blocks.append((values[:, None] == levels[None, :]).astype(np.float32))
            else:
                blocks.append(pd.to_numeric(df[c]).to_numpy(dtype=np.float32)[:, None])
        return np.hstack(blocks).astype(np.float32)

    def transform_x(self, df: pd.DataFrame) -> np.ndarray:
        x = self._encode(df)
        if self.scaling == "standard":
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)
        return x.astype(np.float32)

    def y_index(self, df: pd.DataFrame) -> np.ndarray:
        """Class index per row (classification); unknown labels raise."""
        labels = self._rows(df)[self.target].astype(str)
        lookup = {c: i for i, c in enumerate(self.classes)}
        unknown = sorted(set(labels) - set(lookup))
        if unknown:
            raise ValueError(
                f"target {self.target!r} has classes not seen in training: {unknown[:5]}"
            )
        return labels.map(lookup).to_numpy(dtype=np.int64)

    def transform_y(self, df: pd.DataFrame) -> np.ndarray:
        """Regression: (n, 1) float32. Classification: one-hot (n, k) float32."""
        if self.task == "classification":
            return np.eye(len(self.classes), dtype=np.float32)[self.y_index(df)]
        return self._rows(df)[self.target].to_numpy(dtype=np.float32)[:, None]

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "classification" else 1

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        return cls(**d)


@dataclass
class Encoded:
    """A split plus its fitted preprocessor and the model-ready arrays."""

    split: Split
    pre: Preprocessor
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def y_test_true(self) -> np.ndarray:
        """Test targets as evaluation takes them: values, or class indices."""
        if self.pre.task == "classification":
            return self.pre.y_index(self.split.test)
        return self.y_test[:, 0]


def encode(df: pd.DataFrame, spec: DatasetSpec, *, split_seed: int, scaling: str) -> Encoded:
    """Split ``df`` (raw CSV rows), fit the preprocessor on training rows, encode all parts."""
    parts = split(prepare(df, spec), task=spec.task, target=spec.target, seed=split_seed)
    pre = Preprocessor.fit(parts.train, spec, scaling)
    return Encoded(
        split=parts,
        pre=pre,
        x_train=pre.transform_x(parts.train),
        y_train=pre.transform_y(parts.train),
        x_val=pre.transform_x(parts.val),
        y_val=pre.transform_y(parts.val),
        x_test=pre.transform_x(parts.test),
        y_test=pre.transform_y(parts.test),
    )

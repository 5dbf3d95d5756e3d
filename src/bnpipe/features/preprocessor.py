"""The :class:`Preprocessor`: raw CSV rows -> model inputs (and targets), fitted on
training rows only, applying each column's ``missing`` policy (:mod:`bnpipe.features`)."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from bnpipe.catalog import SCALINGS, DatasetSpec
from bnpipe.features.cells import (
    as_levels,
    blank_cells,
    column_type,
    date_part,
    not_finite,
    read_dates,
    read_numbers,
    refused,
    same_names,
)
from bnpipe.features.saved import loadable, saved

MISSING_LEVEL = "__missing__"  # a categorical feature's blanks, under impute
OTHER_LEVEL = "__other__"  # rare training levels (min_frequency), and unseen ones
DATE_PARTS = ("year", "month", "dayofweek", "hour")  # hour only when training had times
INDICATOR = "__missing"  # suffix of the 0/1 "was blank" input


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
    # Format 2. The defaults are format 1's behaviour (every blank refused).
    missing: dict[str, str] = field(default_factory=dict)  # feature -> policy; absent: "error"
    medians: dict[str, float] = field(default_factory=dict)  # numeric input -> fill (impute)
    indicators: list[str] = field(default_factory=list)  # features with a <col>__missing input
    dates: dict[str, list[str]] = field(default_factory=dict)  # date feature -> DATE_PARTS used
    # Regression target standardized for training ("standard"): the network learns
    # (y - target_mean) / target_scale; inverse_y maps its outputs back. Optional keys.
    target_scaling: str = "none"
    target_mean: float = 0.0
    target_scale: float = 1.0

    @classmethod
    def fit(
        cls,
        train: pd.DataFrame,
        spec: DatasetSpec,
        scaling: str = "none",
        target_scaling: str = "none",
    ) -> Preprocessor:
        """Fitted on ``train`` (raw CSV rows). ``target_scaling`` applies to a regression
        target only: a classification target is a one-hot vector whatever it says."""
        if scaling not in SCALINGS:
            raise ValueError(f"input_scaling must be one of {SCALINGS}, got {scaling!r}")
        if target_scaling not in SCALINGS:
            raise ValueError(f"target_scaling must be one of {SCALINGS}, got {target_scaling!r}")
        raw, train = train, train.rename(columns=dict(spec.rename))
        pre = cls(
            task=spec.task,
            features=list(spec.feature_columns),
            target=spec.target_column,
            rename=dict(spec.rename),
            classes=(
                sorted(map(str, train[spec.target_column].unique()))
                if spec.task == "classification"
                else []
            ),
            scaling=scaling,
            column_types={
                c: "string" if c in spec.date_columns else column_type(train[c])
                for c in spec.feature_columns
            },
            missing={spec.clean(c): spec.missing_policy(c) for c in spec.features},
        )
        for source, c in zip(spec.features, spec.feature_columns, strict=True):
            s, impute = train[c], pre.policy(c) == "impute"
            if c in spec.categorical_columns:
                blank = blank_cells(s)
                counts = Counter(map(str, s[~blank].dropna()))
                levels = sorted(v for v, n in counts.items() if n >= spec.min_frequency)
                if len(levels) < len(counts):
                    levels.append(OTHER_LEVEL)
                if impute:
                    levels.append(MISSING_LEVEL)  # always, so a served blank scores
                pre.categories[c] = levels
                continue
            if c in spec.date_columns:
                parsed = read_dates(s)
                blank = parsed.isna().to_numpy(dtype=bool)
                known = parsed[~blank]
                timed = bool((known != known.dt.normalize()).any())
                pre.dates[c] = [p for p in DATE_PARTS if p != "hour" or timed]
                columns = {f"{c}__{p}": date_part(parsed, p) for p in pre.dates[c]}
            else:
                values, blank = read_numbers(s, source)
                columns = {c: values}
            if impute:
                for name, values in columns.items():
                    known = values[~blank]
                    pre.medians[name] = float(np.median(known)) if len(known) else 0.0
                if blank.any():
                    pre.indicators.append(c)
        if scaling == "standard":
            x = pre._encode(raw)
            with np.errstate(invalid="ignore", over="ignore"):  # inf: encode() refuses it
                std = x.std(axis=0)
                pre.mean = x.mean(axis=0).tolist()
            pre.scale = np.where(std > 0, std, 1.0).tolist()
        if target_scaling == "standard" and spec.task == "regression":
            y, _ = read_numbers(train[spec.target_column], spec.target)
            y = y[np.isfinite(y)]  # blank targets are never trained on; inf: encode() refuses
            std = float(y.std()) if len(y) else 0.0
            pre.target_scaling = "standard"
            pre.target_mean = float(y.mean()) if len(y) else 0.0
            pre.target_scale = std if std > 0 and np.isfinite(std) else 1.0
        return pre

    @property
    def scales_target(self) -> bool:
        return self.task == "regression" and self.target_scaling == "standard"

    @property
    def target_unit(self) -> float:
        """One unit of the network's (regression) output in the target's units:
        ``target_scale`` when the target is standardized, else 1. An MSE in the
        target's units divided by its square is in the units of loss/val_loss."""
        return float(self.target_scale) if self.scales_target else 1.0

    def policy(self, column: str) -> str:
        """The blank-cell policy of a feature (clean name)."""
        return self.missing.get(column, "error")

    @property
    def input_names(self) -> list[str]:
        """Encoded input column names (one per network input)."""
        names: list[str] = []
        for c in self.features:
            if c in self.categories:
                names += [f"{c}={level}" for level in self.categories[c]]
            elif c in self.dates:
                names += [f"{c}__{part}" for part in self.dates[c]]
            else:
                names.append(c)
            if c in self.indicators:
                names.append(f"{c}{INDICATOR}")
        return names

    @property
    def input_sources(self) -> list[str]:
        """The CSV column of each encoded input (parallel to ``input_names``)."""
        sources: list[str] = []
        for raw, c in zip(self.raw_features, self.features, strict=True):
            width = len(self.categories.get(c, ())) or len(self.dates.get(c, ())) or 1
            sources += [raw] * (width + (c in self.indicators))
        return sources

    @property
    def raw_features(self) -> list[str]:
        """Feature names as they appear in the CSV (before ``rename``)."""
        back = {v: k for k, v in self.rename.items()}
        return [back.get(c, c) for c in self.features]

    def _rows(self, df: pd.DataFrame) -> pd.DataFrame:
        """Rows under the clean names; a header that differs from a name only in its
        Unicode normalization (NFD for NFC) counts as that name."""
        names = [*self.rename, *self.features, self.target]
        df = df.rename(columns=same_names(df.columns, names)).rename(columns=self.rename)
        missing = [c for c in self.features if c not in df.columns]
        if missing:
            raise KeyError(f"input is missing required columns: {', '.join(missing)}")
        return df

    def _encode(self, df: pd.DataFrame) -> np.ndarray:
        df = self._rows(df)
        blocks = []
        for raw, c in zip(self.raw_features, self.features, strict=True):
            s, policy = df[c], self.policy(c)
            if c in self.categories:
                blank = blank_cells(s)
                if blank.any() and policy != "impute":
                    raise refused(raw, s, blank, policy, "blank cells")
                levels = self.categories[c]
                values = as_levels(s.astype(str).to_numpy(dtype=object, copy=True), levels)
                if OTHER_LEVEL in levels:
                    unseen = np.array([v not in set(levels) for v in values], dtype=bool)
                    values[unseen & ~blank] = OTHER_LEVEL
                values[blank] = MISSING_LEVEL
                blocks.append((values[:, None] == np.asarray(levels)[None, :]).astype(np.float32))
                continue
            if c in self.dates:
                parsed = read_dates(s)
                blank = parsed.isna().to_numpy(dtype=bool, copy=True)
                names = [f"{c}__{p}" for p in self.dates[c]]
                columns = [date_part(parsed, p) for p in self.dates[c]]
                what = "blank or unparseable dates"
            else:
                values, blank = read_numbers(s, raw)
                names, columns, what = [c], [values], "blank cells"
            if blank.any():
                if policy != "impute":
                    raise refused(raw, s, blank, policy, what)
                for name, values in zip(names, columns, strict=True):
                    values[blank] = self.medians[name]
            block = np.column_stack(columns)
            if c in self.indicators:
                block = np.column_stack([block, blank.astype(np.float64)])
            blocks.append(block.astype(np.float32))
        return np.hstack(blocks).astype(np.float32)

    def _scale(self, x: np.ndarray) -> np.ndarray:
        if self.scaling == "standard":
            x = (x - np.asarray(self.mean, np.float32)) / np.asarray(self.scale, np.float32)
        return x.astype(np.float32)

    def transform_x(self, df: pd.DataFrame) -> np.ndarray:
        """Model inputs for raw rows. Text in a numeric column, blanks the policy
        refuses, and a value that is no finite float32 input (``inf``, ``1e39``: finite
        in float64, it overflows the network's float32) raise a ``ValueError``
        naming the column and the rows."""
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below
            x = self._scale(self._encode(df))
        bad = ~np.isfinite(x)
        if bad.any():
            sources = np.asarray(self.input_sources, dtype=object)
            raw = sources[bad.any(axis=0)][0]  # the first such column, in input order
            column = self._rows(df)[self.features[self.raw_features.index(raw)]]
            raise not_finite(raw, column, bad[:, sources == raw].any(axis=1))
        return x

    def check(self, df: pd.DataFrame) -> None:
        """Raise what :meth:`transform_x` would raise for these rows (nothing if they score)."""
        self.transform_x(df)

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

    def target_values(self, df: pd.DataFrame) -> np.ndarray:
        """A regression target in its own units: (n,) float32 (NaN where blank)."""
        values, _ = read_numbers(self._rows(df)[self.target], self.target)
        return values.astype(np.float32)

    def transform_y(self, df: pd.DataFrame) -> np.ndarray:
        """The network's targets. Regression: (n, 1) float32, standardized under
        ``target_scaling="standard"``. Classification: one-hot (n, k) float32."""
        if self.task == "classification":
            return np.eye(len(self.classes), dtype=np.float32)[self.y_index(df)]
        values, _ = read_numbers(self._rows(df)[self.target], self.target)
        if self.scales_target:
            values = (values - self.target_mean) / self.target_scale
        return values.astype(np.float32)[:, None]

    def inverse_y(self, output: np.ndarray) -> np.ndarray:
        """The network's outputs in the target's own units (any shape). Unchanged
        (the same array) for classification and for an unscaled target."""
        if not self.scales_target:
            return output
        return np.asarray(output, dtype=np.float64) * self.target_scale + self.target_mean

    @property
    def n_outputs(self) -> int:
        return len(self.classes) if self.task == "classification" else 1

    def to_dict(self) -> dict:
        """The saved form (:mod:`bnpipe.features.saved`), logged with the model."""
        return saved(self.__dict__)

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        """Load a saved form: format 1 (no ``format`` key; every new field takes the
        default that keeps its behaviour) or 2. Unknown and missing keys raise."""
        return cls(**loadable(d, (f.name for f in fields(cls))))

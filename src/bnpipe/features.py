"""Split, encode and scale: raw DataFrame rows in, float32 arrays out.

The fitted :class:`Preprocessor` is plain data (``to_dict``/``from_dict``) and
is logged with every model, so the served model takes raw CSV rows and applies
exactly the training-time transformation.

Blank cells follow the catalog's ``missing`` policy of their column, fitted on
training rows only and kept in the Preprocessor so served rows get the same
treatment:

* ``impute``: a numeric (or date) feature's blanks take the training median,
  plus a 0/1 input ``<col>__missing`` when the training rows had blanks there;
  a categorical feature's blanks are the level ``__missing__``.
* ``drop``: :func:`encode` removes training rows with a blank there; a served
  row with one is refused.
* ``error``: a blank is refused (a ``ValueError`` naming the column and rows).

Rows whose target is blank are never trained on. Error messages name rows by
the frame's index labels (:func:`encode` numbers them as CSV lines).

A regression target can be standardized (``target_scaling="standard"``): its
mean and standard deviation are fitted on training rows, the network trains on
``(y - mean) / std`` (so its loss and val_loss are in those units), and
:meth:`Preprocessor.inverse_y` maps its outputs back. Everything shown (test
metrics, predictions, plots, the served model's ``prediction``) is in the
target's own units.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, fields

import numpy as np
import pandas as pd

from bnpipe.catalog import SCALINGS, DatasetSpec

SPLIT_FRACTIONS = (0.70, 0.15, 0.15)  # train, validation, test

FORMAT = 2  # of Preprocessor.to_dict(); 1 is the dict before blanks, dates and rare levels
# Format-2 keys added later, each optional: absent, the default keeps the old behaviour
# (a target trained on in its own units).
_FORMAT2_OPTIONAL = frozenset({"target_scaling", "target_mean", "target_scale"})
MISSING_LEVEL = "__missing__"  # a categorical feature's blanks, under impute
OTHER_LEVEL = "__other__"  # rare training levels (min_frequency), and unseen ones
DATE_PARTS = ("year", "month", "dayofweek", "hour")  # hour only when training had times
INDICATOR = "__missing"  # suffix of the 0/1 "was blank" input
ROWS_ARE_LINES = "(rows are CSV line numbers; the header is line 1)"
_SHOWN = 5  # rows named in a message
_FORMAT1_KEYS = frozenset(
    {
        "task",
        "features",
        "target",
        "rename",
        "categories",
        "classes",
        "scaling",
        "mean",
        "scale",
        "column_types",
    }
)


class DataError(ValueError):
    """Rows that cannot be trained on: names the dataset, the column and the rows."""


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


# --------------------------------------------------------------------------- cells


def _is_text(s: pd.Series) -> bool:
    return s.dtype == object or isinstance(s.dtype, pd.StringDtype)


def blank_cells(s: pd.Series) -> np.ndarray:
    """Blank cells: missing values, and text that is empty or only spaces."""
    blank = s.isna().to_numpy(dtype=bool, copy=True)
    if _is_text(s):
        stripped = s.astype(str).str.strip()
        blank |= (stripped == "").fillna(False).to_numpy(dtype=bool)
    return blank


def _rows(labels) -> str:
    labels = list(labels)
    shown = ", ".join(map(str, labels[:_SHOWN]))
    more = f" and {len(labels) - _SHOWN} more" if len(labels) > _SHOWN else ""
    return f"{'row' if len(labels) == 1 else 'rows'} {shown}{more}"


def _numbers(s: pd.Series, name: str) -> tuple[np.ndarray, np.ndarray]:
    """A numeric column as float64 (NaN where blank) and its blank cells.
    Text that is not a number raises a ``ValueError`` naming rows and values."""
    blank = blank_cells(s)
    if pd.api.types.is_numeric_dtype(s):
        return s.to_numpy(dtype=np.float64, na_value=np.nan, copy=True), blank
    parsed = pd.to_numeric(s.where(~blank), errors="coerce")
    bad = parsed.isna().to_numpy(dtype=bool) & ~blank
    if bad.any():
        examples = ", ".join(repr(str(v)) for v in s[bad].iloc[:3])
        total = int(bad.sum())
        raise ValueError(
            f"column {name!r}: text in a numeric column, e.g. {_rows(s.index[bad][:3])}: "
            f"{examples}" + (f" ({total} such cells)" if total > 3 else "")
        )
    return parsed.to_numpy(dtype=np.float64, na_value=np.nan, copy=True), blank


def _dates(s: pd.Series) -> pd.Series:
    """A date column parsed; blank and unparseable cells are NaT."""
    if not pd.api.types.is_datetime64_any_dtype(s):
        s = s.where(~blank_cells(s))
        if not _is_text(s):
            s = s.astype(object)
        try:
            s = pd.to_datetime(s, errors="coerce", format="mixed")
        except (ValueError, TypeError):  # mixed time zones: compare them in UTC
            s = pd.to_datetime(s, errors="coerce", format="mixed", utc=True)
    return s


def _date_part(parsed: pd.Series, part: str) -> np.ndarray:
    return getattr(parsed.dt, part).to_numpy(dtype=np.float64, na_value=np.nan, copy=True)


def _refused(name: str, s: pd.Series, blank: np.ndarray, policy: str, what: str) -> ValueError:
    hint = {
        "error": "missing: error",
        "drop": "missing: drop; the model was trained without such rows",
    }.get(policy, f"missing: {policy}")
    return ValueError(f"column {name!r}: {what} in {_rows(s.index[blank])} ({hint})")


def _as_levels(values: np.ndarray, levels: list[str]) -> np.ndarray:
    """Values not among ``levels`` matched by their number: 1, "1" and "1.0" are one level
    (a column with blanks reads as floats, so its training levels may be "1.0")."""
    known = set(levels)
    out = values.copy()
    for value in {v for v in values.tolist() if isinstance(v, str) and v not in known}:
        try:
            number = float(value)
        except ValueError:
            continue
        if not np.isfinite(number):
            continue
        forms = [str(number)] + ([str(int(number))] if number.is_integer() else [])
        match = next((f for f in forms if f in known), None)
        if match is not None:
            out[values == value] = match
    return out


# --------------------------------------------------------------------------- Preprocessor


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
                c: "string" if c in spec.date_columns else _column_type(train[c])
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
                parsed = _dates(s)
                blank = parsed.isna().to_numpy(dtype=bool)
                known = parsed[~blank]
                timed = bool((known != known.dt.normalize()).any())
                pre.dates[c] = [p for p in DATE_PARTS if p != "hour" or timed]
                columns = {f"{c}__{p}": _date_part(parsed, p) for p in pre.dates[c]}
            else:
                values, blank = _numbers(s, source)
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
            y, _ = _numbers(train[spec.target_column], spec.target)
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
        df = df.rename(columns=self.rename)
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
                    raise _refused(raw, s, blank, policy, "blank cells")
                levels = self.categories[c]
                values = _as_levels(s.astype(str).to_numpy(dtype=object, copy=True), levels)
                if OTHER_LEVEL in levels:
                    unseen = np.array([v not in set(levels) for v in values], dtype=bool)
                    values[unseen & ~blank] = OTHER_LEVEL
                values[blank] = MISSING_LEVEL
                blocks.append((values[:, None] == np.asarray(levels)[None, :]).astype(np.float32))
                continue
            if c in self.dates:
                parsed = _dates(s)
                blank = parsed.isna().to_numpy(dtype=bool, copy=True)
                names = [f"{c}__{p}" for p in self.dates[c]]
                columns = [_date_part(parsed, p) for p in self.dates[c]]
                what = "blank or unparseable dates"
            else:
                values, blank = _numbers(s, raw)
                names, columns, what = [c], [values], "blank cells"
            if blank.any():
                if policy != "impute":
                    raise _refused(raw, s, blank, policy, what)
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
        """Model inputs for raw rows. Text in a numeric column, and blanks the
        policy refuses, raise a ``ValueError`` naming the column and the rows."""
        return self._scale(self._encode(df))

    def check(self, df: pd.DataFrame) -> None:
        """Raise what :meth:`transform_x` would raise for these rows (nothing if they score)."""
        self._encode(df)

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
        values, _ = _numbers(self._rows(df)[self.target], self.target)
        return values.astype(np.float32)

    def transform_y(self, df: pd.DataFrame) -> np.ndarray:
        """The network's targets. Regression: (n, 1) float32, standardized under
        ``target_scaling="standard"``. Classification: one-hot (n, k) float32."""
        if self.task == "classification":
            return np.eye(len(self.classes), dtype=np.float32)[self.y_index(df)]
        values, _ = _numbers(self._rows(df)[self.target], self.target)
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
        return {"format": FORMAT, **self.__dict__}

    @classmethod
    def from_dict(cls, d: dict) -> Preprocessor:
        """Load a saved form: format 1 (no ``format`` key; every new field takes the
        default that keeps its behaviour) or 2. Unknown and missing keys raise."""
        d = dict(d)
        version = d.pop("format", 1)
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise ValueError(f"preprocessor format {version!r} is not a format version")
        if version > FORMAT:
            raise ValueError(
                f"preprocessor format {version} is newer than this bnpipe understands "
                f"({FORMAT}); upgrade bnpipe"
            )
        known = _FORMAT1_KEYS if version == 1 else frozenset(f.name for f in fields(cls))
        required = {"task", "features", "target"} if version == 1 else known - _FORMAT2_OPTIONAL
        unknown, absent = sorted(set(d) - known), sorted(required - set(d))
        if unknown or absent:
            raise ValueError(
                f"preprocessor format {version}: "
                + "; ".join(
                    ([f"unknown keys {unknown}"] if unknown else [])
                    + ([f"missing keys {absent}"] if absent else [])
                )
            )
        if d.get("target_scaling", "none") not in SCALINGS:
            raise ValueError(
                f"preprocessor format {version}: target_scaling must be one of {SCALINGS}, "
                f"got {d['target_scaling']!r}"
            )
        if d.get("target_scaling") == "standard" and not {"target_mean", "target_scale"} <= set(d):
            raise ValueError(
                f"preprocessor format {version}: target_scaling 'standard' needs "
                "target_mean and target_scale"
            )
        return cls(**d)


# --------------------------------------------------------------------------- encode


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
    # rows removed before the split: blank target (any policy), blank drop-policy feature
    dropped: dict[str, int] = field(
        default_factory=lambda: {"blank_target": 0, "blank_features": 0}
    )

    @property
    def y_test_true(self) -> np.ndarray:
        """Test targets as evaluation takes them: values in the target's own units
        (whatever ``target_scaling``), or class indices."""
        return self._true(self.split.test)

    @property
    def y_train_true(self) -> np.ndarray:
        """Training targets like :attr:`y_test_true`: own units, or class indices."""
        return self._true(self.split.train)

    def _true(self, rows: pd.DataFrame) -> np.ndarray:
        if self.pre.task == "classification":
            return self.pre.y_index(rows)
        return self.pre.target_values(rows)


def _feature_blanks(rows: pd.DataFrame, spec: DatasetSpec) -> dict[str, np.ndarray]:
    """Blank cells per feature (CSV name); text in a numeric feature raises."""
    out = {}
    for c in spec.features:
        s = rows[c]
        if c in spec.dates:
            out[c] = _dates(s).isna().to_numpy(dtype=bool)
        elif c in spec.categorical:
            out[c] = blank_cells(s)
        else:
            out[c] = _numbers(s, c)[1]
    return out


def _clean_rows(rows: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, dict[str, int]]:
    """Remove the rows that are never trained on; refuse blanks under ``missing: error``."""
    target_blank = blank_cells(rows[spec.target])
    rows = rows[~target_blank]
    if spec.task == "regression":
        _numbers(rows[spec.target], spec.target)  # text in the target raises
    blanks = _feature_blanks(rows, spec)
    for c, blank in blanks.items():
        policy = spec.missing_policy(c)
        if policy == "error" and blank.any():
            what = "blank or unparseable dates" if c in spec.dates else "blank cells"
            raise _refused(c, rows[c], blank, policy, what)
    drop = np.zeros(len(rows), dtype=bool)
    for c, blank in blanks.items():
        if spec.missing_policy(c) == "drop":
            drop |= blank
    dropped = {"blank_target": int(target_blank.sum()), "blank_features": int(drop.sum())}
    return rows[~drop].reset_index(drop=True), dropped


def _not_finite(n: int) -> str:
    return f"{n} row is not a finite number" if n == 1 else f"{n} rows are not finite numbers"


def _check_finite(dataset: str, pre: Preprocessor, parts: dict[str, np.ndarray]) -> None:
    """Nothing non-finite reaches training: name the CSV column and count the rows."""
    x = np.vstack(list(parts.values()))
    bad = ~np.isfinite(x)
    if not bad.any():
        return
    sources = np.asarray(pre.input_sources, dtype=object)
    counts = {
        column: int(bad[:, sources == column].any(axis=1).sum())
        for column in dict.fromkeys(sources[bad.any(axis=0)])
    }
    (first, n), *rest = counts.items()
    also = f"; also {', '.join(f'{c!r} ({k} rows)' for c, k in rest)}" if rest else ""
    raise DataError(
        f"{dataset}: column {first!r}: {_not_finite(n)} after encoding "
        f"(blank cells under missing: error, or text/inf values){also}"
    )


def encode(
    df: pd.DataFrame,
    spec: DatasetSpec,
    *,
    split_seed: int,
    scaling: str,
    target_scaling: str = "none",
) -> Encoded:
    """Split ``df`` (raw CSV rows), fit the preprocessor on training rows, encode all parts.

    ``scaling``: of the inputs; ``target_scaling``: of a regression target (fitted on
    training rows; ``y_*`` arrays are then standardized, ``y_test_true`` is not).

    Before the split, rows with a blank target, and rows with a blank in a
    ``missing: drop`` feature, are removed (``Encoded.dropped`` counts them).
    Bad cells raise a :class:`DataError` naming ``spec.name``, the CSV column
    and the rows (CSV line numbers): text in a numeric column, a blank under
    ``missing: error``, a non-finite value (inf) after encoding.
    """
    rows = prepare(df, spec)
    rows.index = pd.RangeIndex(2, len(rows) + 2)  # CSV line numbers, for messages
    try:
        rows, dropped = _clean_rows(rows, spec)
    except ValueError as exc:
        raise DataError(f"{spec.name}: {exc} {ROWS_ARE_LINES}") from None
    if rows.empty:
        raise DataError(
            f"{spec.name}: no rows left to train on ({dropped['blank_target']} with a blank "
            f"target, {dropped['blank_features']} with a blank under missing: drop)"
        )
    parts = split(rows, task=spec.task, target=spec.target, seed=split_seed)
    try:
        pre = Preprocessor.fit(parts.train, spec, scaling, target_scaling)
        names = ("train", "val", "test")
        frames = dict(zip(names, (parts.train, parts.val, parts.test), strict=True))
        raw = {k: pre._encode(f) for k, f in frames.items()}
        _check_finite(spec.name, pre, raw)
        x = {k: pre._scale(v) for k, v in raw.items()}
        _check_finite(spec.name, pre, x)
        y = {k: pre.transform_y(f) for k, f in frames.items()}
    except DataError:
        raise
    except ValueError as exc:
        raise DataError(f"{spec.name}: {exc}") from None
    if spec.task == "regression":
        bad = sum(int((~np.isfinite(v)).sum()) for v in y.values())
        if bad:
            raise DataError(f"{spec.name}: target {spec.target!r}: {_not_finite(bad)} (inf values)")
    return Encoded(
        split=parts,
        pre=pre,
        x_train=x["train"],
        y_train=y["train"],
        x_val=x["val"],
        y_val=y["val"],
        x_test=x["test"],
        y_test=y["test"],
        dropped=dropped,
    )

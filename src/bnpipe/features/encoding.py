"""Encode a dataset for training (:func:`encode`): remove the rows never trained
on, split, fit the :class:`Preprocessor` on training rows and encode every part,
refusing bad cells with a :class:`DataError` that names the rows."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from bnpipe.catalog import DatasetSpec
from bnpipe.features.cells import blank_cells, read_dates, read_numbers, refused
from bnpipe.features.preprocessor import Preprocessor
from bnpipe.features.splitting import Split, prepare, split

ROWS_ARE_LINES = "(rows are CSV line numbers; the header is line 1)"


class DataError(ValueError):
    """Rows that cannot be trained on: names the dataset, the column and the rows."""


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
    def y_val_true(self) -> np.ndarray:
        """Validation targets like :attr:`y_test_true`: own units, or class indices."""
        return self._true(self.split.val)

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
            out[c] = read_dates(s).isna().to_numpy(dtype=bool)
        elif c in spec.categorical:
            out[c] = blank_cells(s)
        else:
            out[c] = read_numbers(s, c)[1]
    return out


def _clean_rows(rows: pd.DataFrame, spec: DatasetSpec) -> tuple[pd.DataFrame, dict[str, int]]:
    """Remove the rows that are never trained on; refuse blanks under ``missing: error``."""
    target_blank = blank_cells(rows[spec.target])
    rows = rows[~target_blank]
    if spec.task == "regression":
        read_numbers(rows[spec.target], spec.target)  # text in the target raises
    blanks = _feature_blanks(rows, spec)
    for c, blank in blanks.items():
        policy = spec.missing_policy(c)
        if policy == "error" and blank.any():
            what = "blank or unparseable dates" if c in spec.dates else "blank cells"
            raise refused(c, rows[c], blank, policy, what)
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

"""The training defaults a new dataset's data calls for (``defaults:`` in ``datasets.yaml``),
each with its reason: the scalings that make the network learnable.

A column's *size* is the root mean square of its non-blank values (what the first
layer sees, or what the output unit must reach: sqrt(mean² + std²)):

- ``input_scaling: standard`` when the sizes of the numeric inputs (numeric
  features, and the year part of dates) differ by more than ``INPUT_SPREAD``
  (100x), or one is larger than ``INPUT_LARGE`` (1000: a volume of 10^6, a year);
  else ``none``. One-hot inputs are 0/1 and do not count.
- ``target_scaling: standard`` (regression) when the target's size is outside
  ``TARGET_SIZES`` (0.1 to 10): the output unit starts near 0 and RMSprop's steps
  of ~0.001 take thousands of epochs to reach ~650 (or to resolve ~0.001); else
  ``none``. The network then trains on the standardized target (fitted on training
  rows); metrics, plots and predictions stay in the target's units.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import pandas as pd

from bnpipe.features.cells import blank_cells
from bnpipe.profiling.columns import parse_dates
from bnpipe.profiling.roles import Profile

INPUT_SPREAD = 100.0  # inputs whose sizes differ more than this are standardized ...
INPUT_LARGE = 1000.0  # ... and so are inputs with one larger than this
TARGET_SIZES = (0.1, 10.0)  # a regression target sized outside this is standardized


@dataclass(frozen=True)
class Defaults:
    """A dataset's training defaults (``values``: for ``defaults:`` in the catalog
    entry) and why each was chosen (``reasons``, by key)."""

    values: dict[str, object]
    reasons: dict[str, str]

    def summary(self) -> str:
        """``input_scaling standard (feature sizes differ by 10^3: volume ~1e6, open
        ~650); target_scaling standard (price ~650 ± 100)``."""
        return "; ".join(f"{k} {v} ({self.reasons[k]})" for k, v in self.values.items())


def choose_defaults(df: pd.DataFrame, profile: Profile) -> Defaults:
    """The training defaults of a new dataset, from its data (module docstring: the
    rules): input scaling by the sizes of the kept numeric inputs, target scaling
    (regression only) by the target's size."""
    values: dict[str, object] = {}
    reasons: dict[str, str] = {}
    values["input_scaling"], reasons["input_scaling"] = _input_scaling(df, profile)
    if profile.task == "regression":
        values["target_scaling"], reasons["target_scaling"] = _target_scaling(
            df[profile.target], profile.target
        )
    return Defaults(values, reasons)


def _input_scaling(df: pd.DataFrame, profile: Profile) -> tuple[str, str]:
    sizes: dict[str, float] = {}
    for c in profile.features:
        role = profile.role(c).role
        if role == "numeric":
            size = _size(df[c])
        elif role == "date":
            size = _size(parse_dates(df[c].where(~blank_cells(df[c])).astype(object)).dt.year)
            c = f"{c} (year)"
        else:
            continue
        if size > 0:
            sizes[c] = size
    if not sizes:
        return "none", "no numeric inputs: one-hot inputs are 0/1"
    largest, smallest = max(sizes, key=sizes.get), min(sizes, key=sizes.get)
    big, small = sizes[largest], sizes[smallest]
    spread = big / small
    named = f"{largest} ~{_about(big)}" + (
        f", {smallest} ~{_about(small)}" if smallest != largest else ""
    )
    if spread > INPUT_SPREAD:
        return "standard", f"feature sizes differ by 10^{round(math.log10(spread))}: {named}"
    if big > INPUT_LARGE:
        return "standard", f"features as large as ~{_about(big)}: {largest}"
    if len(sizes) == 1:
        return "none", f"one numeric input, of size ~{_about(big)}: {named}"
    return "none", f"feature sizes within {_ratio(spread)}x of each other: {named}"


def _target_scaling(target: pd.Series, name: str) -> tuple[str, str]:
    y = _finite(target)
    if not len(y):
        return "none", "no target values to judge"
    mean, std = float(y.mean()), float(y.std())
    size = math.hypot(mean, std)
    shown = f"{name} ~{_about(mean)} ± {_about(std)}"
    low, high = TARGET_SIZES
    if size > high or size < low:
        return "standard", shown
    return "none", f"{shown}: near unit scale"


def _finite(values: pd.Series) -> np.ndarray:
    """The finite numbers of a column, as float64 (blanks, text and inf left out)."""
    x = pd.to_numeric(values, errors="coerce").to_numpy(dtype=np.float64, na_value=np.nan)
    return x[np.isfinite(x)]


def _size(values: pd.Series) -> float:
    """Root mean square of the finite values (0 when there are none)."""
    x = _finite(values)
    return float(np.sqrt(np.mean(x * x))) if len(x) else 0.0


def _about(x: float) -> str:
    """Two significant digits, short: ``1e6``, ``650``, ``22``, ``0.56``, ``3e-4``, ``-12``."""
    if not math.isfinite(x):
        return str(x)
    sign, r = ("-" if x < 0 else ""), float(f"{abs(x):.2g}")
    if r == 0:
        return "0"
    if r >= 1e4 or r < 1e-2:
        mantissa, exponent = f"{r:.0e}".split("e")
        return f"{sign}{mantissa}e{int(exponent)}"
    return f"{sign}{r:.0f}" if r >= 100 else f"{sign}{r:g}"


def _ratio(x: float) -> str:
    return f"{x:.0f}" if x >= 10 else f"{x:.1f}".rstrip("0").rstrip(".")

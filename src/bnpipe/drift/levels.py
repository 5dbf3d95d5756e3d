"""Drift levels: the thresholds a comparison is judged by (their names are the
catalog's ``drift:`` keys, :data:`bnpipe.catalog.DRIFT_LEVELS`) and the
ok/warn/block verdict of a column and of a report."""

from __future__ import annotations

import math
from collections.abc import Sequence

from bnpipe.catalog import DRIFT_LEVELS

LEVELS = ("ok", "warn", "block")
"""A column's or a report's level, from best to worst."""

DEFAULT_LEVELS: dict[str, float] = dict(zip(DRIFT_LEVELS, (0.2, 1.0, 0.2, 0.4), strict=True))
"""Default thresholds of :func:`~bnpipe.drift.compare` (warn 0.2, block 1.0,
relation_warn 0.2, relation_block 0.4); a catalog entry's ``drift:`` overrides
them key by key (``compare(ref, df, **{**DEFAULT_LEVELS, **spec.drift})``).

Measured on the real data (``tests/unit/test_drift.py``), bootstrap resamples
against the original's profile: over 1000 resamples the 99th percentiles of the
largest PSI / relation change were 0.055 / 0.138 (Boston, 506 rows) and
0.196 / 0.114 (iris, 150 rows; the worst single resample 0.30 / 0.21). So
sampling noise stays far below the block levels and mostly below the warn
levels (iris touches warn about once in a hundred resamples), while a 2-std
shift of one feature (PSI ~4) or a shuffled target (relation changes of
0.4-0.9) blocks."""


def thresholds(
    *, warn: float, block: float, relation_warn: float, relation_block: float
) -> dict[str, float]:
    """The four thresholds by name (``DRIFT_LEVELS`` order), as floats. A threshold
    that is not a finite non-negative number raises ``ValueError``."""
    levels = dict(zip(DRIFT_LEVELS, (warn, block, relation_warn, relation_block), strict=True))
    for key, value in levels.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"drift level {key!r} must be a non-negative number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"drift level {key!r} must be finite, got {value!r}")
    return {k: float(v) for k, v in levels.items()}


def level_of(value: float | None, warn: float, block: float) -> str:
    """``block`` over ``block``, ``warn`` over ``warn``, else (and for None) ``ok``."""
    if value is None:
        return "ok"
    if value > block:
        return "block"
    return "warn" if value > warn else "ok"


def worst(levels: Sequence[str]) -> str:
    """The worst of ``levels`` (``ok`` when there are none)."""
    return max(levels, key=LEVELS.index, default="ok")

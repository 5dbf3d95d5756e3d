"""Data drift: today's snapshot against the data the champion was trained on.

The reference travels with the champion as a small JSON *profile* of its
training data (:func:`profile`, logged on the champion's MLflow run), so drift
is measured from any host without the old file. :func:`compare` puts today's
frame against such a profile and returns a :class:`DriftReport`;
:func:`champion_check` does so against the current champion's profile
(:func:`champion_reference`).

Both take the frame with its columns as in the CSV, before the catalog's
``rename``.

The modules, one job each:

- :mod:`~bnpipe.drift.profiles`: what a profile holds (:func:`profile`);
- :mod:`~bnpipe.drift.comparison`: how a column is compared (:func:`compare`);
- :mod:`~bnpipe.drift.report`: the :class:`DriftReport`, its metrics and reasons;
- :mod:`~bnpipe.drift.levels`: the thresholds and the ok/warn/block verdict;
- :mod:`~bnpipe.drift.buckets`: bins, category frequencies and the PSI over them;
- :mod:`~bnpipe.drift.relations`: a feature's relation to the target (scipy.stats);
- :mod:`~bnpipe.drift.columns`: a column read as numbers or category keys;
- :mod:`~bnpipe.drift.champion`: the champion's reference, and today's check against it.

Importing the package does no work: scipy and MLflow are imported where they are used.
"""

from __future__ import annotations

from bnpipe.drift.buckets import EPSILON
from bnpipe.drift.champion import (
    PARENT_RUN_TAG,
    PROFILE_ARTIFACT,
    champion_check,
    champion_reference,
)
from bnpipe.drift.comparison import compare
from bnpipe.drift.levels import DEFAULT_LEVELS, LEVELS
from bnpipe.drift.profiles import VERSION, profile
from bnpipe.drift.report import ColumnDrift, DriftReport, metric_name

__all__ = [
    "DEFAULT_LEVELS",
    "EPSILON",
    "LEVELS",
    "PARENT_RUN_TAG",
    "PROFILE_ARTIFACT",
    "VERSION",
    "ColumnDrift",
    "DriftReport",
    "champion_check",
    "champion_reference",
    "compare",
    "metric_name",
    "profile",
]

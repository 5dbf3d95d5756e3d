"""Seed-aware statistics: summaries over seeds, paired intervals, the champion rule.

* :mod:`bnpipe.stats.seeds` -- summaries over seeds, the paired seed intervals
  (``bn - plain``) and the ``PairedInterval`` type;
* :mod:`bnpipe.stats.rows` -- the champion rule: bootstraps over test rows;
* :mod:`bnpipe.stats.distributions` -- the percentile bootstrap and Student's t (SciPy).

Sign convention (everywhere in this package)
--------------------------------------------
An interval is about ``candidate - baseline``:

* seed-level comparison: ``bn - plain`` (``labels=("plain", "bn")``),
* champion rule: ``challenger - champion`` (``labels=("champion", "challenger")``).

For a lower-is-better metric (``test_rmse``, ``test_mae``, ``test_log_loss``) a
*negative* difference favours the candidate (bn / challenger); for a
higher-is-better metric (``test_r2``, ``test_accuracy``, ``test_macro_f1``) a
*positive* difference does. ``PairedInterval.better()`` applies the direction, so
callers never have to.

Non-finite values give no evidence: a seed pair with a NaN is dropped from the
seed intervals, and any non-finite per-row loss gives the row bootstrap a NaN
interval (no win).
"""

from __future__ import annotations

from bnpipe.stats.distributions import bootstrap_interval, t_cdf, t_quantile
from bnpipe.stats.rows import challenger_wins, compare_on_rows, row_bootstrap, score_interval
from bnpipe.stats.seeds import (
    CHAMPION_LABELS,
    SEED_LABELS,
    TIE,
    PairedInterval,
    Summary,
    paired_bootstrap,
    paired_intervals,
    paired_t_interval,
    summarize,
    winner,
)

__all__ = [
    "CHAMPION_LABELS",
    "SEED_LABELS",
    "TIE",
    "PairedInterval",
    "Summary",
    "bootstrap_interval",
    "challenger_wins",
    "compare_on_rows",
    "paired_bootstrap",
    "paired_intervals",
    "paired_t_interval",
    "row_bootstrap",
    "score_interval",
    "summarize",
    "t_cdf",
    "t_quantile",
    "winner",
]

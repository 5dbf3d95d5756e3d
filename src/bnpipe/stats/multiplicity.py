"""Many comparisons at once: p-values of the paired bn - plain difference per
sweep cell, adjusted across the cells.

A sweep tests one hypothesis per cell ("bn and plain do equally well here").
With 16 cells at the 5 % level, about one cell in a sweep of identical variants
would show a "difference" by luck alone. Two standard controls:

* **Holm** (``"holm"``, the default): the family-wise error rate, i.e. the
  chance of even one false winner among all cells, stays under ``alpha``.
  Uniformly more powerful than Bonferroni and valid under any dependence.
* **Benjamini-Hochberg** (``"bh"``): the false discovery rate, i.e. the expected
  share of false winners among the cells called, stays under ``alpha``. More
  winners when many cells differ; valid for independent or positively dependent
  tests (cells share seeds and data, which is the positive kind).

Cells whose p-value is NaN (one seed, or no finite pair) are not tested: they
are left out of the family (``m`` counts the tested cells) and stay NaN.
SciPy gives the paired t test, statsmodels the two corrections.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

CORRECTIONS = ("holm", "bh")
ALPHA = 0.05


def paired_t_pvalue(differences: Sequence[float]) -> float:
    """Two-sided p-value of Student's paired t test that the mean difference is 0
    (``scipy.stats.ttest_1samp`` on the differences).

    NaN with fewer than two finite differences. Identical differences (zero
    spread) give 1.0 when they are all 0 and 0.0 otherwise: SciPy answers NaN
    there, and a sweep cell of equal seeds is a clear answer, not a gap."""
    from scipy import stats

    d = np.asarray([x for x in differences if math.isfinite(x)], dtype=float)
    if d.size < 2:
        return math.nan
    if float(np.ptp(d)) == 0.0:
        return 1.0 if float(d[0]) == 0.0 else 0.0
    return float(stats.ttest_1samp(d, 0.0).pvalue)


_METHODS = {"holm": "holm", "bh": "fdr_bh"}  # statsmodels' names of the corrections


def adjust(pvalues: Sequence[float], method: str = "holm") -> list[float]:
    """The adjusted p-values, in the order given (compare each with ``alpha``), by
    ``statsmodels.stats.multitest.multipletests`` over the tested (finite) ones."""
    if method not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {method!r}")
    p = [float(x) for x in pvalues]
    tested = [i for i, x in enumerate(p) if math.isfinite(x)]
    if any(not 0.0 <= p[i] <= 1.0 for i in tested):
        raise ValueError(f"p-values must lie in [0, 1], got {pvalues!r}")
    out = [math.nan] * len(p)
    if not tested:
        return out
    from statsmodels.stats.multitest import multipletests

    adjusted = multipletests([p[i] for i in tested], method=_METHODS[method])[1]
    for i, q in zip(tested, adjusted, strict=True):
        out[i] = float(q)
    return out


def describe(method: str, alpha: float = ALPHA) -> str:
    """The control, as the report states it."""
    if method == "holm":
        return (
            f"Holm's step-down correction across cells: the chance of any false winner "
            f"(family-wise error) is at most {alpha:g}"
        )
    return (
        f"Benjamini-Hochberg across cells: the expected share of false winners among "
        f"the cells called (false discovery rate) is at most {alpha:g}"
    )

"""The champion rule: bootstraps over test rows, a challenger against the champion
(``challenger - champion``) and one model's score interval."""

from __future__ import annotations

import numpy as np

from bnpipe import evaluation
from bnpipe.stats.distributions import bootstrap_interval
from bnpipe.stats.seeds import CHAMPION_LABELS, PairedInterval, check_level


def _row_score(metric: str):
    """The score of per-row losses, vectorised over resamples: ``sqrt(mean)`` of
    squared errors for ``test_rmse``, ``mean`` otherwise."""
    sqrt = evaluation.canonical_metric(metric) == "test_rmse"

    def score(rows: np.ndarray, axis: int = -1) -> np.ndarray:
        means = rows.mean(axis=axis)
        return np.sqrt(means) if sqrt else means

    return score


def row_bootstrap(
    champion_rows: np.ndarray,
    challenger_rows: np.ndarray,
    *,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedInterval:
    """Bootstrap over test rows of ``statistic(challenger) - statistic(champion)``.

    Both models were scored on the same test rows; ``*_rows`` are their per-row
    losses from ``evaluation.per_row_loss`` for ``metric``. Each replicate draws
    row indices with replacement and evaluates both models on the *same* rows
    (``sqrt(mean)`` of squared errors for ``test_rmse``, ``mean`` otherwise). The
    result has ``labels=("champion", "challenger")``; for a lower-is-better metric a
    negative difference favours the challenger. ``n`` is the number of rows.
    Any non-finite row loss gives a NaN interval (``better() == "tie"``).
    """
    check_level(level)
    metric = evaluation.canonical_metric(metric)
    if metric not in evaluation.ROW_METRICS:
        raise ValueError(
            f"{metric!r} is not a mean over rows; use one of {', '.join(evaluation.ROW_METRICS)}"
        )
    champ = np.asarray(champion_rows, dtype=float).ravel()
    chall = np.asarray(challenger_rows, dtype=float).ravel()
    if champ.shape != chall.shape:
        raise ValueError(
            f"both models must be scored on the same rows, got {champ.size} and {chall.size}"
        )
    if champ.size == 0:
        raise ValueError("row_bootstrap needs at least one row")
    n = int(champ.size)
    hib = evaluation.higher_is_better(metric)
    if not (np.all(np.isfinite(champ)) and np.all(np.isfinite(chall))):
        nan = float("nan")
        return PairedInterval(
            metric, nan, nan, nan, n, hib, level, "row-bootstrap", 0, CHAMPION_LABELS
        )
    score = _row_score(metric)

    def difference(champ_rows: np.ndarray, chall_rows: np.ndarray, axis: int = -1) -> np.ndarray:
        return score(chall_rows, axis) - score(champ_rows, axis)

    point = float(difference(champ, chall))
    lo, hi = bootstrap_interval((champ, chall), difference, n_boot=n_boot, seed=seed, level=level)
    return PairedInterval(
        metric=metric,
        mean=point,
        ci_low=float(lo),
        ci_high=float(hi),
        n=n,
        higher_is_better=hib,
        level=level,
        method="row-bootstrap",
        n_dropped=0,
        labels=CHAMPION_LABELS,
    )


def compare_on_rows(
    task: str,
    y_true: np.ndarray,
    champion_pred: np.ndarray,
    challenger_pred: np.ndarray,
    *,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedInterval:
    """``row_bootstrap`` on the per-row losses of two models' predictions for the
    same rows (``evaluation.per_row_loss``); ``challenger - champion``."""
    return row_bootstrap(
        evaluation.per_row_loss(task, y_true, champion_pred, metric),
        evaluation.per_row_loss(task, y_true, challenger_pred, metric),
        metric=metric,
        n_boot=n_boot,
        seed=seed,
        level=level,
    )


def score_interval(
    task: str,
    y_true: np.ndarray,
    pred: np.ndarray,
    *,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval over rows of one model's ``metric`` on ``y_true``: the
    record a champion is later held to ("does it still score like this?")."""
    check_level(level)
    rows = np.asarray(evaluation.per_row_loss(task, y_true, pred, metric), dtype=float).ravel()
    if rows.size == 0 or not np.all(np.isfinite(rows)):
        return float("nan"), float("nan")
    return bootstrap_interval((rows,), _row_score(metric), n_boot=n_boot, seed=seed, level=level)


def challenger_wins(interval: PairedInterval, higher_is_better: bool | None = None) -> bool:
    """True only when the ``challenger - champion`` interval excludes 0 on the
    challenger's better side (below 0 for lower-is-better, above for higher).

    ``higher_is_better`` defaults to the interval's own direction. A NaN interval,
    or one that contains 0, is not a win: the champion stays.
    """
    hib = interval.higher_is_better if higher_is_better is None else higher_is_better
    if interval.n < 2 or interval.contains_zero():
        return False
    return interval.ci_low > 0.0 if hib else interval.ci_high < 0.0

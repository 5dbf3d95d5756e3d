"""Test-set metrics for the two task types, in plain numpy.

Metric names are the MLflow names of the design contract (section 3):
``test_rmse``, ``test_mae``, ``test_r2`` for regression and ``test_accuracy``,
``test_log_loss``, ``test_macro_f1`` for classification.

Conventions
-----------
* Regression: ``y_true`` and ``y_pred`` are real vectors of shape ``(n,)`` (an
  ``(n, 1)`` column is accepted and flattened).
* Classification: ``y_true`` holds class *indices* of shape ``(n,)`` (a one-hot
  ``(n, k)`` matrix is accepted and turned into indices with ``argmax``);
  ``y_pred`` holds class *probabilities* of shape ``(n, k)``; the predicted class
  is the ``argmax`` of a row.
* A model that diverged produces non-finite outputs. Any NaN or +-inf among the
  predictions makes every metric NaN; nothing raises, so a diverged seed is
  logged and reported as NaN instead of failing the run. Shape errors do raise.

The same metrics on the validation rows are named ``val_rmse``, ``val_mae``,
``val_r2``, ``val_accuracy``, ``val_log_loss``, ``val_macro_f1``
(:func:`evaluate_validation`): what a leader and its seed are chosen by, so the
test rows that judge the chosen model never chose it.

Primary metrics (the one a winner and a champion are decided on):

* regression: ``test_rmse`` -- the notebook trains with MSE, and RMSE is that
  loss in the target's units (thousands of dollars for Boston's ``medv``).
* classification: ``test_log_loss`` -- a strictly proper scoring rule that is
  continuous in the predicted probabilities. Accuracy on iris's ~23 test rows
  moves in steps of 1/23 (4.3 points) and both variants usually get the same
  count right, so accuracy ties almost always and cannot separate the models;
  log loss still ranks them by how confident and how well calibrated they are.
  Probabilities are clipped to ``[1e-7, 1 - 1e-7]`` (and the rows renormalised),
  so one confident mistake contributes at most ``-log(1e-7) ~= 16.1``.
"""

from __future__ import annotations

import numpy as np

from bnpipe.catalog import TASKS

REGRESSION_METRICS: tuple[str, ...] = ("test_rmse", "test_mae", "test_r2")
CLASSIFICATION_METRICS: tuple[str, ...] = ("test_accuracy", "test_log_loss", "test_macro_f1")
LOWER_IS_BETTER: frozenset[str] = frozenset({"test_rmse", "test_mae", "test_log_loss"})
"""Metrics where a smaller value is better; every other metric is higher-is-better."""

PRIMARY_METRICS: dict[str, str] = {"regression": "test_rmse", "classification": "test_log_loss"}

VALIDATION_PREFIX = "val_"
"""The prefix of the metrics on the validation rows (``val_rmse``, ``val_log_loss``, ...)."""

PROBA_CLIP = 1e-7
"""Probabilities are clipped to ``[PROBA_CLIP, 1 - PROBA_CLIP]`` for log loss."""

# Metrics that are a mean (or the sqrt of a mean) of per-row contributions,
# and so can be bootstrapped over test rows (see ``per_row_loss``).
ROW_METRICS: tuple[str, ...] = ("test_rmse", "test_mae", "test_log_loss", "test_accuracy")


def _check_task(task: str) -> str:
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(TASKS)}")
    return task


def canonical_metric(metric: str) -> str:
    """``"rmse"`` -> ``"test_rmse"``; names that already carry the prefix pass through."""
    return metric if metric.startswith("test_") else f"test_{metric}"


def metric_names(task: str) -> tuple[str, ...]:
    """The metric names logged for ``task`` (``"regression"`` or ``"classification"``)."""
    return REGRESSION_METRICS if _check_task(task) == "regression" else CLASSIFICATION_METRICS


def primary_metric(task: str) -> str:
    """``test_rmse`` for regression, ``test_log_loss`` for classification (see module doc)."""
    return PRIMARY_METRICS[_check_task(task)]


def higher_is_better(metric: str) -> bool:
    """False for ``test_rmse``, ``test_mae`` and ``test_log_loss`` (and their
    ``val_`` forms); True for the others."""
    if metric.startswith(VALIDATION_PREFIX):
        metric = "test_" + metric.removeprefix(VALIDATION_PREFIX)
    return canonical_metric(metric) not in LOWER_IS_BETTER


def _nan_dict(names: tuple[str, ...]) -> dict[str, float]:
    return dict.fromkeys(names, float("nan"))


def _regression_arrays(y_true: np.ndarray, y_pred: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    t = np.asarray(y_true, dtype=float)
    p = np.asarray(y_pred, dtype=float)
    if t.ndim == 2 and t.shape[1] == 1:
        t = t[:, 0]
    if p.ndim == 2 and p.shape[1] == 1:
        p = p[:, 0]
    if t.ndim != 1 or p.ndim != 1:
        raise ValueError(
            f"regression expects 1-d y_true and y_pred, got shapes {t.shape} and {p.shape}"
        )
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.shape[0]} rows but y_pred has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("cannot evaluate on zero rows")
    return t, p


def _classification_arrays(
    y_true_idx: np.ndarray, proba: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    p = np.asarray(proba, dtype=float)
    if p.ndim != 2 or p.shape[1] < 2:
        raise ValueError(f"classification expects probabilities of shape (n, k>=2), got {p.shape}")
    t = np.asarray(y_true_idx)
    if t.ndim == 2:  # one-hot targets
        if t.shape != p.shape:
            raise ValueError(f"one-hot y_true has shape {t.shape} but proba has {p.shape}")
        t = np.argmax(t, axis=1)
    if t.ndim != 1:
        raise ValueError(f"y_true must be class indices of shape (n,), got {t.shape}")
    if t.shape[0] != p.shape[0]:
        raise ValueError(f"y_true has {t.shape[0]} rows but proba has {p.shape[0]}")
    if t.size == 0:
        raise ValueError("cannot evaluate on zero rows")
    if not np.issubdtype(t.dtype, np.integer):
        if not np.all(np.isfinite(t)) or not np.all(t == np.round(t)):
            raise ValueError("y_true must hold integer class indices")
        t = t.astype(np.int64)
    if t.min() < 0 or t.max() >= p.shape[1]:
        raise ValueError(
            f"class indices must lie in [0, {p.shape[1] - 1}], got {t.min()}..{t.max()}"
        )
    return t, p


def _clipped_proba(p: np.ndarray) -> np.ndarray:
    c = np.clip(p, PROBA_CLIP, 1.0 - PROBA_CLIP)
    return c / c.sum(axis=1, keepdims=True)


def regression_metrics(y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """``test_rmse``, ``test_mae`` and ``test_r2`` (coefficient of determination).

    ``test_r2`` follows scikit-learn on a constant target (zero total variance):
    1.0 for a perfect prediction, else 0.0, so it stays finite.
    """
    t, p = _regression_arrays(y_true, y_pred)
    if not np.all(np.isfinite(p)):
        return _nan_dict(REGRESSION_METRICS)
    err = p - t
    ss_res = float(np.sum(err**2))
    ss_tot = float(np.sum((t - t.mean()) ** 2))
    if ss_tot == 0:  # constant target: scikit-learn's force_finite convention
        ss_tot, ss_res = 1.0, float(ss_res != 0)
    r2 = 1.0 - ss_res / ss_tot
    return {
        "test_rmse": float(np.sqrt(np.mean(err**2))),
        "test_mae": float(np.mean(np.abs(err))),
        "test_r2": float(r2),
    }


def _macro_f1(t: np.ndarray, pred: np.ndarray) -> float:
    """Macro F1 over the classes present in ``t`` or in ``pred``.

    Per class, F1 = 2 TP / (2 TP + FP + FN). A class that occurs in the truth or
    among the predictions has a positive denominator; when it has TP = 0 (no
    correct predictions: either never predicted, or predicted but never true)
    its F1 is 0. A class absent from both (no support, never predicted) has an
    undefined F1 and is left out of the average rather than counted as 0 --
    scikit-learn's ``f1_score(average="macro", zero_division=0)`` with its
    default labels.
    """
    labels = np.union1d(t, pred)
    tp = np.array([np.sum((t == c) & (pred == c)) for c in labels], dtype=float)
    fp = np.array([np.sum((t != c) & (pred == c)) for c in labels], dtype=float)
    fn = np.array([np.sum((t == c) & (pred != c)) for c in labels], dtype=float)
    f1 = 2 * tp / (2 * tp + fp + fn)
    return float(np.mean(f1))


def classification_metrics(y_true_idx: np.ndarray, proba: np.ndarray) -> dict[str, float]:
    """``test_accuracy``, ``test_log_loss`` and ``test_macro_f1``.

    ``y_true_idx`` are class indices ``(n,)`` and ``proba`` the predicted class
    probabilities ``(n, k)``. Log loss is the mean of ``-log p[true class]`` after
    clipping the probabilities to ``[1e-7, 1 - 1e-7]`` and renormalising each row
    (natural log). Macro F1: see ``_macro_f1`` (classes present in the truth or
    the predictions; a class with no correct prediction scores 0).
    """
    t, p = _classification_arrays(y_true_idx, proba)
    if not np.all(np.isfinite(p)):
        return _nan_dict(CLASSIFICATION_METRICS)
    pred = np.argmax(p, axis=1)
    c = _clipped_proba(p)
    return {
        "test_accuracy": float(np.mean(pred == t)),
        "test_log_loss": float(-np.mean(np.log(c[np.arange(t.size), t]))),
        "test_macro_f1": _macro_f1(t, pred),
    }


def evaluate(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """All metrics of ``task``; for classification ``y_true`` are class indices and
    ``y_pred`` class probabilities."""
    if _check_task(task) == "regression":
        return regression_metrics(y_true, y_pred)
    return classification_metrics(y_true, y_pred)


def validation_name(metric: str) -> str:
    """``test_log_loss`` -> ``val_log_loss``: the metric on the validation rows."""
    return VALIDATION_PREFIX + canonical_metric(metric).removeprefix("test_")


def evaluate_validation(task: str, y_true: np.ndarray, y_pred: np.ndarray) -> dict[str, float]:
    """:func:`evaluate` on the validation rows, named ``val_<metric>``."""
    return {validation_name(k): v for k, v in evaluate(task, y_true, y_pred).items()}


def per_row_loss(task: str, y_true: np.ndarray, y_pred: np.ndarray, metric: str) -> np.ndarray:
    """Per-row contributions to ``metric``, for bootstrapping over test rows.

    * ``test_rmse``: squared error (the metric is ``sqrt(mean(rows))``),
    * ``test_mae``: absolute error (``mean(rows)``),
    * ``test_log_loss``: ``-log p[true class]``, clipped as in
      ``classification_metrics`` (``mean(rows)``),
    * ``test_accuracy``: 1.0 where the argmax is the true class, else 0.0
      (``mean(rows)``; higher is better, unlike the other three).

    ``test_r2`` and ``test_macro_f1`` are not means over rows and raise
    ``ValueError``. Non-finite predictions give NaN rows (those rows only).
    """
    metric = canonical_metric(metric)
    task = _check_task(task)
    allowed = [m for m in ROW_METRICS if m in metric_names(task)]
    if metric not in allowed:
        raise ValueError(
            f"no per-row decomposition of {metric!r} for {task}: use one of {', '.join(allowed)}"
        )
    if task == "regression":
        t, p = _regression_arrays(y_true, y_pred)
        err = np.where(np.isfinite(p), p - t, np.nan)
        return err**2 if metric == "test_rmse" else np.abs(err)
    t, p = _classification_arrays(y_true, y_pred)
    bad = ~np.all(np.isfinite(p), axis=1)
    safe = np.where(bad[:, None], 1.0, p)
    if metric == "test_log_loss":
        rows = -np.log(_clipped_proba(safe)[np.arange(t.size), t])
    else:
        rows = (np.argmax(safe, axis=1) == t).astype(float)
    rows[bad] = np.nan
    return rows

"""Reference models: is either network worth training at all?

Two references are fitted on the same training rows and scored on the same test
rows as the variants:

* the **baseline** -- a constant: the training mean of the target (regression) or
  the training class prior as the probabilities of every test row
  (classification). A network that does not beat it has learnt nothing.
* the **linear model** -- scikit-learn on standardised features
  (``StandardScaler`` fitted on the training rows): ``Ridge(alpha=1.0)``
  (regression) or multinomial ``LogisticRegression`` (lbfgs, ``max_iter=1000``,
  classification). A network that does not beat it is not worth its cost.

Each variant is compared with each reference on the test rows exactly as a
challenger is compared with the champion (``stats.compare_on_rows``, the row
bootstrap of ``challenger - champion``; here the variant is the challenger):
``"better"``, ``"tie"`` or ``"worse"``. The variant's model is its seed chosen
on the validation rows (``ComparisonSummary.best``), so the rows that judge it
never chose it. ``"better"`` also needs the variant's seeds on average (each
test row's loss averaged over its finite seeds) to beat the reference: one
lucky seed of a network that does not learn is not a better variant.

Units
-----
``y_train`` and ``y_test_true`` must be in the target's **own units** (e.g.
thousands of dollars for Boston's ``medv``). If the network is trained on a
standardised target, undo the scaling (``y * scale + mean``) before calling
:func:`fit_references`, and compare with the network's predictions in the same
original units; :func:`reference_losses` takes the target's scale to express the
references' losses in the units of the learning curves.

scikit-learn is imported inside the functions that need it (``import sklearn``
costs ~3 s, mostly scipy), so importing this module is cheap; :func:`preload`
pays the import ahead of time. ``References.seconds`` is the fit + score wall
time without the import; ``import_seconds`` is what the import cost in that call
(0.0 once it is loaded).
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from bnpipe import evaluation, stats

VARIANTS: tuple[str, str] = ("plain", "bn")
REFERENCES: tuple[str, str] = ("baseline", "linear")
VERDICTS: tuple[str, str, str] = ("better", "tie", "worse")
VERDICT_KEYS: tuple[str, ...] = tuple(f"{v}_vs_{r}" for r in REFERENCES for v in VARIANTS)
"""``plain_vs_baseline``, ``bn_vs_baseline``, ``plain_vs_linear``, ``bn_vs_linear``."""

RIDGE_ALPHA = 1.0
LOGISTIC_MAX_ITER = 1000

LABELS: dict[str, dict[str, str]] = {
    "regression": {"baseline": "baseline (mean)", "linear": "linear (ridge)"},
    "classification": {"baseline": "baseline (prior)", "linear": "linear (logistic)"},
}
"""Row labels of the references, by task and reference."""
_BASELINE_WORDS = {
    "regression": "predicting the training mean",
    "classification": "predicting the class prior",
}


def label(task: str, reference: str) -> str:
    """Row label of a reference: ``"baseline (mean)"``, ``"linear (logistic)"``, ..."""
    return LABELS[_task(task)][reference]


def _task(task: str) -> str:
    if task not in evaluation.TASKS:
        raise ValueError(f"unknown task {task!r}: expected one of {', '.join(evaluation.TASKS)}")
    return task


@dataclass(frozen=True)
class References:
    """The two references' test predictions and metrics.

    Predictions are shaped as ``evaluation.evaluate`` takes them: ``(n_test,)``
    values (regression) or ``(n_test, k)`` probabilities (classification).
    ``notes`` records anything worth knowing (a solver that did not converge, a
    linear model that fell back to the prior because training had one class).
    """

    task: str
    baseline_metrics: dict[str, float]
    linear_metrics: dict[str, float]
    baseline_pred: np.ndarray
    linear_pred: np.ndarray
    seconds: float
    import_seconds: float = 0.0
    notes: tuple[str, ...] = field(default_factory=tuple)

    def metrics(self, reference: str) -> dict[str, float]:
        """``baseline_metrics`` or ``linear_metrics``."""
        return {"baseline": self.baseline_metrics, "linear": self.linear_metrics}[reference]

    def pred(self, reference: str) -> np.ndarray:
        """``baseline_pred`` or ``linear_pred``."""
        return {"baseline": self.baseline_pred, "linear": self.linear_pred}[reference]

    def label(self, reference: str) -> str:
        return label(self.task, reference)

    def table_metrics(self) -> dict[str, dict[str, float]]:
        """``{"baseline (mean)": {...}, "linear (ridge)": {...}}``: the input of
        ``report.reference_rows``."""
        return {self.label(r): dict(self.metrics(r)) for r in REFERENCES}


def preload() -> None:
    """Import the scikit-learn parts :func:`fit_references` uses (~3 s, once)."""
    import sklearn.linear_model  # noqa: F401
    import sklearn.preprocessing  # noqa: F401


# --------------------------------------------------------------------------- fitting


def _regression_target(y: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(y, dtype=np.float64)
    if v.ndim == 2 and v.shape[1] == 1:
        v = v[:, 0]
    if v.ndim != 1:
        raise ValueError(f"regression {what} must be (n,) or (n, 1) values, got shape {v.shape}")
    return v


def _class_indices(y: np.ndarray, what: str) -> np.ndarray:
    v = np.asarray(y)
    if v.ndim == 2:
        if v.shape[1] == 1:
            v = v[:, 0]
        else:  # one-hot, as Encoded.y_train holds it
            return np.argmax(v, axis=1).astype(np.int64)
    if v.ndim != 1:
        raise ValueError(f"classification {what} must be class indices or one-hot, got {v.shape}")
    if not np.issubdtype(v.dtype, np.integer) and not np.all(v == np.round(v)):
        raise ValueError(f"classification {what} must hold integer class indices")
    return v.astype(np.int64)


def _n_classes(y_train: np.ndarray, t_train: np.ndarray, t_test: np.ndarray, classes) -> int:
    if classes is not None:
        k = len(classes)
    elif np.ndim(y_train) == 2 and np.shape(y_train)[1] > 1:
        k = int(np.shape(y_train)[1])
    else:
        k = int(max(t_train.max(initial=0), t_test.max(initial=0))) + 1
    k = max(k, 2)
    top = max(t_train.max(initial=0), t_test.max(initial=0))
    if min(t_train.min(initial=0), t_test.min(initial=0)) < 0 or top >= k:
        raise ValueError(f"class indices must lie in [0, {k - 1}]")
    return k


def fit_references(
    task: str,
    x_train: np.ndarray,
    y_train: np.ndarray,
    x_test: np.ndarray,
    y_test_true: np.ndarray,
    *,
    classes=None,
) -> References:
    """Fit the baseline and the linear model on the training rows; score both on
    the test rows with ``evaluation.evaluate``.

    ``y_train`` is what ``features.Encoded`` holds: ``(n, 1)`` values
    (regression; ``(n,)`` accepted) or one-hot ``(n, k)`` (classification; class
    indices accepted). ``y_test_true`` is ``Encoded.y_test_true``: values or class
    indices. Regression targets must be in the target's own units (module doc).
    ``classes`` (``Encoded.pre.classes``) fixes ``k`` when the targets are
    indices; a class absent from the training rows gets probability 0 from both
    references (log loss clips it, as for any model). Inputs must be finite (the
    encoded arrays are).
    """
    task = _task(task)
    x_tr = np.asarray(x_train, dtype=np.float64)
    x_te = np.asarray(x_test, dtype=np.float64)
    if x_tr.ndim == 1:
        x_tr = x_tr[:, None]
    if x_te.ndim == 1:
        x_te = x_te[:, None]
    if x_tr.ndim != 2 or x_te.ndim != 2 or x_tr.shape[1] != x_te.shape[1]:
        raise ValueError(f"x_train {x_tr.shape} and x_test {x_te.shape} must be (n, features)")
    if x_tr.shape[0] == 0 or x_te.shape[0] == 0:
        raise ValueError("references need at least one training and one test row")

    t0 = time.perf_counter()
    preload()
    import_seconds = time.perf_counter() - t0
    from sklearn.linear_model import LogisticRegression, Ridge
    from sklearn.preprocessing import StandardScaler

    start = time.perf_counter()
    notes: list[str] = []
    scaler = StandardScaler().fit(x_tr)
    z_tr, z_te = scaler.transform(x_tr), scaler.transform(x_te)
    n_test = x_te.shape[0]

    if task == "regression":
        y_tr = _regression_target(y_train, "y_train")
        t_te = _regression_target(y_test_true, "y_test_true")
        if y_tr.shape[0] != x_tr.shape[0]:
            raise ValueError(f"x_train has {x_tr.shape[0]} rows but y_train has {y_tr.shape[0]}")
        baseline_pred = np.full(n_test, float(np.mean(y_tr)))
        linear_pred = Ridge(alpha=RIDGE_ALPHA).fit(z_tr, y_tr).predict(z_te).astype(np.float64)
        y_true = t_te
    else:
        t_tr = _class_indices(y_train, "y_train")
        t_te = _class_indices(y_test_true, "y_test_true")
        if t_tr.shape[0] != x_tr.shape[0]:
            raise ValueError(f"x_train has {x_tr.shape[0]} rows but y_train has {t_tr.shape[0]}")
        k = _n_classes(y_train, t_tr, t_te, classes)
        prior = np.bincount(t_tr, minlength=k).astype(np.float64) / t_tr.size
        baseline_pred = np.tile(prior, (n_test, 1))
        present = np.unique(t_tr)
        if present.size < 2:
            notes.append("training rows hold one class: the linear model is the prior")
            linear_pred = baseline_pred.copy()
        else:
            from sklearn.exceptions import ConvergenceWarning

            model = LogisticRegression(solver="lbfgs", max_iter=LOGISTIC_MAX_ITER)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", ConvergenceWarning)
                model.fit(z_tr, t_tr)
            if int(np.max(model.n_iter_)) >= LOGISTIC_MAX_ITER:
                notes.append(
                    f"logistic regression did not converge in {LOGISTIC_MAX_ITER} iterations"
                )
            linear_pred = np.zeros((n_test, k))
            linear_pred[:, model.classes_.astype(np.int64)] = model.predict_proba(z_te)
        y_true = t_te

    baseline_metrics = evaluation.evaluate(task, y_true, baseline_pred)
    linear_metrics = evaluation.evaluate(task, y_true, linear_pred)
    seconds = time.perf_counter() - start
    return References(
        task=task,
        baseline_metrics=baseline_metrics,
        linear_metrics=linear_metrics,
        baseline_pred=baseline_pred,
        linear_pred=linear_pred,
        seconds=seconds,
        import_seconds=import_seconds,
        notes=tuple(notes),
    )


# --------------------------------------------------------------------------- verdicts


def _finite(pred) -> bool:
    if pred is None:
        return False
    p = np.asarray(pred, dtype=float)
    return p.size > 0 and bool(np.all(np.isfinite(p)))


def verdict(
    task: str,
    y_true: np.ndarray,
    reference_pred: np.ndarray,
    variant_pred: np.ndarray | None,
    metric: str,
    seed_preds: Sequence[np.ndarray] = (),
) -> str:
    """``"better"``, ``"tie"`` or ``"worse"`` for the variant against a reference.

    The champion rule on the test rows: ``stats.compare_on_rows(task, y_true,
    reference_pred, variant_pred, metric=metric)`` with the reference as the
    champion and the variant as the challenger (same bootstrap settings as the
    champion decision). ``"better"``/``"worse"`` need the 95 % interval to exclude
    0; otherwise ``"tie"``. A variant prediction that is missing or has any
    non-finite value (``evaluation`` scores it NaN) is ``"worse"``. ``metric``
    must be a mean over rows (``evaluation.ROW_METRICS``), as the primary metrics are.

    ``seed_preds``: the predictions of all the variant's seeds. With two or more
    finite ones, ``"better"`` also needs their per-row losses, averaged over the
    seeds, to beat the reference in the same row bootstrap; else it is ``"tie"``.
    """
    if not _finite(variant_pred):
        return "worse"
    iv = stats.compare_on_rows(task, y_true, reference_pred, variant_pred, metric=metric)
    found = {"challenger": "better", "champion": "worse"}.get(iv.better(), "tie")
    seeds = [p for p in seed_preds if _finite(p)]
    if found == "better" and len(seeds) > 1:
        rows = np.mean([evaluation.per_row_loss(task, y_true, p, metric) for p in seeds], axis=0)
        ref_rows = evaluation.per_row_loss(task, y_true, reference_pred, metric)
        if stats.row_bootstrap(ref_rows, rows, metric=metric).better() != "challenger":
            return "tie"
    return found


def verdicts(
    task: str,
    y_true: np.ndarray,
    refs: References,
    best_pred_by_variant: Mapping[str, np.ndarray | None],
    metric: str,
    seed_preds_by_variant: Mapping[str, Sequence[np.ndarray]] | None = None,
) -> dict[str, str]:
    """The four verdicts ``plain_vs_baseline``, ``bn_vs_baseline``,
    ``plain_vs_linear``, ``bn_vs_linear`` (:data:`VERDICT_KEYS`). A variant
    missing from ``best_pred_by_variant`` counts as having no finite prediction;
    ``seed_preds_by_variant``: every seed's predictions (:func:`verdict`)."""
    out: dict[str, str] = {}
    seeds = seed_preds_by_variant or {}
    for ref in REFERENCES:
        for variant in VARIANTS:
            out[f"{variant}_vs_{ref}"] = verdict(
                task, y_true, refs.pred(ref), best_pred_by_variant.get(variant), metric,
                seeds.get(variant, ()),
            )  # fmt: skip
    return {k: out[k] for k in VERDICT_KEYS}


def assess(
    dataset: str, data, results: Sequence, summary
) -> tuple[References, dict[str, str], str | None]:
    """Both references fitted on a comparison's encoded rows (``features.Encoded``),
    the verdicts of each variant's seed chosen on the validation rows, and of its
    seeds on average, against them on the primary metric (``summary``: its
    ``comparison.ComparisonSummary``; ``results``: the seeds' ``SeedResult`` s)
    and the headline when the networks are not worth it."""
    from bnpipe.comparison import by_variant

    task = summary.task
    refs = fit_references(
        task, data.x_train, data.y_train_true, data.x_test, data.y_test_true,
        classes=data.pre.classes,
    )  # fmt: skip
    groups = by_variant(results)
    best = {v: summary.best(rs) for v, rs in groups.items()}
    found = verdicts(
        task,
        data.y_test_true,
        refs,
        {v: r.predictions for v, r in best.items() if r is not None},
        summary.primary,
        {v: [r.predictions for r in rs if not r.diverged] for v, rs in groups.items()},
    )
    return refs, found, headline(dataset, task, refs, found, summary.primary)


# --------------------------------------------------------------------------- summaries


def parent_metrics(refs: References) -> dict[str, float]:
    """``baseline_<metric>`` and ``linear_<metric>`` for every finite test metric,
    e.g. ``baseline_test_rmse``, ``linear_test_log_loss`` (MLflow names)."""
    out: dict[str, float] = {}
    for ref in REFERENCES:
        for m, v in refs.metrics(ref).items():
            if v is not None and math.isfinite(float(v)):
                out[f"{ref}_{m}"] = float(v)
    return out


def reference_losses(refs: References, *, target_scale: float = 1.0) -> dict[str, float]:
    """The references' test loss in the units of the learning curves, keyed by a
    legend label (the ``reference_losses`` of ``report.plot_learning_curves``).

    Regression: MSE = ``test_rmse ** 2`` divided by ``target_scale ** 2`` (pass the
    target's scale when the network is trained on a standardised target; 1.0
    otherwise). Classification: the log loss (categorical cross-entropy).
    Non-finite losses are left out.
    """
    out: dict[str, float] = {}
    for ref in REFERENCES:
        m = refs.metrics(ref)
        if refs.task == "regression":
            rmse = m.get("test_rmse", float("nan"))
            loss, what = rmse**2 / float(target_scale) ** 2, "test MSE"
        else:
            loss, what = m.get("test_log_loss", float("nan")), "test log loss"
        if math.isfinite(loss):
            out[f"{refs.label(ref)}: {what}"] = float(loss)
    return out


def prediction_series(refs: References) -> dict[str, np.ndarray]:
    """Regression: ``{"baseline (mean)": ..., "linear (ridge)": ...}`` test
    predictions, the ``references`` of ``report.plot_predicted_vs_actual`` (the
    constant baseline is drawn as a horizontal line). Empty for classification."""
    if refs.task != "regression":
        return {}
    return {refs.label(r): np.asarray(refs.pred(r), dtype=float) for r in REFERENCES}


def _fmt(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "nan"


def headline(
    dataset: str, task: str, refs: References, verdicts: Mapping[str, str], metric: str
) -> str | None:
    """One plain line when the networks are not worth it, else ``None``.

    * no variant beats the baseline:
      ``"graduate: no variant beats predicting the class prior (test_log_loss 0.623)"``
      (regression: "predicting the training mean");
    * a variant beats the baseline but none beats the linear model:
      ``"boston: the linear model (test_rmse 4.9) is as good as or better than every variant"``.
    """
    task = _task(task)
    metric = evaluation.canonical_metric(metric)

    def beats(ref: str) -> bool:
        return any(verdicts.get(f"{v}_vs_{ref}") == "better" for v in VARIANTS)

    if not beats("baseline"):
        value = _fmt(float(refs.baseline_metrics.get(metric, float("nan"))))
        return f"{dataset}: no variant beats {_BASELINE_WORDS[task]} ({metric} {value})"
    if not beats("linear"):
        value = _fmt(float(refs.linear_metrics.get(metric, float("nan"))))
        return (
            f"{dataset}: the linear model ({metric} {value}) is as good as or better "
            "than every variant"
        )
    return None


def report_section(
    refs: References,
    verdicts: Mapping[str, str],
    headline: str | None,
    metric: str,
) -> dict[str, object]:
    """The ``references`` mapping ``report.render_html_report`` takes."""
    return {
        "task": refs.task,
        "metric": evaluation.canonical_metric(metric),
        "metrics": refs.table_metrics(),
        "verdicts": dict(verdicts),
        "headline": headline,
        "seconds": refs.seconds,
        "notes": list(refs.notes),
    }

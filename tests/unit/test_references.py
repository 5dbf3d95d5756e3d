"""bnpipe.references: the mean/prior baseline and the linear model, and the verdicts
of each variant against them (the champion rule on the test rows)."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest

from bnpipe import evaluation, references


def _regression(rng, n=300, p=5, noise=0.1, linear=True):
    x = rng.normal(size=(n, p)).astype(np.float32)
    if linear:
        y = x @ rng.normal(size=p) * 3.0 + 10.0 + rng.normal(0, noise, n)
    else:  # independent of the features
        y = rng.normal(10.0, 2.0, n)
    y = y.astype(np.float32)
    n_tr = int(0.7 * n)
    # as Encoded holds them: y_train (n, 1), y_test_true (n,)
    return x[:n_tr], y[:n_tr, None], x[n_tr:], y[n_tr:]


def _classification(rng, n=300, p=4, k=3, learnable=True):
    x = rng.normal(size=(n, p)).astype(np.float32)
    if learnable:
        t = np.argmax(x[:, :k] * 4.0 + rng.normal(0, 0.3, (n, k)), axis=1)
    else:
        t = rng.choice(k, size=n, p=[0.6, 0.3, 0.1][:k])
    onehot = np.eye(k, dtype=np.float32)[t]
    n_tr = int(0.7 * n)
    return x[:n_tr], onehot[:n_tr], x[n_tr:], t[n_tr:]


# --------------------------------------------------------------------------- baselines


def test_regression_baseline_is_the_training_mean():
    rng = np.random.default_rng(0)
    x_tr, y_tr, x_te, y_te = _regression(rng)
    refs = references.fit_references("regression", x_tr, y_tr, x_te, y_te)
    mean = float(np.mean(y_tr.astype(np.float64)))
    expected = math.sqrt(float(np.mean((y_te.astype(np.float64) - mean) ** 2)))
    assert refs.baseline_metrics["test_rmse"] == pytest.approx(expected, rel=1e-12)
    assert refs.baseline_pred.shape == (x_te.shape[0],)
    assert np.all(refs.baseline_pred == pytest.approx(mean))
    assert refs.linear_pred.shape == (x_te.shape[0],)
    assert set(refs.baseline_metrics) == set(evaluation.REGRESSION_METRICS)
    assert set(refs.linear_metrics) == set(evaluation.REGRESSION_METRICS)


def test_classification_baseline_is_the_training_prior():
    rng = np.random.default_rng(1)
    x_tr, y_tr, x_te, t_te = _classification(rng, learnable=False)
    refs = references.fit_references(
        "classification", x_tr, y_tr, x_te, t_te, classes=["a", "b", "c"]
    )
    prior = y_tr.astype(np.float64).sum(axis=0) / y_tr.shape[0]
    expected = -float(np.mean(np.log(prior[t_te])))
    assert refs.baseline_metrics["test_log_loss"] == pytest.approx(expected, rel=1e-9)
    assert refs.baseline_pred.shape == (x_te.shape[0], 3)
    np.testing.assert_allclose(refs.baseline_pred, np.tile(prior, (x_te.shape[0], 1)))
    assert refs.linear_pred.shape == (x_te.shape[0], 3)
    np.testing.assert_allclose(refs.linear_pred.sum(axis=1), 1.0)
    assert set(refs.linear_metrics) == set(evaluation.CLASSIFICATION_METRICS)


def test_classification_accepts_indices_as_well_as_one_hot():
    rng = np.random.default_rng(2)
    x_tr, y_tr, x_te, t_te = _classification(rng)
    a = references.fit_references("classification", x_tr, y_tr, x_te, t_te)
    b = references.fit_references(
        "classification", x_tr, y_tr.argmax(axis=1), x_te, np.eye(3)[t_te], classes=list("abc")
    )
    np.testing.assert_allclose(a.linear_pred, b.linear_pred)
    assert a.linear_metrics == b.linear_metrics


# --------------------------------------------------------------------------- verdicts


def test_target_independent_of_features_noise_variants_do_not_beat_baseline():
    rng = np.random.default_rng(3)
    x_tr, y_tr, x_te, y_te = _regression(rng, n=400, linear=False)
    refs = references.fit_references("regression", x_tr, y_tr, x_te, y_te)
    sd = float(np.std(y_tr))
    preds = {
        "plain": float(np.mean(y_tr)) + rng.normal(0, sd, y_te.size),
        "bn": float(np.mean(y_tr)) + rng.normal(0, 0.3 * sd, y_te.size),
    }
    v = references.verdicts("regression", y_te, refs, preds, "test_rmse")
    assert list(v) == list(references.VERDICT_KEYS)
    assert v["plain_vs_baseline"] in ("tie", "worse")
    assert v["bn_vs_baseline"] in ("tie", "worse")
    assert v["plain_vs_baseline"] == "worse"  # noise as large as the target's spread
    # nothing to learn: the linear model is no better than the mean either
    assert refs.linear_metrics["test_r2"] < 0.1

    # the same for classification: a label independent of the features
    x_tr, y_tr, x_te, t_te = _classification(rng, n=400, learnable=False)
    refs = references.fit_references("classification", x_tr, y_tr, x_te, t_te)
    noise = {name: rng.dirichlet(np.ones(3), size=t_te.size) for name in ("plain", "bn")}
    v = references.verdicts("classification", t_te, refs, noise, "test_log_loss")
    assert v["plain_vs_baseline"] in ("tie", "worse")
    assert v["bn_vs_baseline"] in ("tie", "worse")


def test_learnable_linear_target_near_perfect_variant_is_better():
    rng = np.random.default_rng(4)
    x_tr, y_tr, x_te, y_te = _regression(rng, n=400, noise=0.5)
    refs = references.fit_references("regression", x_tr, y_tr, x_te, y_te)
    assert refs.linear_metrics["test_r2"] > 0.95
    near_perfect = y_te + rng.normal(0, 0.05, y_te.size)
    assert (
        references.verdict("regression", y_te, refs.baseline_pred, near_perfect, "test_rmse")
        == "better"
    )
    assert (
        references.verdict("regression", y_te, refs.linear_pred, near_perfect, "test_rmse")
        == "better"
    )


def test_worse_variant_is_worse():
    rng = np.random.default_rng(5)
    x_tr, y_tr, x_te, y_te = _regression(rng, n=400)
    refs = references.fit_references("regression", x_tr, y_tr, x_te, y_te)
    bad = y_te + rng.normal(0, 3.0 * float(np.std(y_te)), y_te.size)
    v = references.verdicts(
        "regression", y_te, refs, {"plain": bad, "bn": refs.linear_pred}, "test_rmse"
    )
    assert v["plain_vs_baseline"] == "worse"
    assert v["plain_vs_linear"] == "worse"
    assert v["bn_vs_baseline"] == "better"
    assert v["bn_vs_linear"] == "tie"  # identical predictions: no difference

    x_tr, y_tr, x_te, t_te = _classification(rng, n=400)
    refs = references.fit_references("classification", x_tr, y_tr, x_te, t_te)
    confident_wrong = np.eye(3)[(t_te + 1) % 3] * 0.9 + 0.1 / 3
    assert (
        references.verdict(
            "classification", t_te, refs.baseline_pred, confident_wrong, "test_log_loss"
        )
        == "worse"
    )


def test_verdict_for_non_finite_or_missing_variant_is_worse():
    rng = np.random.default_rng(6)
    x_tr, y_tr, x_te, y_te = _regression(rng)
    refs = references.fit_references("regression", x_tr, y_tr, x_te, y_te)
    diverged = np.full(y_te.size, np.nan)
    partly = y_te.astype(float).copy()
    partly[0] = np.inf
    v = references.verdicts("regression", y_te, refs, {"plain": diverged, "bn": partly}, "rmse")
    assert set(v.values()) == {"worse"}
    v = references.verdicts("regression", y_te, refs, {"bn": y_te}, "test_rmse")
    assert v["plain_vs_baseline"] == v["plain_vs_linear"] == "worse"
    assert v["bn_vs_baseline"] == "better"


# --------------------------------------------------------------------------- edge cases


def test_constant_regression_target():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(60, 3))
    y = np.full(60, 4.5, dtype=np.float32)
    refs = references.fit_references("regression", x[:40], y[:40, None], x[40:], y[40:])
    assert refs.baseline_metrics["test_rmse"] == pytest.approx(0.0, abs=1e-6)
    assert refs.linear_metrics["test_rmse"] == pytest.approx(0.0, abs=1e-5)
    assert all(math.isfinite(v) for v in refs.linear_metrics.values())


def test_class_missing_from_training_rows():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(90, 2))
    t_tr = np.where(x[:60, 0] > 0, 0, 1)  # class 2 never trained on
    t_te = np.array([0, 1, 2] * 10)
    refs = references.fit_references(
        "classification", x[:60], np.eye(3)[t_tr], x[60:], t_te, classes=["a", "b", "c"]
    )
    assert refs.baseline_pred[0, 2] == 0.0 and refs.linear_pred[0, 2] == 0.0
    for m in (refs.baseline_metrics, refs.linear_metrics):
        # clipped as evaluation does: finite, and each class-2 row costs at most -log(1e-7)
        assert math.isfinite(m["test_log_loss"])
        assert m["test_log_loss"] < -math.log(evaluation.PROBA_CLIP)


def test_one_class_in_training_falls_back_to_prior():
    x = np.random.default_rng(9).normal(size=(30, 2))
    refs = references.fit_references(
        "classification", x[:20], np.zeros(20, dtype=int), x[20:], np.zeros(10, dtype=int),
        classes=["a", "b"],
    )  # fmt: skip
    np.testing.assert_allclose(refs.linear_pred, refs.baseline_pred)
    assert refs.linear_pred.shape == (10, 2)
    assert any("one class" in n for n in refs.notes)


def test_one_feature():
    rng = np.random.default_rng(10)
    x = rng.normal(size=200)
    y = 2.0 * x + rng.normal(0, 0.1, 200)
    refs = references.fit_references("regression", x[:150], y[:150], x[150:], y[150:])
    assert refs.linear_metrics["test_r2"] > 0.99
    t = (x + rng.normal(0, 0.2, 200) > 0).astype(int)
    refs = references.fit_references("classification", x[:150], t[:150], x[150:], t[150:])
    assert refs.linear_metrics["test_accuracy"] > 0.8


def test_shape_errors_raise():
    x = np.zeros((10, 3))
    with pytest.raises(ValueError, match="rows"):
        references.fit_references("regression", x, np.zeros(9), x, np.zeros(10))
    with pytest.raises(ValueError, match="must be"):
        references.fit_references("regression", x, np.zeros(10), np.zeros((10, 2)), np.zeros(10))
    with pytest.raises(ValueError, match="unknown task"):
        references.fit_references("ranking", x, np.zeros(10), x, np.zeros(10))


def test_fit_is_fast_on_boston_sized_data():
    rng = np.random.default_rng(11)
    x = rng.normal(size=(500, 13)).astype(np.float32)
    y = (x @ rng.normal(size=13) + rng.normal(0, 1, 500)).astype(np.float32)
    references.preload()  # the ~3 s scikit-learn import is not the fit
    start = time.perf_counter()
    refs = references.fit_references("regression", x[:400], y[:400, None], x[400:], y[400:])
    wall = time.perf_counter() - start
    t = np.argmax(x[:, :3], axis=1)
    start = time.perf_counter()
    refs_c = references.fit_references(
        "classification", x[:400], np.eye(3)[t[:400]], x[400:], t[400:]
    )
    wall_c = time.perf_counter() - start
    print(f"fit_references 500x13: regression {wall:.3f} s, classification {wall_c:.3f} s")
    assert refs.seconds <= wall < 2.0
    assert refs_c.seconds <= wall_c < 2.0


# --------------------------------------------------------------------------- summaries


def _refs(task="regression", **over):
    names = evaluation.metric_names(task)
    kw = dict(
        task=task,
        baseline_metrics=dict(zip(names, (7.94, 5.44, float("nan")), strict=True)),
        linear_metrics=dict(zip(names, (4.9, 3.1, 0.71), strict=True)),
        baseline_pred=np.zeros(3),
        linear_pred=np.zeros(3),
        seconds=0.01,
    )
    if task == "classification":
        kw["baseline_metrics"] = dict(zip(names, (0.64, 0.623, 0.39), strict=True))
        kw["linear_metrics"] = dict(zip(names, (0.8, 0.45, 0.7), strict=True))
    kw.update(over)
    return references.References(**kw)


def test_parent_metrics_names_and_skip_nan():
    pm = references.parent_metrics(_refs())
    assert pm == {
        "baseline_test_rmse": 7.94,
        "baseline_test_mae": 5.44,
        "linear_test_rmse": 4.9,
        "linear_test_mae": 3.1,
        "linear_test_r2": 0.71,
    }
    assert "linear_test_log_loss" in references.parent_metrics(_refs("classification"))


def test_reference_losses_are_in_loss_units():
    losses = references.reference_losses(_refs())
    assert losses == {
        "baseline (mean): test MSE": pytest.approx(7.94**2),
        "linear (ridge): test MSE": pytest.approx(4.9**2),
    }
    scaled = references.reference_losses(_refs(), target_scale=2.0)
    assert list(scaled.values()) == pytest.approx([7.94**2 / 4, 4.9**2 / 4])
    assert references.reference_losses(_refs("classification")) == {
        "baseline (prior): test log loss": 0.623,
        "linear (logistic): test log loss": 0.45,
    }
    nan = _refs(linear_metrics={"test_rmse": float("nan")})
    assert list(references.reference_losses(nan)) == ["baseline (mean): test MSE"]


def test_labels_and_series():
    r = _refs()
    assert r.table_metrics() == {
        "baseline (mean)": r.baseline_metrics,
        "linear (ridge)": r.linear_metrics,
    }
    assert list(references.prediction_series(r)) == ["baseline (mean)", "linear (ridge)"]
    assert references.prediction_series(_refs("classification")) == {}
    assert references.label("classification", "linear") == "linear (logistic)"


def test_headlines():
    none_beat = dict.fromkeys(references.VERDICT_KEYS, "tie")
    assert (
        references.headline(
            "graduate", "classification", _refs("classification"), none_beat, "test_log_loss"
        )
        == "graduate: no variant beats predicting the class prior (test_log_loss 0.623)"
    )
    assert (
        references.headline("flat", "regression", _refs(), none_beat, "rmse")
        == "flat: no variant beats predicting the training mean (test_rmse 7.94)"
    )
    beats_baseline = {**none_beat, "bn_vs_baseline": "better", "plain_vs_linear": "worse"}
    assert (
        references.headline("boston", "regression", _refs(), beats_baseline, "test_rmse")
        == "boston: the linear model (test_rmse 4.9) is as good as or better than every variant"
    )
    beats_both = {**beats_baseline, "plain_vs_baseline": "better", "plain_vs_linear": "better"}
    assert references.headline("boston", "regression", _refs(), beats_both, "test_rmse") is None


def test_report_section_mapping():
    r = _refs()
    v = dict.fromkeys(references.VERDICT_KEYS, "better")
    sec = references.report_section(r, v, None, "rmse")
    assert sec["metric"] == "test_rmse" and sec["headline"] is None
    assert sec["metrics"] == r.table_metrics() and sec["verdicts"] == v


def test_import_does_not_load_sklearn():
    code = (
        "import sys, bnpipe.references\n"
        "print(sorted({'sklearn', 'scipy', 'matplotlib'} & {m.split('.')[0] for m in sys.modules}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_assess_judges_each_variants_best_seed(data_mirror):
    from bnpipe.comparison import summarize_results
    from tests.comparisons import iris, seed_results

    spec, _, data = iris(data_mirror)
    results = seed_results(data, seeds=2, bn_skill=0.999)
    summary = summarize_results(spec.name, spec.task, results, n_boot=200)
    refs, verdicts, headline = references.assess("iris", data, results, summary)
    assert refs.task == "classification" and set(verdicts) == set(references.VERDICT_KEYS)
    assert verdicts["bn_vs_baseline"] == "better"
    assert headline == references.headline("iris", spec.task, refs, verdicts, summary.primary)
    # a variant with no finite seed has no prediction: worse than either reference
    for r in results:
        if r.variant == "plain":
            r.metrics = {k: float("nan") for k in r.metrics}
    _, verdicts, _ = references.assess("iris", data, results, summary)
    assert verdicts["plain_vs_baseline"] == verdicts["plain_vs_linear"] == "worse"


def test_one_lucky_seed_is_not_a_variant_better_than_the_reference():
    rng = np.random.default_rng(5)
    y = rng.normal(20.0, 5.0, 60)
    mean = np.full_like(y, y.mean())  # the baseline
    lucky = y + rng.normal(0, 1.0, y.size)  # this seed learnt: far better than the mean
    lost = y.mean() + rng.normal(0, 12.0, y.size)  # this one did not: far worse
    good = y + rng.normal(0, 1.5, y.size)

    def judge(*seeds):
        return references.verdict("regression", y, mean, lucky, "test_rmse", seed_preds=seeds)

    assert judge() == "better"  # the chosen seed alone
    assert judge(lucky, good) == "better"  # and the seeds on average
    assert judge(lucky, lost) == "tie"  # the chosen seed beats it; the variant does not
    assert judge(lucky, np.full_like(y, np.nan)) == "better"  # a diverged seed is left out

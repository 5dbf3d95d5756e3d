"""bnpipe.evaluation: metrics against hand-computed values and scikit-learn."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bnpipe import evaluation as ev


def test_metric_names_and_directions():
    assert ev.metric_names("regression") == ("test_rmse", "test_mae", "test_r2")
    assert ev.metric_names("classification") == ("test_accuracy", "test_log_loss", "test_macro_f1")
    assert ev.primary_metric("regression") == "test_rmse"
    assert ev.primary_metric("classification") == "test_log_loss"
    for m in ("test_rmse", "test_mae", "test_log_loss", "rmse"):
        assert not ev.higher_is_better(m)
    for m in ("test_r2", "test_accuracy", "test_macro_f1"):
        assert ev.higher_is_better(m)
    with pytest.raises(ValueError, match="unknown task"):
        ev.metric_names("ranking")


def test_regression_hand_computed():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    p = np.array([2.0, 2.0, 2.0, 6.0])  # errors 1, 0, -1, 2
    m = ev.regression_metrics(y, p)
    assert m["test_rmse"] == pytest.approx(math.sqrt((1 + 0 + 1 + 4) / 4))
    assert m["test_mae"] == pytest.approx((1 + 0 + 1 + 2) / 4)
    assert m["test_r2"] == pytest.approx(1 - 6 / 5)  # ss_tot = 2.25+0.25+0.25+2.25
    # (n, 1) columns as Keras returns them
    assert ev.regression_metrics(y[:, None], p[:, None]) == m


# Reference values below were computed with scikit-learn 1.9.1 on the same arrays
# (mean_squared_error, mean_absolute_error, r2_score, accuracy_score, log_loss,
# f1_score(average="macro")); hard-coded so the unit tests need neither
# scikit-learn nor its ~5 s import.


def test_regression_matches_sklearn():
    rng = np.random.default_rng(0)
    y = rng.normal(20, 8, 60)
    p = y + rng.normal(0, 3, 60)
    m = ev.evaluate("regression", y, p)
    assert m["test_rmse"] == pytest.approx(3.038103373579681, rel=1e-12)
    assert m["test_mae"] == pytest.approx(2.553418936516809, rel=1e-12)
    assert m["test_r2"] == pytest.approx(0.8209395266007311, rel=1e-12)


def test_classification_hand_computed():
    y = np.array([0, 1, 2, 2])
    proba = np.array(
        [
            [0.8, 0.1, 0.1],  # right
            [0.3, 0.6, 0.1],  # right
            [0.2, 0.5, 0.3],  # wrong: predicts 1
            [0.1, 0.1, 0.8],  # right
        ]
    )
    m = ev.classification_metrics(y, proba)
    assert m["test_accuracy"] == pytest.approx(0.75)
    assert m["test_log_loss"] == pytest.approx(-np.mean(np.log([0.8, 0.6, 0.3, 0.8])))
    # class 0: tp1 fp0 fn0 -> 1; class 1: tp1 fp1 fn0 -> 2/3; class 2: tp1 fp0 fn1 -> 2/3
    assert m["test_macro_f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)
    # one-hot targets are accepted
    assert ev.classification_metrics(np.eye(3)[y], proba) == m


def test_classification_matches_sklearn():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 3, 40)
    logits = rng.normal(size=(40, 3)) + 2.0 * np.eye(3)[y]
    proba = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    m = ev.evaluate("classification", y, proba)
    assert m["test_accuracy"] == pytest.approx(0.85)
    assert m["test_log_loss"] == pytest.approx(0.4886869202360957, rel=1e-9)
    assert m["test_macro_f1"] == pytest.approx(0.8512466843501326, rel=1e-12)


def test_macro_f1_zero_division():
    # class 2 is never predicted (F1 0); class 3 exists as a column but has neither
    # support nor predictions and is left out of the average, as scikit-learn's
    # f1_score(average="macro", zero_division=0) does with its default labels.
    y = np.array([0, 0, 1, 2])
    pred = np.array([0, 1, 1, 1])
    proba = np.eye(4)[pred] * 0.9 + 0.025
    m = ev.classification_metrics(y, proba)
    # class 0: tp1 fp0 fn1 -> 2/3; class 1: tp1 fp2 fn0 -> 1/2; class 2: tp0 -> 0
    assert m["test_macro_f1"] == pytest.approx((2 / 3 + 1 / 2 + 0) / 3)


def test_log_loss_clips_confident_mistakes():
    y = np.array([0, 1])
    proba = np.array([[1.0, 0.0], [1.0, 0.0]])  # second row: p(true) = 0
    m = ev.classification_metrics(y, proba)
    assert math.isfinite(m["test_log_loss"])
    assert m["test_log_loss"] == pytest.approx(-0.5 * (np.log(1 - 1e-7) + np.log(1e-7)), rel=1e-6)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_predictions_give_nan_metrics(bad):
    reg = ev.evaluate("regression", np.array([1.0, 2.0, 3.0]), np.array([1.0, bad, 3.0]))
    assert set(reg) == set(ev.REGRESSION_METRICS)
    assert all(math.isnan(v) for v in reg.values())
    proba = np.array([[0.9, 0.1], [bad, 0.5]])
    cls = ev.evaluate("classification", np.array([0, 1]), proba)
    assert set(cls) == set(ev.CLASSIFICATION_METRICS)
    assert all(math.isnan(v) for v in cls.values())


def test_shape_errors_raise():
    with pytest.raises(ValueError, match="rows"):
        ev.regression_metrics(np.zeros(3), np.zeros(4))
    with pytest.raises(ValueError, match="class indices"):
        ev.classification_metrics(np.array([0, 3]), np.full((2, 3), 1 / 3))
    with pytest.raises(ValueError, match="zero rows"):
        ev.regression_metrics(np.zeros(0), np.zeros(0))


def test_per_row_loss_reproduces_the_metrics():
    rng = np.random.default_rng(2)
    y = rng.normal(size=30)
    p = y + rng.normal(size=30)
    m = ev.regression_metrics(y, p)
    assert math.sqrt(ev.per_row_loss("regression", y, p, "test_rmse").mean()) == pytest.approx(
        m["test_rmse"]
    )
    assert ev.per_row_loss("regression", y, p, "mae").mean() == pytest.approx(m["test_mae"])

    yc = rng.integers(0, 3, 30)
    proba = rng.dirichlet(np.ones(3), 30)
    mc = ev.classification_metrics(yc, proba)
    for name in ("test_log_loss", "test_accuracy"):
        rows = ev.per_row_loss("classification", yc, proba, name)
        assert rows.shape == (30,)
        assert rows.mean() == pytest.approx(mc[name])

    with pytest.raises(ValueError, match="no per-row"):
        ev.per_row_loss("regression", y, p, "test_r2")
    with pytest.raises(ValueError, match="no per-row"):
        ev.per_row_loss("regression", y, p, "test_log_loss")


def test_per_row_loss_marks_only_bad_rows():
    rows = ev.per_row_loss("regression", np.zeros(3), np.array([1.0, np.inf, 2.0]), "test_rmse")
    np.testing.assert_array_equal(np.isnan(rows), [False, True, False])
    proba = np.array([[0.9, 0.1], [np.nan, np.nan]])
    rows = ev.per_row_loss("classification", np.array([0, 1]), proba, "test_accuracy")
    np.testing.assert_array_equal(np.isnan(rows), [False, True])

"""The champion rule's decision, on constructed predictions (no MLflow store)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bnpipe import registry

RNG = np.random.default_rng(0)
Y = RNG.normal(20, 5, 200)


def test_the_first_version_is_always_promoted():
    promote, reason, score, champ, interval = registry.decide(
        task="regression", metric="test_rmse", y_true=Y, challenger_pred=Y + 3, champion_pred=None
    )
    assert promote and "first version" in reason
    assert abs(score - 3.0) < 1e-9 and champ is None and interval == {}


def test_a_clearly_better_challenger_is_promoted_and_a_worse_one_is_not():
    good, bad = Y + RNG.normal(0, 1, Y.size), Y + RNG.normal(0, 4, Y.size)
    promote, reason, *_, interval = registry.decide(
        task="regression", metric="test_rmse", y_true=Y, challenger_pred=good, champion_pred=bad
    )
    assert promote and interval["ci_high"] < 0 and "better beyond zero" in reason
    promote, reason, *_ = registry.decide(
        task="regression", metric="test_rmse", y_true=Y, challenger_pred=bad, champion_pred=good
    )
    assert not promote and "not better" in reason


def test_an_equal_challenger_does_not_replace_the_champion():
    pred = Y + RNG.normal(0, 2, Y.size)
    promote, *_ = registry.decide(
        task="regression",
        metric="test_rmse",
        y_true=Y,
        challenger_pred=pred,
        champion_pred=pred.copy(),
    )
    assert not promote


def test_a_non_finite_challenger_is_never_promoted():
    promote, reason, *_ = registry.decide(
        task="regression",
        metric="test_rmse",
        y_true=Y,
        challenger_pred=np.full(Y.size, np.nan),
        champion_pred=None,
    )
    assert not promote and "not finite" in reason


def test_a_champion_that_cannot_score_todays_rows_is_beaten():
    promote, reason, *_ = registry.decide(
        task="regression",
        metric="test_rmse",
        y_true=Y,
        challenger_pred=Y,
        champion_pred=None,
        champion_error="missing column 'rad'",
    )
    assert promote and "cannot score" in reason and "rad" in reason


def test_conform_casts_integers_to_a_double_signature_only():
    from mlflow.types import ColSpec, Schema

    rows = pd.DataFrame({"rad": [1, 2], "tax": [296, 242], "name": ["a", "b"]})
    out = registry.conform(
        rows, Schema([ColSpec("double", "rad"), ColSpec("long", "tax"), ColSpec("string", "name")])
    )
    assert out["rad"].dtype == np.float64 and out["tax"].dtype == np.int64
    assert rows["rad"].dtype == np.int64  # the input is not modified
    assert registry.conform(rows, None) is rows


def test_only_a_missing_model_or_alias_means_no_champion(tmp_path):
    import pytest
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    client = MlflowClient(f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert registry.current_champion(client, "bnpipe-nothing") is None  # no such model
    client.create_registered_model("bnpipe-empty")
    assert registry.current_champion(client, "bnpipe-empty") is None  # no such alias

    class Failing:  # a store that fails for another reason: not "no champion"
        def get_model_version_by_alias(self, name, alias):
            raise MlflowException("the database went away", error_code="INTERNAL_ERROR")

    with pytest.raises(MlflowException, match="went away"):
        registry.current_champion(Failing(), "bnpipe-iris")

"""The champion rule's decision, on constructed predictions; its steps into a
registry of a SQLite store of the test's own."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnpipe import registry
from bnpipe.comparison import SeedResult

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


# --------------------------------------------------------------------------- the champion rule, step by step


def _champion(version="3", **tags):
    """A model version as the registry returns it: a version and its tags."""
    from types import SimpleNamespace

    return SimpleNamespace(version=version, tags=tags)


def _holds(**kw):
    args = {
        "promote": True, "champion": None, "champion_score": None, "metric": "test_rmse",
        "variant": "bn",
    }  # fmt: skip
    return registry.hold_reasons(**(args | kw))


def test_a_first_version_is_held_only_when_its_variant_does_not_beat_the_baseline():
    from bnpipe.gate import DriftCheck

    unknown = DriftCheck(champion_version=None, reference=None)
    assert _holds(drift=unknown) == []  # no champion: nothing to drift from
    assert _holds(verdicts={"bn_vs_baseline": "better"}) == []
    assert _holds(verdicts={"bn_vs_baseline": "worse", "plain_vs_baseline": "better"}) == [
        "bn is not better than the baseline on test_rmse"
    ]
    nobody = {"bn_vs_baseline": "tie", "plain_vs_baseline": "worse"}
    assert _holds(verdicts=nobody, headline="neither beats the mean") == ["neither beats the mean"]
    assert _holds(promote=False, verdicts=nobody) == []  # kept anyway: nothing to hold


def test_a_champion_without_a_drift_reference_or_off_its_record_holds_the_promotion():
    from bnpipe.gate import DriftCheck

    champion = _champion(score_ci_low="1.0", score_ci_high="2.0")
    no_reference = DriftCheck(champion_version="3", reference=None)
    holds = _holds(champion=champion, champion_score=5.0, drift=no_reference)
    assert len(holds) == 2
    assert holds[0].startswith("no drift reference: champion v3")
    assert holds[1].startswith("champion v3 scores test_rmse=5 on today's test rows")
    assert _holds(champion=champion, champion_score=1.5) == []  # on its record


def _decision(**kw) -> registry.Decision:
    args = {
        "model_name": "bnpipe-x", "promoted": True, "reason": "first version: no champion yet",
        "metric": "test_rmse", "challenger_run_id": "r1", "challenger_variant": "bn",
        "challenger_score": 1.0, "version": "2", "previous_champion": "1",
    }  # fmt: skip
    return registry.Decision(**(args | kw))


def test_a_decision_tags_the_parent_run_and_says_its_outcome_in_one_line():
    promoted = _decision()
    assert promoted.run_tags() == {
        "promotion": "promoted", "registered_version": "2", "champion_version": "2"
    }  # fmt: skip
    assert promoted.summary("x") == (
        "x: registered bnpipe-x version 2; PROMOTED to champion: first version: no champion yet"
    )
    kept = _decision(promoted=False, reason="not better")
    assert kept.run_tags()["champion_version"] == "1"
    assert kept.summary("x").endswith("; champion kept: not better")
    held = registry.hold(_decision(), ["drift above the block level: a"])
    assert held.run_tags() == {
        "promotion": "held: drift above the block level: a",
        "registered_version": "2",
        "champion_version": "1",
    }
    assert held.summary("x") == (
        "x: registered bnpipe-x version 2; promotion HELD for review: drift above the block "
        "level: a (promote by hand: bnpipe promote x 2 --reason ...)"
    )


def _seed(variant: str, seed: int, rmse: float, uri: str | None = "models:/m") -> SeedResult:
    return SeedResult(
        variant, seed, {"loss": [1.0]}, {"test_rmse": rmse, "test_mae": rmse, "test_r2": 0.5},
        Y + rmse, 0.1, run_id=f"{variant}{seed}", model_uri=uri,
        val_metrics={"val_rmse": rmse, "val_mae": rmse, "val_r2": 0.5},
    )  # fmt: skip


def test_the_leading_variants_best_seed_with_a_logged_model_is_registered():
    from bnpipe.comparison import summarize_results

    results = [_seed("plain", 0, 3.0), _seed("plain", 1, 3.2), _seed("bn", 0, 1.0)]
    results.append(_seed("bn", 1, 1.1))
    summary = summarize_results("x", "regression", results, n_boot=200)
    assert registry.leading_seed(summary, results) is results[2]
    unlogged = [*results[:2], _seed("bn", 0, 1.0, uri=None), _seed("bn", 1, 1.1, uri=None)]
    assert registry.leading_seed(summary, unlogged) is None  # its model was not logged


@pytest.fixture
def store(tmp_path):
    """A SQLite MLflow store of the test's own and an (empty) model folder."""
    from bnpipe import tracking

    client = tracking.connect(f"sqlite:///{tmp_path / 'mlflow.db'}")
    (tmp_path / "model").mkdir()
    return client, str(tmp_path / "model")


def _challenge(client, best, champion_predictions, warned=None, **kw):
    return registry.register_challenger(
        client, "bnpipe-x", best, dataset="x", task="regression", metric="test_rmse",
        y_true=Y, champion_predictions=champion_predictions, parent_run_id="p1",
        warn=(warned if warned is not None else []).append, **kw,
    )  # fmt: skip


def _unused():
    raise AssertionError("there is no champion to score")


def test_the_challenger_goes_through_the_champion_rule_into_the_registry(store):
    client, model = store
    first = _challenge(client, _seed("bn", 0, 2.0, uri=model), _unused)
    assert (first.version, first.outcome, first.previous_champion) == ("1", "promoted", None)
    assert first.score_interval["rows"] == len(Y)
    assert first.score_interval["ci_low"] <= 2.0 <= first.score_interval["ci_high"]
    v1 = client.get_model_version("bnpipe-x", "1")
    assert {k: v1.tags[k] for k in ("dataset", "variant", "seed", "parent_run_id")} == {
        "dataset": "x", "variant": "bn", "seed": "0", "parent_run_id": "p1"
    }  # fmt: skip
    assert str(registry.current_champion(client, "bnpipe-x").version) == "1"

    # a worse challenger than the champion (which scores today's rows perfectly) is kept
    worse = _challenge(client, _seed("plain", 1, 2.0, uri=model), lambda: Y.copy())
    assert (worse.version, worse.outcome, worse.previous_champion) == ("2", "kept", "1")
    assert worse.champion_score == 0.0 and worse.interval["ci_low"] > 0
    assert str(registry.current_champion(client, "bnpipe-x").version) == "1"


def test_a_champion_that_cannot_score_is_beaten_unless_the_baseline_holds_it(store):
    client, model = store
    _challenge(client, _seed("bn", 0, 2.0, uri=model), _unused)

    def broken():
        raise RuntimeError("missing column 'rad'\n(a traceback's further lines)")

    warned: list[str] = []
    held = _challenge(
        client, _seed("bn", 1, 1.0, uri=model), broken, warned,
        verdicts={"bn_vs_baseline": "worse", "plain_vs_baseline": "better"},
    )  # fmt: skip
    assert warned == ["x: champion v1 cannot score today's test rows: missing column 'rad'"]
    assert held.outcome == "held" and "cannot score today's test rows" in held.reason
    assert held.holds == ["bn is not better than the baseline on test_rmse"]
    assert str(registry.current_champion(client, "bnpipe-x").version) == "1"
    beaten = _challenge(client, _seed("bn", 2, 1.0, uri=model), broken)
    assert (beaten.version, beaten.outcome) == ("3", "promoted")
    assert str(registry.current_champion(client, "bnpipe-x").version) == "3"


def _spec(task: str = "regression", features: int = 3):
    from bnpipe.catalog import parse_entry

    cols = [f"f{i}" for i in range(features)]
    entry = {"url": "https://example.com/x.csv", "task": task, "target": "y", "features": cols}
    return parse_entry("x", entry)


def test_the_registered_model_says_what_it_predicts_and_from_what(store):
    about = registry.model_description(_spec(), source="https://example.com/x.csv")
    assert about.startswith(
        "Predicts `y`: a `prediction` column (regression) for rows of the dataset **x** "
        "(https://example.com/x.csv), from 3 features: `f0`, `f1`, `f2`."
    )
    iris = registry.model_description(_spec("classification", 2), classes=["setosa", "virginica"])
    assert "the class of `y` (setosa, virginica): a `label` column" in iris
    assert "(classification)" in iris and "from 2 features: `f0`, `f1`." in iris
    wide = registry.model_description(_spec(features=2000))
    assert "`f29` and 1970 more." in wide and "`f30`" not in wide

    client, model = store
    client.create_registered_model("bnpipe-x", description="bnpipe champion line: see README")
    _challenge(client, _seed("bn", 0, 2.0, uri=model), _unused, about=about)
    assert client.get_registered_model("bnpipe-x").description == about  # an older one replaced


def test_each_version_says_its_decision_and_a_promotion_by_hand_updates_it(store):
    client, model = store
    _challenge(client, _seed("bn", 0, 2.0, uri=model), _unused)
    v1 = client.get_model_version("bnpipe-x", "1")
    assert v1.description.startswith("**Promoted** to @champion: first version: no champion yet")
    assert "- model: bn, seed 0 of run bn0" in v1.description
    assert "- test_rmse = 2 on today's 200 test rows (95% CI " in v1.description

    kept = _challenge(client, _seed("plain", 1, 2.0, uri=model), lambda: Y.copy())
    v2 = client.get_model_version("bnpipe-x", "2").description
    assert v2.startswith("**Kept** the champion (v1), not promoted: challenger test_rmse=2")
    lo, hi = kept.interval["ci_low"], kept.interval["ci_high"]
    assert (
        f"- challenger - champion v1 = +2 (95% CI {lo:+.4g}..{hi:+.4g}, on the same 200 rows)" in v2
    )

    held = _challenge(
        client, _seed("bn", 3, 0.0, uri=model), lambda: Y + 2.0,
        verdicts={"bn_vs_baseline": "tie"},
    )  # fmt: skip
    assert held.outcome == "held"
    v3 = client.get_model_version("bnpipe-x", "3")
    assert v3.description.startswith(
        "**Held** for review, not champion: bn is not better than the baseline on test_rmse. "
        "After a review: `bnpipe promote x 3 --reason ...`"
    )
    assert "- the champion rule alone: challenger test_rmse=0 vs champion 2" in v3.description
    assert (v3.tags["outcome"], v3.tags["promoted"]) == ("held", "false")

    registry.promote_by_hand(client, "bnpipe-x", "3", reason="baseline check was noise", who="ann")
    after = client.get_model_version("bnpipe-x", "3")
    assert (after.tags["outcome"], after.tags["promoted"]) == ("promoted", "true")
    assert after.tags["hold_reason"] == "bn is not better than the baseline on test_rmse"
    head, _, before = after.description.partition("\n\nBefore the review:\n\n")
    assert head.startswith("**Promoted by hand** to @champion (was v1) by ann at ")
    assert head.endswith(": baseline check was noise")
    assert before == v3.description  # what it said when it was held, kept below
    assert str(registry.current_champion(client, "bnpipe-x").version) == "3"

"""bnpipe.comparison: RunConfig validation, SeedResult, summaries and the winner."""

from __future__ import annotations

import math
import random

import numpy as np
import pytest

from bnpipe.catalog import parse_entry
from bnpipe.comparison import (
    SeedResult,
    best_result,
    by_variant,
    summarize_results,
)
from bnpipe.params import ConfigError, RunConfig

T_975_4 = 2.7764451051977987  # Student t quantile, 0.975, 4 degrees of freedom
NAN = float("nan")


def result(variant, seed, metrics, loss=(1.0, 0.5), val=None):
    """A seed result; its validation metrics are ``val`` (``{"rmse": 3.0}``), else
    the test metrics' values under ``val_`` names."""
    val = {k.removeprefix("test_"): v for k, v in metrics.items()} if val is None else val
    return SeedResult(
        variant=variant,
        seed=seed,
        history={"loss": list(loss), "val_loss": list(loss)},
        metrics=dict(metrics),
        predictions=np.zeros(3),
        seconds=0.1,
        val_metrics={f"val_{k}": v for k, v in val.items()},
    )


def regression_results(plain_rmse, bn_rmse):
    out = []
    for variant, values in (("plain", plain_rmse), ("bn", bn_rmse)):
        for seed, rmse in enumerate(values):
            out.append(
                result(
                    variant,
                    seed,
                    {"test_rmse": rmse, "test_mae": rmse * 0.8, "test_r2": 1.0 - rmse / 10.0},
                )
            )
    return out


PLAIN = [5.0, 6.0, 4.0, 7.0, 5.5]  # large seed-to-seed spread...
BN = [4.5, 5.4, 3.6, 6.6, 4.9]  # ...bn better by ~0.5 on every seed


# --------------------------------------------------------------------------- RunConfig


def test_run_config_defaults_are_the_notebooks():
    cfg = RunConfig()
    assert (cfg.epochs, cfg.batch_size, cfg.optimizer) == (1000, 32, "rmsprop")
    # the dataset can default these: unset until resolved for a dataset
    assert (cfg.learning_rate, cfg.input_scaling, cfg.target_scaling) == (None, None, None)
    assert cfg.seeds == 5 and cfg.seed_list == [0, 1, 2, 3, 4]
    assert cfg.engine == "compiled" and cfg.split_seed == 42
    spec = parse_entry(
        "toy", {"url": "https://example.com/t.csv", "task": "regression", "target": "y",
                "features": ["a"]},
    )  # fmt: skip
    resolved = cfg.resolve(spec)  # an entry without defaults: the notebook's setup
    assert (resolved.input_scaling, resolved.target_scaling) == ("none", "none")
    assert resolved.learning_rate is None  # the optimizer's Keras default


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"epochs": 0}, "epochs"),
        ({"epochs": -5}, "epochs"),
        ({"epochs": 2.5}, "epochs"),
        ({"epochs": "10"}, "epochs"),
        ({"seeds": 0}, "seeds"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate": 0.0}, "learning_rate"),
        ({"learning_rate": -0.1}, "learning_rate"),
        ({"learning_rate": math.nan}, "learning_rate"),
        ({"learning_rate": math.inf}, "learning_rate"),
        ({"input_scaling": "minmax"}, "input_scaling"),
        ({"target_scaling": "log"}, "target_scaling"),
        ({"engine": "turbo"}, "engine"),
    ],
)
def test_run_config_rejects_bad_values(kwargs, field):
    with pytest.raises(ConfigError) as err:
        RunConfig(**kwargs)
    message = str(err.value)
    assert message.startswith(field)
    assert repr(next(iter(kwargs.values()))) in message  # shows the offending value
    assert isinstance(err.value, ValueError)


def test_run_config_accepts_good_values():
    cfg = RunConfig(epochs=1, seeds=3, batch_size=8, learning_rate=0.01, input_scaling="standard")
    assert cfg.seed_list == [0, 1, 2] and cfg.learning_rate == 0.01
    assert RunConfig(engine="fit").engine == "fit"


@pytest.mark.parametrize("kwargs", [{"learning_rate": "fast"}, {"epochs": True}])
def test_run_config_rejects_non_numbers_with_config_error(kwargs):
    with pytest.raises(ConfigError):
        RunConfig(**kwargs)


# --------------------------------------------------------------------------- SeedResult


def test_seed_result_diverged():
    ok = {"test_rmse": 1.0}
    assert not result("bn", 0, ok).diverged
    assert not result("bn", 0, ok, loss=(NAN, 2.0, 1.0)).diverged  # recovered by the end
    assert result("bn", 0, ok, loss=(1.0, NAN)).diverged
    assert result("bn", 0, ok, loss=(1.0, math.inf)).diverged
    assert result("bn", 0, ok, loss=()).diverged
    assert result("bn", 0, {"test_rmse": NAN}).diverged


def test_by_variant_groups_plain_and_bn():
    groups = by_variant(regression_results([1.0], [2.0, 3.0]))
    assert list(groups) == ["plain", "bn"]
    assert [r.seed for r in groups["bn"]] == [0, 1] and len(groups["plain"]) == 1
    assert by_variant([]) == {"plain": [], "bn": []}


def test_best_result_picks_the_best_finite_seed():
    results = regression_results([3.0, 2.0], [2.5, 1.5])
    results.append(result("bn", 9, {"test_rmse": NAN}))
    best = best_result(results, "test_rmse", higher_is_better=False)
    assert (best.variant, best.seed) == ("bn", 1)
    best = best_result(results, "test_r2", higher_is_better=True)
    assert (best.variant, best.seed) == ("bn", 1)
    worst = best_result(results, "test_rmse", higher_is_better=True)
    assert (worst.variant, worst.seed) == ("plain", 0)
    assert best_result([result("bn", 0, {"test_rmse": NAN})], "test_rmse", False) is None


# --------------------------------------------------------------------------- summarize_results


CONTRACT_KEYS = {
    f"{v}_{m}_{s}"
    for v in ("plain", "bn")
    for m in ("test_rmse", "test_mae", "test_r2")
    for s in ("mean", "std")
} | {
    f"bn_minus_plain_{m}_{s}"
    for m in ("test_rmse", "test_mae", "test_r2")
    for s in ("mean", "ci_low", "ci_high")
}


def test_parent_metrics_regression_keys_and_values():
    summary = summarize_results("boston", "regression", regression_results(PLAIN, BN), n_boot=500)
    pm = summary.parent_metrics()
    assert set(pm) >= CONTRACT_KEYS
    assert all(isinstance(v, float) and math.isfinite(v) for v in pm.values())
    assert pm["plain_test_rmse_mean"] == pytest.approx(np.mean(PLAIN))
    assert pm["plain_test_rmse_std"] == pytest.approx(np.std(PLAIN, ddof=1))
    assert pm["bn_test_rmse_mean"] == pytest.approx(np.mean(BN))
    assert pm["bn_test_mae_mean"] == pytest.approx(0.8 * np.mean(BN))
    d = np.subtract(BN, PLAIN)  # bn - plain, in the metric's own units
    half = T_975_4 * np.std(d, ddof=1) / math.sqrt(len(d))
    assert pm["bn_minus_plain_test_rmse_mean"] == pytest.approx(d.mean())
    assert pm["bn_minus_plain_test_rmse_ci_low"] == pytest.approx(d.mean() - half)
    assert pm["bn_minus_plain_test_rmse_ci_high"] == pytest.approx(d.mean() + half)
    assert pm["bn_minus_plain_test_r2_mean"] > 0  # r2 went up as rmse went down
    assert summary.primary == "test_rmse"
    assert summary.metrics == ("test_rmse", "test_mae", "test_r2")
    assert summary.dataset == "boston" and summary.diverged == []


def test_a_consistent_improvement_makes_bn_the_winner_and_leader():
    summary = summarize_results("boston", "regression", regression_results(PLAIN, BN), n_boot=500)
    assert summary.parent_metrics()["bn_minus_plain_test_rmse_ci_high"] < 0
    assert summary.winner == "bn" and summary.leader() == "bn"
    flipped = summarize_results("boston", "regression", regression_results(BN, PLAIN), n_boot=500)
    assert flipped.winner == "plain" and flipped.leader() == "plain"


def test_identical_variants_tie():
    summary = summarize_results(
        "boston", "regression", regression_results(PLAIN, PLAIN), n_boot=500
    )
    pm = summary.parent_metrics()
    assert pm["bn_minus_plain_test_rmse_mean"] == 0.0
    assert summary.winner == "tie"


def test_noisy_difference_is_a_tie_but_still_has_a_leader():
    bn = [4.0, 7.5, 3.0, 7.0, 5.0]  # mean 5.3 < 5.5, but the signs of bn - plain disagree
    summary = summarize_results("boston", "regression", regression_results(PLAIN, bn), n_boot=500)
    pm = summary.parent_metrics()
    assert pm["bn_minus_plain_test_rmse_ci_low"] < 0 < pm["bn_minus_plain_test_rmse_ci_high"]
    assert summary.winner == "tie"
    assert summary.leader() == "bn"  # the lower mean rmse gets registered


def test_pairs_are_matched_by_seed_whatever_the_order():
    results = regression_results(PLAIN, BN)
    shuffled = results[:]
    random.Random(0).shuffle(shuffled)
    a = summarize_results("boston", "regression", results, n_boot=500).parent_metrics()
    b = summarize_results("boston", "regression", shuffled, n_boot=500).parent_metrics()
    assert a == pytest.approx(b)
    # mis-paired seeds would give an interval as wide as the seed spread (~3), not ~0.2
    width = a["bn_minus_plain_test_rmse_ci_high"] - a["bn_minus_plain_test_rmse_ci_low"]
    assert width < 0.5


def test_a_diverged_seed_is_counted_and_left_out():
    bn = BN[:]
    bn[3] = NAN
    results = regression_results(PLAIN, bn)
    results[-2].history["loss"][-1] = NAN  # bn seed 3
    summary = summarize_results("boston", "regression", results, n_boot=500)
    assert summary.diverged == [("bn", 3)]
    pm = summary.parent_metrics()
    assert pm["bn_test_rmse_mean"] == pytest.approx(np.nanmean(bn))
    assert summary.summaries["bn"]["test_rmse"].n_nonfinite == 1
    keep = [0, 1, 2, 4]
    d = np.subtract(BN, PLAIN)[keep]
    assert pm["bn_minus_plain_test_rmse_mean"] == pytest.approx(d.mean())
    assert summary.intervals["test_rmse"].n == 4
    assert summary.winner == "bn"


def test_leader_ignores_a_variant_that_diverged_everywhere():
    results = regression_results(PLAIN, [NAN] * 5)
    summary = summarize_results("boston", "regression", results, n_boot=200)
    assert summary.leader() == "plain"
    assert summary.winner == "tie"
    assert len(summary.diverged) == 5
    everything = summarize_results(
        "boston", "regression", regression_results([NAN] * 2, [NAN] * 2), n_boot=200
    )
    assert everything.leader() == ""


def test_the_leader_and_its_seed_are_chosen_on_the_validation_rows_not_the_test_rows():
    # plain's seed 1 is the best on the test rows, and plain the better mean there;
    # on the validation rows bn is the better variant and its seed 0 the best seed
    def seed(variant, s, test, val):
        return result(variant, s, {"test_rmse": test, "test_mae": test, "test_r2": 0.5},
                      val={"rmse": val, "mae": val, "r2": 0.5})  # fmt: skip

    results = [seed("plain", 0, 4.0, 6.0), seed("plain", 1, 2.0, 6.5),
               seed("bn", 0, 4.5, 3.0), seed("bn", 1, 5.0, 3.5)]  # fmt: skip
    summary = summarize_results("boston", "regression", results, n_boot=200)
    assert summary.selection == "val_rmse"
    assert summary.summaries["plain"]["test_rmse"].mean < summary.summaries["bn"]["test_rmse"].mean
    assert summary.leader() == "bn"
    assert summary.best([r for r in results if r.variant == "plain"]) is results[0]
    assert summary.best([r for r in results if r.variant == "bn"]) is results[2]
    assert summary.validation["bn"]["val_rmse"].mean == pytest.approx(3.25)
    assert summary.choice(results, val_rows=76, test_rows=77) == (
        "leader: bn seed 0, chosen on the 76 validation rows by val_rmse 3 (the lower mean "
        "over the seeds picks the variant, the lowest value its seed); judged on the 77 test rows"
    )
    measured = {"test_rmse": 1.0, "test_mae": 1.0, "test_r2": 0.5}
    unmeasured = [result(v, 0, measured, val={}) for v in ("plain", "bn")]
    assert summarize_results("x", "regression", unmeasured, n_boot=200).leader() == ""  # none


def test_a_seed_whose_validation_outputs_are_not_finite_diverged():
    bad = result("bn", 0, {"test_rmse": 1.0}, val={"rmse": NAN})
    assert bad.diverged and not result("bn", 0, {"test_rmse": 1.0}).diverged
    assert bad.score("val_rmse") != bad.score("val_rmse") and bad.score("test_rmse") == 1.0


def test_classification_primary_is_log_loss_lower_is_better():
    results = []
    plain_ll = [0.30, 0.35, 0.28, 0.40, 0.33]
    for seed, ll in enumerate(plain_ll):
        results.append(
            result("plain", seed, {"test_accuracy": 0.9, "test_log_loss": ll, "test_macro_f1": 0.9})
        )
        results.append(
            result(
                "bn",
                seed,
                {"test_accuracy": 0.9, "test_log_loss": ll + 0.1, "test_macro_f1": 0.9},
            )
        )
    summary = summarize_results("iris", "classification", results, n_boot=500)
    assert summary.primary == "test_log_loss"
    assert summary.metrics == ("test_accuracy", "test_log_loss", "test_macro_f1")
    pm = summary.parent_metrics()
    assert pm["bn_minus_plain_test_log_loss_mean"] == pytest.approx(0.1)
    assert pm["bn_minus_plain_test_accuracy_mean"] == 0.0
    assert {"plain_test_accuracy_mean", "bn_test_macro_f1_std"} <= set(pm)
    assert summary.winner == "plain" and summary.leader() == "plain"
    best = best_result(results, "test_log_loss", higher_is_better=False)
    assert (best.variant, best.seed) == ("plain", 2)

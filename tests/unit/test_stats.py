"""bnpipe.stats: summaries, paired seed intervals, the row bootstrap and its sign rules."""

from __future__ import annotations

import math
import subprocess
import sys
import time

import numpy as np
import pytest

from bnpipe import stats


def test_summarize_uses_ddof_1():
    s = stats.summarize([1.0, 2.0, 3.0, 4.0])
    assert s.mean == pytest.approx(2.5)
    assert s.std == pytest.approx(np.std([1, 2, 3, 4], ddof=1))
    assert (s.n, s.n_nonfinite) == (4, 0)
    assert stats.summarize([7.0]) == stats.Summary(7.0, 0.0, 1, 0)


def test_summarize_counts_non_finite_seeds():
    s = stats.summarize([1.0, np.nan, 3.0, np.inf])
    assert (s.mean, s.n, s.n_nonfinite) == (2.0, 2, 2)
    empty = stats.summarize([np.nan])
    assert math.isnan(empty.mean) and empty.n == 0 and empty.n_nonfinite == 1


def _seed_metrics(n=10, shift=0.0, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    plain = 5.0 + rng.normal(0, 1.0, n)  # seed-to-seed spread shared by the pair...
    bn = plain + shift + rng.normal(0, noise, n)  # ...plus per-variant noise
    return plain, bn


@pytest.mark.parametrize("method", ["bootstrap", "t"])
def test_identical_variants_are_a_tie(method):
    plain, _ = _seed_metrics()
    ivs = stats.paired_intervals(
        {"test_rmse": plain}, {"test_rmse": plain.copy()}, ["test_rmse"], method=method
    )
    iv = ivs["test_rmse"]
    assert iv.contains_zero()
    assert iv.mean == 0.0
    assert stats.winner(ivs, "test_rmse") == "tie"


@pytest.mark.parametrize("method", ["bootstrap", "t"])
def test_constant_shift_is_found(method):
    plain, bn = _seed_metrics(shift=-1.0)  # bn's rmse is 1.0 lower
    ivs = stats.paired_intervals(
        {"test_rmse": plain}, {"test_rmse": bn}, ["test_rmse"], method=method
    )
    iv = ivs["test_rmse"]
    assert not iv.contains_zero()
    assert iv.ci_high < 0  # difference is bn - plain
    assert iv.ci_low < iv.mean < iv.ci_high
    assert iv.mean == pytest.approx(-1.0, abs=0.1)
    assert iv.better() == "bn"
    assert stats.winner(ivs, "test_rmse") == "bn"
    # swap roles: plain is now the one with the lower rmse
    swapped = stats.paired_bootstrap(bn, plain, metric="test_rmse")
    assert swapped.ci_low > 0 and swapped.better() == "plain"


def test_sign_for_higher_is_better_metrics():
    acc_plain, acc_bn = _seed_metrics(shift=+0.05, noise=0.005)
    acc_plain, acc_bn = acc_plain / 10, acc_bn / 10  # accuracy-like scale
    iv = stats.paired_bootstrap(acc_plain, acc_bn, metric="test_accuracy")
    assert iv.higher_is_better
    assert iv.ci_low > 0  # bn higher
    assert iv.better() == "bn"
    iv = stats.paired_bootstrap(acc_bn, acc_plain, metric="test_accuracy")
    assert iv.ci_high < 0 and iv.better() == "plain"
    # a *lower* value on a lower-is-better metric and a *higher* value on a
    # higher-is-better one both favour bn
    r2 = stats.paired_t_interval([0.5] * 4, [0.6, 0.61, 0.6, 0.59], metric="test_r2")
    ll = stats.paired_t_interval([0.5] * 4, [0.4, 0.41, 0.4, 0.39], metric="test_log_loss")
    assert r2.better() == ll.better() == "bn"
    assert r2.leaning() == ll.leaning() == "bn"


def test_bootstrap_is_reproducible():
    plain, bn = _seed_metrics(shift=-0.2, noise=0.5)
    a = stats.paired_bootstrap(plain, bn, metric="test_rmse", seed=7)
    b = stats.paired_bootstrap(plain, bn, metric="test_rmse", seed=7)
    c = stats.paired_bootstrap(plain, bn, metric="test_rmse", seed=8)
    assert a == b
    assert (a.ci_low, a.ci_high) != (c.ci_low, c.ci_high)


def test_one_seed_is_never_a_winner():
    for fn in (stats.paired_bootstrap, stats.paired_t_interval):
        iv = fn([10.0], [8.0], metric="test_rmse")
        assert (iv.n, iv.mean) == (1, -2.0)
        assert np.isnan(iv.ci_low) and np.isnan(iv.ci_high)  # one sample makes no interval
        assert iv.better() == "tie"
        assert iv.leaning() == "bn"
        assert stats.winner({"test_rmse": iv}, "test_rmse") == "tie"


def test_non_finite_pairs_are_dropped_and_counted():
    plain = [5.0, 5.1, np.nan, 4.9, 5.2]
    bn = [4.0, 4.1, 4.0, np.inf, 4.2]
    iv = stats.paired_t_interval(plain, bn, metric="test_rmse")
    assert (iv.n, iv.n_dropped) == (3, 2)
    assert iv.mean == pytest.approx(-1.0)
    none = stats.paired_bootstrap([np.nan, np.nan], [1.0, 2.0], metric="test_rmse")
    assert none.n == 0 and math.isnan(none.mean) and none.better() == "tie"


# Known quantiles of Student's t for q = 0.9, 0.975, 0.995 (as tables give them and
# SciPy 1.17.1 computes them); bnpipe.stats takes its t from scipy.stats.t.
T_PPF = {
    1: (3.0776835371752544, 12.706204736174694, 63.656741162871526),
    2: (1.8856180831641272, 4.302652729749462, 9.924843200918287),
    4: (1.533206274058944, 2.7764451051977934, 4.604094871349992),
    9: (1.3830287383966329, 2.262157162798205, 3.249835541592126),
    29: (1.311433647301551, 2.045229642132703, 2.756385903670605),
    200: (1.2857987939948012, 1.9718962236339088, 2.600634436191558),
}


def test_t_quantile_matches_scipy():
    for df, values in T_PPF.items():
        for q, expected in zip((0.9, 0.975, 0.995), values, strict=True):
            assert stats.t_quantile(q, df) == pytest.approx(expected, abs=1e-10)
            assert stats.t_quantile(1 - q, df) == pytest.approx(-expected, abs=1e-10)
            assert stats.t_cdf(expected, df) == pytest.approx(q, abs=1e-10)
    assert stats.t_quantile(0.975, 4) == pytest.approx(2.7764451051977987, abs=1e-10)
    assert stats.t_quantile(0.5, 3) == 0.0
    with pytest.raises(ValueError, match="strictly between"):
        stats.t_quantile(1.0, 3)
    with pytest.raises(ValueError, match="degrees of freedom"):
        stats.t_quantile(0.9, 0)


def test_t_interval_matches_scipy():
    plain, bn = _seed_metrics(n=5, shift=-0.3, noise=0.4, seed=3)
    iv = stats.paired_t_interval(plain, bn, metric="test_rmse", level=0.9)
    # scipy.stats.t.interval(0.9, 4, loc=mean(d), scale=sem(d)) with d = bn - plain
    assert iv.ci_low == pytest.approx(-1.06281189692214, rel=1e-8)
    assert iv.ci_high == pytest.approx(0.4612552202003372, rel=1e-8)
    assert iv.method == "t" and iv.level == 0.9


def test_t_interval_is_wider_than_the_bootstrap_for_few_seeds():
    # Three seeds that all lean the same way: the bootstrap cannot be wider than
    # their range and calls it; Student's t does not.
    plain = [5.0, 5.0, 5.0]
    bn = [4.9, 4.5, 4.95]
    assert stats.paired_bootstrap(plain, bn, metric="test_rmse").better() == "bn"
    assert stats.paired_t_interval(plain, bn, metric="test_rmse").better() == "tie"


def test_winner_needs_the_primary_interval():
    with pytest.raises(KeyError, match="primary metric"):
        stats.winner({}, "test_rmse")


def _rows(n=500, seed=0):
    rng = np.random.default_rng(seed)
    shared = rng.normal(0, 3, n)  # row difficulty, shared by both models
    return shared, rng


def test_row_bootstrap_finds_a_clearly_better_challenger():
    shared, rng = _rows()
    champion_sq = (shared + rng.normal(0, 1, shared.size)) ** 2
    challenger_sq = (0.5 * shared + rng.normal(0, 1, shared.size)) ** 2
    iv = stats.row_bootstrap(champion_sq, challenger_sq, metric="test_rmse")
    assert iv.labels == ("champion", "challenger")
    assert iv.ci_high < 0  # challenger - champion, lower rmse is better
    assert iv.mean == pytest.approx(math.sqrt(challenger_sq.mean()) - math.sqrt(champion_sq.mean()))
    assert iv.better() == "challenger"
    assert stats.challenger_wins(iv)
    assert stats.challenger_wins(iv, higher_is_better=False)
    # the other way round the champion stays
    back = stats.row_bootstrap(challenger_sq, champion_sq, metric="test_rmse")
    assert back.better() == "champion" and not stats.challenger_wins(back)


def test_row_bootstrap_identical_models_are_not_a_win():
    shared, _ = _rows()
    rows = np.abs(shared)
    iv = stats.row_bootstrap(rows, rows.copy(), metric="test_mae")
    assert iv.contains_zero()
    assert not stats.challenger_wins(iv)


def test_row_bootstrap_accuracy_is_higher_is_better():
    rng = np.random.default_rng(4)
    champion = (rng.random(300) < 0.6).astype(float)
    challenger = np.maximum(champion, (rng.random(300) < 0.5).astype(float))
    iv = stats.row_bootstrap(champion, challenger, metric="test_accuracy")
    assert iv.higher_is_better and iv.ci_low > 0
    assert stats.challenger_wins(iv)


def test_row_bootstrap_non_finite_is_not_a_win():
    rows = np.ones(50)
    bad = rows.copy()
    bad[3] = np.nan
    iv = stats.row_bootstrap(rows, bad, metric="test_log_loss")
    assert math.isnan(iv.mean) and not stats.challenger_wins(iv) and iv.better() == "tie"


def test_compare_on_rows_uses_per_row_losses():
    rng = np.random.default_rng(5)
    y = rng.normal(20, 8, 200)
    champion = y + rng.normal(0, 4, 200)
    challenger = y + rng.normal(0, 1, 200)
    iv = stats.compare_on_rows("regression", y, champion, challenger, metric="test_rmse")
    assert stats.challenger_wins(iv)


def test_row_bootstrap_is_fast_and_reproducible():
    shared, rng = _rows(n=500)
    a, b = shared**2, (shared + rng.normal(0, 0.5, 500)) ** 2
    stats.row_bootstrap(a, b, metric="test_rmse", n_boot=50)  # warm up
    t0 = time.perf_counter()
    iv1 = stats.row_bootstrap(a, b, metric="test_rmse", n_boot=2000, seed=3)
    elapsed = time.perf_counter() - t0
    assert iv1 == stats.row_bootstrap(a, b, metric="test_rmse", n_boot=2000, seed=3)
    assert elapsed < 0.25, f"row_bootstrap took {elapsed * 1000:.0f} ms"  # ~25 ms measured


def test_row_bootstrap_rejects_non_row_metrics_and_mismatched_rows():
    with pytest.raises(ValueError, match="not a mean over rows"):
        stats.row_bootstrap(np.ones(3), np.ones(3), metric="test_r2")
    with pytest.raises(ValueError, match="same rows"):
        stats.row_bootstrap(np.ones(3), np.ones(4), metric="test_mae")


def test_bootstraps_keep_their_draws():
    # Values of the bootstraps bnpipe logged before they moved to scipy.stats.bootstrap:
    # the same seed draws the same rows, so logged intervals do not change.
    plain, bn = [5.0, 5.3, 4.8, 5.1, 5.6], [4.7, 5.2, 4.9, 4.6, 5.0]
    iv = stats.paired_bootstrap(plain, bn, metric="test_rmse", seed=7)
    assert (iv.ci_low, iv.ci_high) == pytest.approx((-0.5, -0.06), abs=1e-10)
    x = np.arange(1.0, 41.0)
    iv = stats.row_bootstrap((x % 7) ** 2, (x % 5) ** 2, metric="test_rmse", n_boot=500, seed=3)
    assert (iv.ci_low, iv.ci_high, iv.mean) == pytest.approx(
        (-1.6950200019031632, -0.4449147996345463, -1.1212244714882473), abs=1e-10
    )
    y = np.linspace(0, 10, 30)
    lo_hi = stats.score_interval(
        "regression", y, y + np.sin(np.arange(30)), metric="test_rmse", n_boot=500, seed=1
    )
    assert lo_hi == pytest.approx((0.5998510158743439, 0.7843999068131626), abs=1e-10)


def test_bootstrap_batches_draw_the_same_rows(monkeypatch):
    from bnpipe.stats import distributions

    shared, rng = _rows(n=300)
    a, b = shared**2, (shared + rng.normal(0, 0.5, 300)) ** 2
    whole = stats.row_bootstrap(a, b, metric="test_rmse", n_boot=400, seed=2)
    monkeypatch.setattr(distributions, "_MAX_GATHER", 300 * 7)  # 7 resamples a batch
    assert stats.row_bootstrap(a, b, metric="test_rmse", n_boot=400, seed=2) == whole


def test_one_row_is_its_own_interval():
    iv = stats.row_bootstrap(np.array([4.0]), np.array([1.0]), metric="test_rmse")
    assert (iv.mean, iv.ci_low, iv.ci_high) == (-1.0, -1.0, -1.0)
    assert not stats.challenger_wins(iv)  # one row is no evidence
    assert stats.score_interval("regression", [1.0], [3.0], metric="test_mae") == (2.0, 2.0)


def test_import_leaves_scipy_for_later():
    code = "import sys, bnpipe.stats; print('scipy' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

"""bnpipe.report: PNGs are written, tables align, the HTML report is self-contained."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from bnpipe import report, stats

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _assert_png(path, min_bytes=5_000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes, f"{path.name} is only {len(data)} bytes"


def _histories(rng, epochs=60, seeds=3):
    def one(level):
        e = np.arange(epochs)
        loss = 300 * np.exp(-e / 15) + level + rng.normal(0, 0.5, epochs) ** 2
        return {"loss": list(loss), "val_loss": list(loss * 1.2)}

    return {"plain": [one(20) for _ in range(seeds)], "bn": [one(10) for _ in range(seeds)]}


def test_core_modules_import_nothing_heavy():
    code = (
        "import sys, bnpipe.report, bnpipe.stats, bnpipe.evaluation\n"
        "heavy = {'matplotlib', 'prefect', 'mlflow', 'tensorflow', 'keras', 'sklearn', 'scipy'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_learning_curves_png(tmp_path):
    rng = np.random.default_rng(0)
    h = _histories(rng)
    out = report.plot_learning_curves(
        h, tmp_path / "curves.png", title="boston: loss", ylabel="MSE"
    )
    assert out == tmp_path / "curves.png"
    _assert_png(out)


def test_learning_curves_tolerate_diverged_seeds(tmp_path):
    rng = np.random.default_rng(1)
    h = _histories(rng)
    h["bn"][0]["loss"][10:] = [np.nan] * 50  # diverged mid-run
    h["bn"][1]["val_loss"][5] = np.inf
    h["plain"][2] = {"loss": h["plain"][2]["loss"][:20], "val_loss": h["plain"][2]["val_loss"][:20]}
    h["plain"][1]["loss"][0] = 0.0  # non-positive on a log axis
    _assert_png(report.plot_learning_curves(h, tmp_path / "c.png", title="t"))
    # every value non-finite: still a (mostly empty) figure, no exception
    all_nan = {"plain": [{"loss": [np.nan] * 5, "val_loss": [np.inf] * 5}]}
    _assert_png(report.plot_learning_curves(all_nan, tmp_path / "n.png", title="t"), 1_000)
    _assert_png(report.plot_learning_curves(h, tmp_path / "lin.png", title="t", log_y=False))


def test_confusion_matrix_png(tmp_path):
    y = np.array([0, 0, 1, 1, 2, 2, 2])
    p = np.array([0, 1, 1, 1, 2, 2, 0])
    out = report.plot_confusion_matrix(
        y, p, ["setosa", "versicolor", "virginica"], tmp_path / "cm.png", title="iris: bn"
    )
    _assert_png(out)
    with pytest.raises(ValueError, match="class indices"):
        report.plot_confusion_matrix(y, p + 1, ["a", "b", "c"], tmp_path / "x.png", title="t")


def test_predicted_vs_actual_png(tmp_path):
    rng = np.random.default_rng(2)
    y = rng.uniform(5, 50, 80)
    preds = {"plain": y + rng.normal(0, 5, 80), "bn": y + rng.normal(0, 2, 80)}
    preds["plain"][3] = np.nan
    out = report.plot_predicted_vs_actual(
        y, preds, tmp_path / "sub" / "pva.png", title="boston", target="medv"
    )
    _assert_png(out)


def _summaries():
    return {
        "plain": {
            "test_rmse": stats.summarize([4.8, 5.1, 5.3]),
            "test_mae": stats.summarize([3.2, 3.3, 3.5]),
        },
        "bn": {
            "test_rmse": stats.summarize([3.9, 4.0, np.nan]),
            "test_mae": stats.summarize([2.7, 2.8, 2.9]),
        },
    }


def test_comparison_table_and_formats():
    metrics = ["test_rmse", "test_mae"]
    rows = report.comparison_table(_summaries(), metrics)
    assert rows[0] == ["plain", "5.07 ± 0.25", "3.33 ± 0.15"]
    assert rows[1][0] == "bn" and rows[1][1] == "3.950 ± 0.071 (1 of 3 non-finite)"
    assert report.comparison_headers(metrics) == ["variant", *metrics]
    assert report.format_mean_std(stats.Summary(0.95652, 0.0, 3)) == "0.9565 ± 0.0000"
    assert report.format_mean_std(stats.Summary(float("nan"), float("nan"), 0, 3)).startswith("n/a")


def test_format_table_aligns_columns():
    headers = ["variant", "test_rmse", "x"]
    rows = [["plain", "5.07 ± 0.25", "1"], ["bn", "3.9 ± 0.1", "12345"]]
    text = report.format_table(rows, headers)
    assert text.splitlines() == [
        "variant    test_rmse      x",
        "-------  -----------  -----",
        "plain    5.07 ± 0.25      1",
        "bn         3.9 ± 0.1  12345",
    ]
    # ragged rows are padded, not dropped
    assert report.format_table([["a"]], ["h1", "h2"]).splitlines()[-1] == "a"


def test_markdown_table_escapes_pipes():
    md = report.markdown_table([["a|b", "1.0"]], ["name", "value"])
    lines = md.splitlines()
    assert lines[0] == "| name | value |"
    assert lines[1] == "|---|---:|"
    assert lines[2] == "| a\\|b | 1.0 |"


def test_describe_interval_words():
    lower = stats.PairedInterval("test_rmse", -0.8, -1.4, -0.2, 5, False)
    assert report.describe_interval(lower) == "bn lower by 0.8 (95% CI 0.2 to 1.4): bn better"
    worse = stats.PairedInterval("test_rmse", 0.8, 0.2, 1.4, 5, False)
    assert report.describe_interval(worse).endswith("plain better")
    acc = stats.PairedInterval("test_accuracy", 0.03, 0.01, 0.05, 5, True)
    assert report.describe_interval(acc).startswith("bn higher by 0.03")
    tie = stats.PairedInterval("test_rmse", -0.3, -0.9, 0.4, 5, False)
    assert report.describe_interval(tie).startswith("no clear difference")
    one = stats.paired_t_interval([5.0], [4.0], metric="test_rmse")
    assert "one seed" in report.describe_interval(one)


def _html(**over):
    plain = [5.0, 5.2, 4.9, 5.1, 5.3]
    bn = [4.1, 4.3, 4.0, 4.4, 4.2]
    ivs = stats.paired_intervals(
        {"test_rmse": plain, "test_mae": plain},
        {"test_rmse": bn, "test_mae": plain},
        ["test_rmse", "test_mae"],
    )
    metrics = ["test_rmse", "test_mae"]
    kw = dict(
        dataset="boston",
        lineage={
            "url": "https://example.org/boston.csv",
            "sha256": "ab" * 32,
            "rows": 506,
        },
        validation_summary="14 expectations, 14 passed <ok>",
        table_headers=report.comparison_headers(metrics),
        table_rows=report.comparison_table(_summaries(), metrics),
        intervals=list(ivs.values()),
        winner=stats.winner(ivs, "test_rmse"),
        plots={
            "Learning curves": "learning_curves.png",
            "Predicted vs actual": "pred_vs_actual.png",
        },
        champion_decision={
            "decision": "promoted",
            "reason": "challenger rmse lower on the current test rows",
            "interval": stats.PairedInterval(
                "test_rmse", -0.5, -0.9, -0.1, 76, False, labels=stats.CHAMPION_LABELS
            ),
        },
        notes=["Boston BN cell defect fixed: layers are stacked"],
    )
    kw.update(over)
    return report.render_html_report(**kw)


def test_html_report_contents():
    page = _html()
    assert page.startswith("<!DOCTYPE html>")
    assert "boston" in page
    assert "ab" * 32 in page
    assert "506" in page
    for cell in ("5.07 ± 0.25", "3.33 ± 0.15", "3.950 ± 0.071"):
        assert cell in page
    assert 'src="learning_curves.png"' in page and 'src="pred_vs_actual.png"' in page
    assert "bn lower by 0.9" in page  # rmse verdict
    assert "no clear difference" in page  # mae: identical
    assert "promoted" in page and "challenger lower by 0.5" in page
    assert "&lt;ok&gt;" in page and "<ok>" not in page  # escaped
    assert "Boston BN cell defect fixed" in page


def test_html_report_is_self_contained():
    page = _html()
    # no stylesheet, script, font or image is fetched from anywhere
    assert "<script" not in page and "<link" not in page and "@import" not in page
    for attr in re.findall(r'(?:src|href)="([^"]*)"', page):
        assert not attr.startswith(("http", "//")), attr
    # the only http text is the lineage URL, shown as text
    assert re.findall(r"https?://[^\s<\"]+", page) == ["https://example.org/boston.csv"]


def test_html_report_escapes_and_rejects_absolute_plots():
    page = _html(dataset="<b>x</b>", champion_decision=None, notes=())
    assert "&lt;b&gt;x&lt;/b&gt;" in page and "<b>x</b>" not in page
    assert "No champion decision" in page
    tie = stats.PairedInterval("test_rmse", -0.2, -0.9, 0.5, 5, False)
    page = _html(intervals=[tie], winner="tie", primary_metric="test_rmse")
    assert "no clear winner (the mean favours bn, not conclusively)" in page
    with pytest.raises(ValueError, match="relative"):
        _html(plots={"x": "https://cdn.example.com/x.png"})
    with pytest.raises(ValueError, match="relative"):
        _html(plots={"x": "/tmp/x.png"})

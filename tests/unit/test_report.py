"""bnpipe.report: PNGs are written, tables align, the HTML report is self-contained and
escaped, and one comparison's report files are written from its results."""

from __future__ import annotations

import re
import subprocess
import sys

import numpy as np
import pytest

from bnpipe import report, stats
from bnpipe.report import html
from tests import comparisons

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
        "heavy = {'matplotlib', 'prefect', 'mlflow', 'tensorflow', 'keras', 'sklearn', 'scipy',"
        " 'jinja2', 'pandas'}\n"
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


def test_predicted_vs_actual_says_which_seed_each_variant_shows(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(3)
    y = rng.uniform(5, 50, 40)
    out = report.plot_predicted_vs_actual(
        y, {"plain": y + 1, "bn": y - 1}, tmp_path / "pva.png", title="boston", target="medv",
        labels={"plain": report.seed_label("plain", 4), "bn": report.seed_label("bn", 0)},
    )  # fmt: skip
    legend = Image.open(out).text["Description"].split(" | ")
    assert "plain, seed 4 (chosen on the validation rows): RMSE 1" in legend
    assert "bn, seed 0 (chosen on the validation rows): RMSE 1" in legend


@pytest.mark.slow  # matplotlib
def test_the_comparison_pages_plots_and_decision_read_as_words(regression, tmp_path):
    """The decision of a first version (no champion, no interval, no holds) without a
    Python repr; the predicted-vs-actual legend names the seed the leader rule chose."""
    from PIL import Image

    from bnpipe.registry import Decision

    c = regression
    first = Decision(
        "bnpipe-toy", True, "first version: no champion yet", "test_rmse", "r1", "bn", 3.2
    )
    first.version = "1"
    report.write_comparison_report(
        tmp_path, spec=c.spec, snap=c.snap, data=c.data, results=c.results, summary=c.summary,
        validation_summary="3 expectations, 3 passed", decision=first, drift=None, check=c.check,
    )  # fmt: skip
    page = (tmp_path / "comparison.html").read_text("utf-8")
    section = page[page.index("<h2>Champion decision</h2>") :]
    section = section[: section.index("<h2>", 5)] if "<h2>" in section[5:] else section
    for repr_ in ("{}", "[]", "None", "{'", "'ci_low'"):
        assert repr_ not in section, (repr_, section)
    for words in ("none (no champion yet)", "n/a (no champion to compare with)", "bnpipe-toy v1"):
        assert words in section, words
    legend = Image.open(tmp_path / "predicted_vs_actual.png").text["Description"]
    best = {v: c.summary.best([r for r in c.results if r.variant == v]) for v in ("plain", "bn")}
    for v, r in best.items():
        assert f"{v}, seed {r.seed} (chosen on the validation rows): RMSE" in legend


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


# --------------------------------------------------------------------------- references


def _ref_metrics():
    return {
        "baseline": {"test_rmse": 7.943267, "test_mae": 5.4449, "test_r2": float("nan")},
        "linear": {"test_rmse": 3.8372, "test_mae": 2.7249},
    }


def test_reference_rows_single_values_below_the_variants():
    metrics = ["test_rmse", "test_mae", "test_r2"]
    rows = report.reference_rows(_ref_metrics(), metrics)
    assert rows == [
        ["baseline (mean)", "7.943", "5.445", "n/a"],
        ["linear (ridge)", "3.837", "2.725", "n/a"],  # a metric it lacks: n/a
    ]
    assert not any("±" in c for r in rows for c in r)
    cls = report.reference_rows(
        {"baseline": {"test_log_loss": 1.0986}, "linear": {"test_log_loss": 0.12467}},
        ["test_log_loss"],
    )
    assert cls == [["baseline (prior)", "1.099"], ["linear (logistic)", "0.1247"]]
    # labels that are already spelled out pass through; the task can be forced
    assert report.reference_rows({"linear (ridge)": {"x": 1.0}}, ["x"]) == [
        ["linear (ridge)", "1.000"]
    ]
    assert report.reference_rows({"linear": {}}, ["x"], task="classification")[0][0] == (
        "linear (logistic)"
    )
    # appended below the variant rows, the terminal and Markdown tables stay aligned
    m2 = ["test_rmse", "test_mae"]
    table = report.comparison_table(_summaries(), m2) + report.reference_rows(_ref_metrics(), m2)
    lines = report.format_table(table, report.comparison_headers(m2)).splitlines()
    assert [ln.split("  ")[0] for ln in lines[2:]] == [
        "plain",
        "bn",
        "baseline (mean)",
        "linear (ridge)",
    ]
    assert len({len(ln) for ln in lines[:2]}) == 1 and lines[-1].endswith("2.725")
    md = report.markdown_table(table, report.comparison_headers(m2)).splitlines()
    assert md[-1] == "| linear (ridge) | 3.837 | 2.725 |"


def test_format_value():
    assert report.format_value(0.95652) == "0.9565"
    assert report.format_value(123.456) == "123.5"
    assert report.format_value(float("inf")) == "n/a" and report.format_value(None) == "n/a"


def test_learning_curves_with_reference_losses(tmp_path):
    rng = np.random.default_rng(3)
    h = _histories(rng)
    losses = {"baseline (mean): test MSE": 84.1, "linear (ridge): test MSE": 22.5}
    out = report.plot_learning_curves(
        h, tmp_path / "curves_refs.png", title="boston", ylabel="MSE", reference_losses=losses
    )
    _assert_png(out)
    # non-finite and (on a log axis) non-positive reference losses are left out, no error
    odd = {"nan": float("nan"), "zero": 0.0, "ok": 1.0}
    _assert_png(
        report.plot_learning_curves(h, tmp_path / "odd.png", title="t", reference_losses=odd)
    )
    _assert_png(
        report.plot_learning_curves(
            h, tmp_path / "lin.png", title="t", log_y=False, reference_losses=odd
        )
    )


def test_predicted_vs_actual_with_references(tmp_path):
    rng = np.random.default_rng(4)
    y = rng.uniform(5, 50, 80)
    preds = {"plain": y + rng.normal(0, 5, 80), "bn": y + rng.normal(0, 2, 80)}
    refs = {
        "baseline (mean)": np.full(80, float(np.mean(y))),
        "linear (ridge)": y + rng.normal(0, 4, 80),
    }
    out = report.plot_predicted_vs_actual(
        y, preds, tmp_path / "pva_refs.png", title="boston", target="medv", references=refs
    )
    _assert_png(out)
    plain = report.plot_predicted_vs_actual(y, preds, tmp_path / "pva.png", title="boston")
    assert out.read_bytes() != plain.read_bytes()
    with pytest.raises(ValueError, match="predictions for"):
        report.plot_predicted_vs_actual(
            y, preds, tmp_path / "x.png", title="t", references={"linear": np.zeros(3)}
        )


def _references_section(**over):
    sec = {
        "task": "regression",
        "metric": "test_rmse",
        "metrics": {
            "baseline (mean)": {"test_rmse": 7.943, "test_mae": 5.445},
            "linear (ridge)": {"test_rmse": 3.837, "test_mae": 2.725},
        },
        "verdicts": {
            "plain_vs_baseline": "better",
            "bn_vs_baseline": "better",
            "plain_vs_linear": "tie",
            "bn_vs_linear": "worse",
        },
        "headline": "boston: the linear model (test_rmse 3.84) is as good as or better "
        "than every variant",
        "seconds": 0.0123,
        "notes": ["<solver> did not converge"],
    }
    sec.update(over)
    return sec


def test_html_references_section():
    assert "References: is the network worth it?" not in _html()  # only when given
    page = _html(references=_references_section())
    assert "<h2>References: is the network worth it?</h2>" in page
    section = page.split("References: is the network worth it?")[1].split("<h2>")[0]
    for text in ("baseline (mean)", "linear (ridge)", "7.943", "2.725", "test_rmse"):
        assert text in section
    assert "as good as or better than every variant" in section
    assert section.count('class="verdict-better"') == 2
    assert 'class="verdict-worse"' in section and "no clear difference" in section
    assert "&lt;solver&gt; did not converge" in section and "<solver>" not in page
    # placed after the results table and before the bn - plain intervals
    assert page.index("Results (mean") < page.index("References:") < page.index("paired by seed")


def test_html_references_section_escapes_and_no_headline():
    evil = _references_section(
        headline=None,
        metrics={"<i>baseline</i>": {"test_rmse": 1.0}},
        verdicts={"plain_vs_baseline": "<b>better</b>"},
    )
    page = _html(references=evil)
    section = page.split("References: is the network worth it?")[1].split("<h2>")[0]
    assert "&lt;i&gt;baseline&lt;/i&gt;" in section and "<i>" not in section
    assert "&lt;b&gt;better&lt;/b&gt;" in section and "<b>better" not in section
    assert "beats both the baseline and the linear model on test_rmse" in section


def test_html_references_from_fitted_references():
    from bnpipe import references

    rng = np.random.default_rng(5)
    x = rng.normal(size=(120, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + rng.normal(0, 0.3, 120)
    refs = references.fit_references("regression", x[:90], y[:90, None], x[90:], y[90:])
    v = references.verdicts("regression", y[90:], refs, {"plain": y[90:], "bn": None}, "test_rmse")
    head = references.headline("toy", "regression", refs, v, "test_rmse")
    page = _html(references=references.report_section(refs, v, head, "test_rmse"))
    assert "linear (ridge)" in page and "baseline (mean)" in page
    assert head is None and "beats both" in page


# --------------------------------------------------------------------------- escaping


EVIL = "<script>alert('x')</script> R&D"


def test_html_escapes_names_columns_and_notes():
    """A dataset, a column and a note holding markup and ``&`` arrive as text."""
    drift = {
        "summary": f"drift warn on {EVIL}",
        "columns": [
            {
                "column": EVIL,
                "role": "feature",
                "psi": 0.2,
                "relation_change": None,
                "level": "warn",
            }
        ],
    }
    page = _html(
        dataset=EVIL,
        lineage={"url": "https://example.org/d.csv?a=1&b=2", EVIL: EVIL},
        table_headers=["variant", EVIL],
        table_rows=[["plain", "1.0"]],
        plots={EVIL: "learning_curves.png"},
        notes=[f"note {EVIL}"],
        drift=drift,
        champion_decision={"decision": EVIL, "model_uri": EVIL},
        references=_references_section(notes=[EVIL], metrics={EVIL: {EVIL: 1.0}}),
    )
    assert "<script" not in page and "</script>" not in page
    escaped = "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt; R&amp;D"
    # title, h1, sub, lineage key and value, results header, drift summary and column,
    # references row and header and note, plot alt and caption, decision, notes
    assert page.count(escaped) >= 15
    assert " R&D" not in page and "a=1&amp;b=2" in page
    assert f'alt="{escaped}"' in page and f"<code>{escaped}</code>" in page


def test_html_template_fails_on_a_missing_value():
    """StrictUndefined: a value the page needs but was not given raises, it does
    not render as an empty string."""
    import jinja2

    context = html.report_context(
        dataset="boston",
        lineage={},
        validation_summary="ok",
        table_headers=["variant"],
        table_rows=[],
        intervals=[],
        winner="tie",
        plots={},
        champion_decision=None,
        references=_references_section(),
    )
    assert "<h1>" in html.render("report.html.j2", context)
    for key in context:
        partial = {k: v for k, v in context.items() if k != key}
        with pytest.raises(jinja2.UndefinedError, match=key):
            html.render("report.html.j2", partial)
    refs = {k: v for k, v in context["references"].items() if k != "seconds"}
    with pytest.raises(jinja2.UndefinedError, match="seconds"):
        html.render("report.html.j2", {**context, "references": refs})


def test_sweep_page_escapes_and_needs_every_value(tmp_path):
    import jinja2

    from bnpipe.sweep import report as sweep_report

    png = tmp_path / "forest.png"
    png.write_bytes(PNG_SIGNATURE + b"data")
    rows = [[EVIL, "+0.1", "0 to 0.2", "0.01", "0.02", "0%/0%", "**bn**"]]
    page = sweep_report.render_html(EVIL, rows, {EVIL: png}, f"intro {EVIL}")
    assert "<script" not in page and page.count("&lt;script&gt;") == 6
    assert "<td>bn</td>" in page  # the Markdown bold is dropped
    assert 'src="data:image/png;base64,iVBORw0KGgpkYXRh"' in page
    context = {"title": "t", "intro": "i", "headers": [], "rows": [], "plots": []}
    html.render("sweep.html.j2", context)
    for key in context:
        with pytest.raises(jinja2.UndefinedError, match=key):
            html.render("sweep.html.j2", {k: v for k, v in context.items() if k != key})


# --------------------------------------------------------------------------- one comparison's files


@pytest.fixture(scope="module")
def regression():
    return comparisons.comparison("regression")


@pytest.fixture(scope="module")
def classification():
    return comparisons.comparison("classification")


def test_results_table_puts_references_below_the_variants(regression):
    headers, rows = report.results_table(regression.summary)
    assert headers == ["variant", "test_rmse", "test_mae", "test_r2"]
    assert [r[0] for r in rows] == ["plain", "bn"] and "±" in rows[0][1]
    _, with_refs = report.results_table(regression.summary, regression.check)
    assert with_refs[:2] == rows
    assert [r[0] for r in with_refs[2:]] == ["baseline (mean)", "linear (ridge)"]
    assert not any("±" in c for r in with_refs[2:] for c in r)


def test_drift_section(regression):
    from bnpipe.gate import DriftCheck

    assert report.drift_section(None) is None
    assert report.drift_section(DriftCheck(None, None)) == {
        "summary": "no champion yet: nothing to compare with"
    }
    assert report.drift_section(DriftCheck("3", None))["summary"].startswith(
        "no drift reference: champion v3 has no data profile"
    )
    section = report.drift_section(comparisons.drift_check(regression, shift=2.0))
    assert section["summary"].startswith("drift block") and "x0" in section["summary"]
    assert [c["column"] for c in section["columns"]] == ["x0", "x1", "y"]
    assert section["columns"][0]["level"] == "block"


def test_artifact_key():
    assert report.artifact_key("boston") == "boston"
    assert report.artifact_key("bike-sharing") == "bike-sharing"
    assert report.artifact_key("My_Data") != report.artifact_key("my-data")
    assert re.fullmatch(r"my-data-[0-9a-f]{6}", report.artifact_key("My_Data"))
    assert re.fullmatch(r"dataset-[0-9a-f]{6}", report.artifact_key("___"))


def test_lineage(regression):
    rows = report.lineage(regression.spec, regression.snap, regression.data)
    n = len(comparisons.frame("regression"))
    assert rows["dataset"] == "toy" and rows["sha256"] == "ab" * 32
    assert rows["url"] == "https://example.org/data/toy.csv" and rows["source"] == "upstream"
    assert rows["rows"] == n and sum(map(int, rows["train/val/test rows"].split("/"))) == n
    assert not any(k.startswith("rows left out") for k in rows)  # nothing dropped


def test_markdown_report(regression):
    from bnpipe import registry

    c = regression
    held = registry.hold(comparisons.decision(c), ["drift above the block level: x0"])
    md = report.markdown_report(
        c.spec, c.snap, c.summary, held, comparisons.drift_check(c, 2.0), c.check
    )
    lines = md.splitlines()
    assert lines[0] == "## toy: plain vs BatchNorm"
    assert lines[2].startswith(f"**Winner on test_rmse: {c.summary.winner}** · bn − plain ")
    assert "bnpipe-toy v2: held" in lines[2] and c.check.headline in lines[2]
    assert "Data: sha256 `abababababab` from **upstream** (https://example.org/data/toy.csv)" in md
    assert "| baseline (mean) |" in md and "plain vs baseline **better**" in md
    assert "**Drift against the champion's data:** drift block" in md
    assert "(champion was v1, test_rmse" in md and ": **held** — challenger better" in md
    assert lines[-1] == "- held: drift above the block level: x0" and md.endswith("\n")
    bare = report.markdown_report(c.spec, c.snap, c.summary, None)
    assert "Registry" not in bare and "references" not in bare and "Drift" not in bare


@pytest.mark.slow  # matplotlib
@pytest.mark.parametrize("task", ["regression", "classification"])
def test_write_comparison_report(task, regression, classification, tmp_path):
    c = regression if task == "regression" else classification
    md = report.write_comparison_report(
        tmp_path,
        spec=c.spec,
        snap=c.snap,
        data=c.data,
        results=c.results,
        summary=c.summary,
        validation_summary="3 expectations, 3 passed",
        decision=comparisons.decision(c),
        drift=comparisons.drift_check(c),
        check=c.check,
    )
    plots = (
        ["predicted_vs_actual.png"]
        if task == "regression"
        else ["confusion_bn.png", "confusion_plain.png"]
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        ["comparison.html", "comparison.md", "learning_curves.png", *plots]
    )
    for name in ["learning_curves.png", *plots]:
        _assert_png(tmp_path / name)
    assert (tmp_path / "comparison.md").read_text("utf-8") == md
    assert md == report.markdown_report(
        c.spec, c.snap, c.summary, comparisons.decision(c),
        comparisons.drift_check(c), c.check,
    )  # fmt: skip
    page = (tmp_path / "comparison.html").read_text("utf-8")
    for name in ["learning_curves.png", *plots]:
        assert f'src="{name}"' in page
    for text in (
        "<h2>Data lineage</h2>",
        "<code>" + "ab" * 32 + "</code>",
        "3 expectations, 3 passed",
        "<h2>Drift against the champion's data</h2>",
        "<h2>References: is the network worth it?</h2>",
        c.check.headline,
        "<b>reason:</b> challenger better on today",
        "bnpipe-toy",
    ):
        assert text in page, text
    headers, rows = report.results_table(c.summary, c.check)
    for cell in [*headers, *(x for r in rows for x in r)]:
        assert f">{cell}<" in page, cell

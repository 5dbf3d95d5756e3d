"""Plots and the plain-vs-BatchNorm comparison report (PNG, text, Markdown, HTML).

Inputs are plain Python/numpy data; nothing here knows Keras, MLflow or Prefect.
Plots use matplotlib's object-oriented API on an Agg canvas (no global backend
switch, no pyplot state), imported inside the functions so importing this module
costs nothing.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bnpipe.references import LABELS as _REFERENCE_LABELS
from bnpipe.stats import PairedInterval, Summary

VARIANT_COLOURS: dict[str, str] = {"plain": "#1f77b4", "bn": "#d62728"}
_EXTRA_COLOURS = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
FIGSIZE = (8.0, 5.0)
DPI = 110


def _colour(variant: str, i: int) -> str:
    return VARIANT_COLOURS.get(variant, _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)])


def _new_figure(figsize: tuple[float, float] = FIGSIZE) -> Any:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from bnpipe.fonts import use_script_fonts

    use_script_fonts()  # Hangul and other scripts, e.g. the notebook's Korean names
    fig = Figure(figsize=figsize, dpi=DPI, layout="tight")
    FigureCanvasAgg(fig)
    return fig


def preload() -> None:
    """Import matplotlib's Agg canvas and draw a throwaway figure with text (font
    loading), ~1 s the first plot of a process would otherwise pay."""
    import io

    fig = _new_figure((2.0, 1.5))
    fig.add_subplot().set_title("preload")
    fig.savefig(io.BytesIO(), format="png")


def _save(fig: Any, path: Path | str) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format="png", dpi=DPI)
    return path


# --------------------------------------------------------------------------- plots


def _stack_runs(runs: Sequence[Sequence[float]]) -> np.ndarray:
    """Seeds x epochs, padded with NaN to the longest run; non-finite -> NaN."""
    length = max((len(r) for r in runs), default=0)
    out = np.full((len(runs), length), np.nan)
    for i, r in enumerate(runs):
        v = np.asarray(r, dtype=float).ravel()
        out[i, : v.size] = np.where(np.isfinite(v), v, np.nan)
    return out


_REFERENCE_COLOURS = ("#6b6b6b", "#b8860b", "#2f4f4f", "#8b4513")
_REFERENCE_DASHES = ((0, (6, 3)), (0, (2, 2)), (0, (8, 2, 2, 2)), (0, (4, 4)))


def _reference_hlines(ax: Any, losses: Mapping[str, float] | None, *, log_y: bool) -> None:
    for j, (name, value) in enumerate((losses or {}).items()):
        v = float(value)
        if not math.isfinite(v) or (log_y and v <= 0):
            continue
        ax.axhline(
            v,
            color=_REFERENCE_COLOURS[j % len(_REFERENCE_COLOURS)],
            linestyle=_REFERENCE_DASHES[j % len(_REFERENCE_DASHES)],
            linewidth=1.3,
            label=f"{name} = {v:.3g}",
        )


def plot_learning_curves(
    histories: Mapping[str, Sequence[Mapping[str, Sequence[float]]]],
    path: Path | str,
    *,
    title: str,
    log_y: bool = True,
    ylabel: str = "loss",
    keys: Sequence[str] = ("loss", "val_loss"),
    reference_losses: Mapping[str, float] | None = None,
) -> Path:
    """Train and validation loss per epoch, one colour per variant, over seeds.

    ``histories[variant]`` is a list over seeds of ``{"loss": [...], "val_loss": [...]}``
    (a Keras ``History.history``). For each variant and key the line is the mean
    over seeds at each epoch and the band spans min..max over seeds; train is solid,
    validation dashed. Non-finite values (diverged seeds) and, on a log axis,
    non-positive ones are left out; runs of different lengths are allowed.

    ``reference_losses`` maps a legend label to a loss drawn as a horizontal
    dashed line across the epochs, e.g. ``{"baseline (mean): test MSE": 84.1}``
    (``references.reference_losses``). It must be in the units of the curves:
    the training loss on the test rows (regression: MSE = ``test_rmse ** 2``;
    classification: log loss), not a metric. Non-finite values, and on a log axis
    non-positive ones, are left out.
    """
    import warnings

    fig = _new_figure()
    ax = fig.add_subplot()
    styles = {keys[0]: ("-", "train"), **{k: ("--", "validation") for k in keys[1:]}}
    n_seeds: dict[str, int] = {}
    plotted = False
    for i, (variant, runs) in enumerate(histories.items()):
        colour = _colour(variant, i)
        n_seeds[variant] = len(runs)
        for key in keys:
            series = [r[key] for r in runs if key in r]
            if not series:
                continue
            y = _stack_runs(series)
            if log_y:
                y[y <= 0] = np.nan
            has = np.any(np.isfinite(y), axis=0)
            if not has.any():
                continue
            epochs = np.arange(1, y.shape[1] + 1)[has]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)
                mean = np.nanmean(y[:, has], axis=0)
                lo = np.nanmin(y[:, has], axis=0)
                hi = np.nanmax(y[:, has], axis=0)
            linestyle, part = styles.get(key, ("-.", key))
            label = f"{variant} {part} ({len(series)} seed{'s' * (len(series) != 1)})"
            ax.plot(epochs, mean, color=colour, linestyle=linestyle, linewidth=1.6, label=label)
            if len(series) > 1:
                ax.fill_between(
                    epochs,
                    lo,
                    hi,
                    color=colour,
                    alpha=0.15 if part == "train" else 0.08,
                    linewidth=0,
                )
            plotted = True
    if plotted:
        _reference_hlines(ax, reference_losses, log_y=log_y)
    if not plotted:
        ax.text(0.5, 0.5, "no finite loss values", ha="center", va="center", transform=ax.transAxes)
    if log_y and plotted:
        ax.set_yscale("log")
    ax.set_xlabel("epoch")
    ax.set_ylabel(f"{ylabel} (log scale)" if log_y else ylabel)
    ax.set_title(title)
    ax.grid(True, which="major", alpha=0.35)
    if log_y:
        ax.grid(True, which="minor", alpha=0.12)
    if plotted:
        ax.legend(
            loc="upper right",
            fontsize=8.5,
            title="line: mean over seeds · band: min–max",
            title_fontsize=8,
        )
    return _save(fig, path)


def plot_confusion_matrix(
    y_true_idx: np.ndarray,
    y_pred_idx: np.ndarray,
    class_names: Sequence[str],
    path: Path | str,
    *,
    title: str,
) -> Path:
    """Counts of (true class, predicted class), annotated in each cell; rows are the
    true class. Accuracy is shown under the matrix."""
    t = np.asarray(y_true_idx, dtype=int).ravel()
    p = np.asarray(y_pred_idx, dtype=int).ravel()
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} rows but y_pred has {p.size}")
    k = len(class_names)
    if t.size and (min(t.min(), p.min()) < 0 or max(t.max(), p.max()) >= k):
        raise ValueError(f"class indices must lie in [0, {k - 1}]")
    counts = np.zeros((k, k), dtype=int)
    np.add.at(counts, (t, p), 1)

    side = max(4.8, min(9.0, 1.2 * k + 2.6))
    fig = _new_figure((side + 0.9, side))
    ax = fig.add_subplot()
    im = ax.imshow(counts, cmap="Blues", vmin=0, vmax=max(1, counts.max()))
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="rows")
    threshold = counts.max() / 2.0
    for i in range(k):
        for j in range(k):
            ax.text(
                j,
                i,
                str(counts[i, j]),
                ha="center",
                va="center",
                fontsize=13,
                fontweight="bold" if i == j else "normal",
                color="white" if counts[i, j] > threshold else "#222222",
            )
    ax.set_xticks(range(k), labels=[str(c) for c in class_names], rotation=30 if k > 4 else 0)
    ax.set_yticks(range(k), labels=[str(c) for c in class_names])
    acc = float(np.mean(t == p)) if t.size else float("nan")
    ax.set_xlabel(f"predicted class\n(accuracy {acc:.1%} on {t.size} rows)")
    ax.set_ylabel("true class")
    ax.set_title(title)
    return _save(fig, path)


def plot_predicted_vs_actual(
    y_true: np.ndarray,
    preds_by_variant: Mapping[str, np.ndarray],
    path: Path | str,
    *,
    title: str,
    target: str = "target",
    references: Mapping[str, np.ndarray] | None = None,
) -> Path:
    """Predicted against actual values, one colour per variant, with the ``y = x``
    line; the legend gives each variant's RMSE. Non-finite predictions are skipped.

    ``references`` maps a label to a reference model's test predictions
    (``references.prediction_series``): a constant prediction (the training mean)
    is drawn as a horizontal dotted line, any other (the linear model) as one more
    grey series of hollow markers; each legend entry gives its RMSE.
    """
    t = np.asarray(y_true, dtype=float).ravel()
    fig = _new_figure((7.0, 6.0))
    ax = fig.add_subplot()
    lims: list[float] = [float(np.nanmin(t)), float(np.nanmax(t))] if t.size else [0.0, 1.0]
    markers = ("o", "^", "s", "D", "v", "P")
    for i, (variant, pred) in enumerate(preds_by_variant.items()):
        p = np.asarray(pred, dtype=float).ravel()
        if p.shape != t.shape:
            raise ValueError(f"{variant}: {p.size} predictions for {t.size} rows")
        ok = np.isfinite(p) & np.isfinite(t)
        skipped = int(t.size - ok.sum())
        if ok.any():
            rmse = float(np.sqrt(np.mean((p[ok] - t[ok]) ** 2)))
            lims += [float(p[ok].min()), float(p[ok].max())]
            label = f"{variant} (RMSE {rmse:.3g})"
        else:
            label = f"{variant} (no finite predictions)"
        if skipped:
            label += f", {skipped} non-finite skipped"
        ax.scatter(
            t[ok],
            p[ok],
            s=26,
            alpha=0.7,
            color=_colour(variant, i),
            marker=markers[i % len(markers)],
            edgecolors="white",
            linewidths=0.4,
            label=label,
        )
    hlines: list[tuple[str, float, str]] = []
    for j, (name, pred) in enumerate((references or {}).items()):
        p = np.asarray(pred, dtype=float).ravel()
        if p.size == 1:
            p = np.full(t.shape, p[0])
        if p.shape != t.shape:
            raise ValueError(f"{name}: {p.size} predictions for {t.size} rows")
        ok = np.isfinite(p) & np.isfinite(t)
        if not ok.any():
            continue
        rmse = float(np.sqrt(np.mean((p[ok] - t[ok]) ** 2)))
        colour = _REFERENCE_COLOURS[j % len(_REFERENCE_COLOURS)]
        lims += [float(p[ok].min()), float(p[ok].max())]
        if np.ptp(p[ok]) == 0:
            hlines.append((f"{name} (RMSE {rmse:.3g})", float(p[ok][0]), colour))
            continue
        ax.scatter(
            t[ok],
            p[ok],
            s=30,
            facecolors="none",
            edgecolors=colour,
            linewidths=0.9,
            marker="s",
            label=f"{name} (RMSE {rmse:.3g})",
        )
    lo, hi = min(lims), max(lims)
    pad = 0.04 * (hi - lo or 1.0)
    lo, hi = lo - pad, hi + pad
    ax.plot([lo, hi], [lo, hi], color="#555555", linestyle="--", linewidth=1.0, label="y = x")
    for name, value, colour in hlines:
        ax.plot([lo, hi], [value, value], color=colour, linestyle=":", linewidth=1.6, label=name)
    ax.set_xlim(lo, hi)
    ax.set_ylim(lo, hi)
    ax.set_aspect("equal")
    ax.set_xlabel(f"actual {target}")
    ax.set_ylabel(f"predicted {target}")
    ax.set_title(title)
    ax.grid(True, alpha=0.35)
    ax.legend(loc="upper left", fontsize=9)
    return _save(fig, path)


# --------------------------------------------------------------------------- tables


def _decimals_for(std: float, mean: float) -> int:
    """Two significant digits of the std; four of the mean when the std is 0/NaN."""
    if math.isfinite(std) and std > 0:
        return max(0, min(6, 1 - math.floor(math.log10(std))))
    if math.isfinite(mean) and mean != 0:
        return max(0, min(6, 3 - math.floor(math.log10(abs(mean)))))
    return 4


def format_mean_std(s: Summary) -> str:
    """``"3.21 ± 0.15"`` (std to two significant digits, the mean to match);
    diverged seeds are noted, e.g. ``"3.21 ± 0.15 (1 of 5 non-finite)"``."""
    if s.n == 0:
        text = "n/a"
    else:
        d = _decimals_for(s.std, s.mean)
        text = f"{s.mean:.{d}f} ± {s.std:.{d}f}"
    if s.n_nonfinite:
        text += f" ({s.n_nonfinite} of {s.n + s.n_nonfinite} non-finite)"
    return text


def comparison_headers(metrics: Sequence[str]) -> list[str]:
    """Headers matching ``comparison_table``: ``["variant", *metrics]``."""
    return ["variant", *metrics]


def comparison_table(
    summaries: Mapping[str, Mapping[str, Summary]], metrics: Sequence[str]
) -> list[list[str]]:
    """One row per variant: the variant name, then ``"mean ± std"`` per metric
    (``"n/a"`` for a metric the variant lacks)."""
    rows: list[list[str]] = []
    for variant, by_metric in summaries.items():
        row = [str(variant)]
        for m in metrics:
            s = by_metric.get(m)
            row.append(format_mean_std(s) if s is not None else "n/a")
        rows.append(row)
    return rows


def format_value(x: float | None) -> str:
    """A single value (no seeds, no ±) to four significant digits, as
    ``format_mean_std`` shows a mean whose std is 0; ``"n/a"`` when not finite."""
    if x is None or not math.isfinite(float(x)):
        return "n/a"
    return f"{float(x):.{_decimals_for(float('nan'), float(x))}f}"


def _infer_task(metrics: Sequence[str]) -> str:
    from bnpipe.evaluation import CLASSIFICATION_METRICS

    return "classification" if set(metrics) & set(CLASSIFICATION_METRICS) else "regression"


def reference_rows(
    refs_metrics: Mapping[str, Mapping[str, float]],
    metrics: Sequence[str],
    *,
    task: str | None = None,
) -> list[list[str]]:
    """Rows for the reference models, to append below ``comparison_table``'s rows
    (same columns): the label, then one value per metric (``format_value``).

    ``refs_metrics`` maps a row label to its metrics, e.g.
    ``References.table_metrics()``; the keys ``"baseline"`` and ``"linear"`` are
    spelled out as ``"baseline (mean)"``/``"baseline (prior)"`` and
    ``"linear (ridge)"``/``"linear (logistic)"`` (the task is inferred from the
    metric names unless given).
    """
    labels = _REFERENCE_LABELS[task or _infer_task(metrics)]
    rows: list[list[str]] = []
    for name, by_metric in refs_metrics.items():
        row = [labels.get(str(name), str(name))]
        row.extend(format_value(by_metric.get(m)) for m in metrics)
        rows.append(row)
    return rows


def format_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A plain-text table: first column left-aligned, the others right-aligned,
    a dashed rule under the headers, two spaces between columns."""
    cells = [[str(h) for h in headers], *[[str(c) for c in r] for r in rows]]
    ncol = max(len(r) for r in cells)
    for r in cells:
        r.extend([""] * (ncol - len(r)))
    widths = [max(len(r[j]) for r in cells) for j in range(ncol)]

    def line(r: list[str]) -> str:
        parts = [r[0].ljust(widths[0])] + [r[j].rjust(widths[j]) for j in range(1, ncol)]
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([line(cells[0]), rule, *(line(r) for r in cells[1:])])


def _md_cell(x: object) -> str:
    return str(x).replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def headline(
    primary: str,
    winner: str,
    interval: PairedInterval | None,
    *,
    registry: str | None = None,
    reference: str | None = None,
) -> str:
    """The answer in one line (Markdown): the winner, the bn − plain interval of the
    primary metric, the registry's decision and the references' headline. It leads
    the report, so the MLflow UI shows it before "Show more"."""
    line = f"**Winner on {primary}: {winner}**"
    if interval is not None and math.isfinite(interval.ci_low):  # two seeds or more
        line += (
            f" · bn − plain {interval.mean:+.4g} "
            f"(95% CI {interval.ci_low:+.4g} to {interval.ci_high:+.4g})"
        )
    if registry:
        line += f" · {registry}"
    if reference:
        line += f" · {reference}"
    return line


def markdown_table(rows: Sequence[Sequence[object]], headers: Sequence[str]) -> str:
    """A GitHub-flavoured Markdown table (pipes in cells escaped)."""
    head = "| " + " | ".join(_md_cell(h) for h in headers) + " |"
    rule = "|" + "|".join(["---"] + ["---:"] * (len(headers) - 1)) + "|"
    body = ["| " + " | ".join(_md_cell(c) for c in r) + " |" for r in rows]
    return "\n".join([head, rule, *body])


# --------------------------------------------------------------------------- verdicts


def _num(x: float) -> str:
    return f"{x:.3g}" if math.isfinite(x) else "nan"


def describe_interval(iv: PairedInterval) -> str:
    """A plain-words verdict, e.g. ``"bn lower by 0.8 (95% CI 0.2 to 1.4): bn better"``
    or ``"no clear difference: bn - plain = -0.3 (95% CI -0.9 to 0.4)"``."""
    cand, base = iv.candidate, iv.baseline
    pct = f"{iv.level:.0%}"
    dropped = f"; {iv.n_dropped} non-finite pair(s) left out" if iv.n_dropped else ""
    if iv.n == 0 or not math.isfinite(iv.mean):
        return f"cannot compare: no finite {cand} - {base} difference{dropped}"
    if iv.n < 2:
        return (
            f"cannot tell from one seed: {cand} - {base} = {_num(iv.mean)} "
            f"(needs 2+ seeds for an interval){dropped}"
        )
    side = iv.better()
    if side == "tie":
        return (
            f"no clear difference: {cand} - {base} = {_num(iv.mean)} "
            f"({pct} CI {_num(iv.ci_low)} to {_num(iv.ci_high)}){dropped}"
        )
    if iv.ci_low > 0:
        word, lo, hi, size = "higher", iv.ci_low, iv.ci_high, iv.mean
    else:
        word, lo, hi, size = "lower", -iv.ci_high, -iv.ci_low, -iv.mean
    return (
        f"{cand} {word} by {_num(size)} ({pct} CI {_num(lo)} to {_num(hi)}): {side} better{dropped}"
    )


def interval_rows(intervals: Sequence[PairedInterval]) -> list[list[str]]:
    """Rows for an intervals table: metric, better direction, mean difference,
    CI, seeds (or rows), verdict."""
    rows = []
    for iv in intervals:
        rows.append(
            [
                iv.metric,
                "higher" if iv.higher_is_better else "lower",
                _num(iv.mean),
                "n/a"
                if not (math.isfinite(iv.ci_low) and math.isfinite(iv.ci_high))
                else f"{_num(iv.ci_low)} to {_num(iv.ci_high)}",
                str(iv.n),
                describe_interval(iv),
            ]
        )
    return rows


INTERVAL_HEADERS = ["metric", "better", "mean diff", "CI", "n", "verdict"]

# --------------------------------------------------------------------------- HTML

_CSS = """
body{font-family:-apple-system,"Segoe UI",Roboto,"Helvetica Neue",Arial,"Noto Sans",sans-serif;
 max-width:1100px;margin:2rem auto;padding:0 1.2rem;color:#1d2433;line-height:1.5}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem;
 border-bottom:1px solid #d6dbe4;padding-bottom:.25rem}
.sub{color:#5a6478;margin-top:0}
table{border-collapse:collapse;margin:.6rem 0;font-size:.93rem}
th,td{border:1px solid #d6dbe4;padding:.35rem .6rem;text-align:left;vertical-align:top}
th{background:#f1f4f9}td.num{text-align:right;font-variant-numeric:tabular-nums}
code,pre{font-family:ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;font-size:.88rem}
pre{background:#f6f8fb;border:1px solid #e1e6ee;padding:.7rem;white-space:pre-wrap;
 word-break:break-word}
.verdict-bn,.verdict-challenger{color:#a11d1d;font-weight:600}
.verdict-plain,.verdict-champion{color:#1f4f8f;font-weight:600}
.verdict-tie{color:#5a6478}
.verdict-better{color:#1d6b2f;font-weight:600}.verdict-worse{color:#a11d1d;font-weight:600}
.winner{font-size:1.05rem;padding:.6rem .8rem;background:#f6f8fb;border-left:4px solid #8a94a8}
figure{margin:1rem 0}figure img{max-width:100%;border:1px solid #e1e6ee}
figcaption{color:#5a6478;font-size:.9rem}
ul.notes li{margin:.2rem 0}
"""


def _e(x: object) -> str:
    return html.escape(str(x), quote=True)


def _kv_table(items: Mapping[str, object]) -> str:
    rows = []
    for k, v in items.items():
        if isinstance(v, PairedInterval):
            val = _e(describe_interval(v))
        elif str(k).lower() in {"sha256", "url", "uri", "run_id", "model_uri"}:
            val = f"<code>{_e(v)}</code>"
        else:
            val = _e(v)
        rows.append(f"<tr><th>{_e(k)}</th><td>{val}</td></tr>")
    return "<table>" + "".join(rows) + "</table>"


def _html_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in headers)
    body = []
    for r in rows:
        tds = [f"<td>{_e(r[0])}</td>"] + [f'<td class="num">{_e(c)}</td>' for c in r[1:]]
        body.append("<tr>" + "".join(tds) + "</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def _check_relative(src: str) -> str:
    s = str(src)
    if "://" in s or s.startswith(("/", "\\", "data:", "//")) or ":" in s.split("/")[0]:
        raise ValueError(f"plot {s!r} must be a relative file name (a sibling artifact)")
    return s


def _drift_section(drift: Mapping[str, Any] | None) -> str:
    """``drift`` = {"summary": str, "columns": [ {column, role, psi, relation_change,
    level}, ...]} or {"summary": str} when nothing was compared."""
    if not drift:
        return "<p>(not measured)</p>"
    out = [f"<p>{_e(drift.get('summary', ''))}</p>"]
    columns = drift.get("columns") or []
    if columns:
        rows = [
            [
                c["column"],
                c["role"],
                "n/a" if c.get("psi") is None else f"{c['psi']:.3g}",
                "n/a" if c.get("relation_change") is None else f"{c['relation_change']:.3g}",
                c["level"],
            ]
            for c in columns
        ]
        out.append(_html_table(["column", "role", "PSI", "relation change", "level"], rows))
    return "\n".join(out)


_VERDICT_WORDS = {"better": "better", "tie": "no clear difference", "worse": "worse"}


def _references_section(refs: Mapping[str, Any]) -> str:
    out = ["<h2>References: is the network worth it?</h2>"]
    metric = str(refs.get("metric") or "")
    by_label: Mapping[str, Mapping[str, float]] = refs.get("metrics") or {}
    headline = refs.get("headline")
    verdicts: Mapping[str, str] = refs.get("verdicts") or {}
    if headline:
        out.append(f'<p class="winner">{_e(headline)}</p>')
    elif verdicts:
        out.append(
            '<p class="winner">A variant beats both the baseline and the linear model'
            f"{f' on {_e(metric)}' if metric else ''}.</p>"
        )
    if by_label:
        names = list(dict.fromkeys(m for v in by_label.values() for m in v))
        task = refs.get("task")
        rows = reference_rows(by_label, names, task=task if task in _REFERENCE_LABELS else None)
        out.append(_html_table(["reference", *names], rows))
    seconds = refs.get("seconds")
    if isinstance(seconds, int | float) and math.isfinite(seconds):
        out.append(f'<p class="sub">fitted and scored in {_e(f"{seconds:.2f}")} s</p>')
    if verdicts:
        task = refs.get("task")
        labels = _REFERENCE_LABELS.get(str(task), {})
        on = f" on {_e(metric)}" if metric else ""
        out.append(
            f"<p>Each variant's best seed against each reference{on}, paired over the "
            "test rows as the champion decision is (95% row-bootstrap interval of "
            "variant − reference; a tie when it contains 0).</p>"
        )
        body = []
        for key, word in verdicts.items():
            variant, _, ref = str(key).partition("_vs_")
            ref_label = labels.get(ref, ref)
            cls = f"verdict-{word}" if word in _VERDICT_WORDS else ""
            body.append(
                f"<tr><td>{_e(variant)}</td><td>{_e(ref_label)}</td>"
                f'<td class="{_e(cls)}">{_e(_VERDICT_WORDS.get(str(word), word))}</td></tr>'
            )
        out.append(
            "<table><thead><tr><th>variant</th><th>against</th><th>verdict</th></tr></thead>"
            f"<tbody>{''.join(body)}</tbody></table>"
        )
    notes = refs.get("notes") or ()
    if notes:
        out.append('<ul class="notes">' + "".join(f"<li>{_e(n)}</li>" for n in notes) + "</ul>")
    return "\n".join(out)


def render_html_report(
    *,
    dataset: str,
    lineage: Mapping[str, str | int],
    validation_summary: str,
    table_headers: Sequence[str],
    table_rows: Sequence[Sequence[object]],
    intervals: Sequence[PairedInterval],
    winner: str,
    plots: Mapping[str, str],
    champion_decision: Mapping[str, Any] | None,
    notes: Sequence[str] = (),
    primary_metric: str | None = None,
    drift: Mapping[str, Any] | None = None,
    references: Mapping[str, Any] | None = None,
) -> str:
    """A self-contained HTML page (inline CSS; no scripts, no external links).

    Sections: lineage (url, sha256, rows, ...), validation summary, results table,
    the ``bn - plain`` intervals with a verdict per metric, plots (``plots`` maps
    a caption to a *relative* PNG file name logged next to the report; absolute
    paths and URLs raise ``ValueError``), the champion decision (any mapping; the
    keys ``decision`` and ``reason`` are shown first, a ``PairedInterval`` value is
    put into words) and notes. All text is HTML-escaped.

    ``references`` (``references.report_section``) adds the section "References:
    is the network worth it?" after the results: the baseline and linear metrics
    (``metrics``: label -> metric -> value), the four verdicts (``verdicts``:
    ``plain_vs_baseline`` ... -> better/tie/worse, on ``metric``) and the
    ``headline`` (or a line saying the networks beat both references). Optional
    keys: ``task``, ``seconds``, ``notes``. Without it the section is left out.
    """
    parts: list[str] = []
    title = f"bnpipe — {dataset}: plain vs BatchNorm"
    parts.append(
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>"
    )
    parts.append(f"<h1>{_e(title)}</h1>")
    n_seeds = max((iv.n + iv.n_dropped for iv in intervals), default=0)
    sub = f"dataset <b>{_e(dataset)}</b>"
    if n_seeds:
        sub += f" · {n_seeds} seed{'s' * (n_seeds != 1)} per variant"
    parts.append(f'<p class="sub">{sub}</p>')

    primary = primary_metric or (intervals[0].metric if intervals else "")
    decided = {
        "bn": "bn (BatchNorm) is better",
        "plain": "plain is better",
        "tie": "no clear winner",
    }.get(winner, winner)
    on = f" on {_e(primary)}" if primary else ""
    primary_iv = next((iv for iv in intervals if iv.metric == primary), None)
    if winner == "tie" and primary_iv is not None and primary_iv.leaning() != "tie":
        decided += f" (the mean favours {primary_iv.leaning()}, not conclusively)"
    parts.append(
        f'<p class="winner">Winner{on}: <span class="verdict-{_e(winner)}">{_e(decided)}</span></p>'
    )

    parts.append("<h2>Data lineage</h2>")
    parts.append(_kv_table(lineage) if lineage else "<p>(none recorded)</p>")

    parts.append("<h2>Validation</h2>")
    parts.append(f"<pre>{_e(validation_summary)}</pre>")

    parts.append("<h2>Drift against the champion's data</h2>")
    parts.append(_drift_section(drift))

    parts.append("<h2>Results (mean ± std over seeds)</h2>")
    parts.append(_html_table(table_headers, table_rows))

    if references is not None:
        parts.append(_references_section(references))

    parts.append("<h2>bn − plain, paired by seed</h2>")
    if intervals:
        methods = sorted({iv.method for iv in intervals})
        parts.append(
            "<p>Each row is the mean over seeds of (bn − plain) with its "
            f"{_e(f'{intervals[0].level:.0%}')} interval ({_e(', '.join(methods))}). "
            "For lower-is-better metrics a negative difference favours bn.</p>"
        )
        head = "".join(f"<th>{_e(h)}</th>" for h in INTERVAL_HEADERS)
        body = []
        for iv, row in zip(intervals, interval_rows(intervals), strict=True):
            cls = f"verdict-{iv.better()}"
            tds = (
                f"<td>{_e(row[0])}</td><td>{_e(row[1])}</td>"
                f'<td class="num">{_e(row[2])}</td><td class="num">{_e(row[3])}</td>'
                f'<td class="num">{_e(row[4])}</td><td class="{_e(cls)}">{_e(row[5])}</td>'
            )
            body.append(f"<tr>{tds}</tr>")
        parts.append(f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")
    else:
        parts.append("<p>(no intervals)</p>")

    parts.append("<h2>Plots</h2>")
    if plots:
        for caption, src in plots.items():
            rel = _check_relative(src)
            parts.append(
                f'<figure><img src="{_e(rel)}" alt="{_e(caption)}">'
                f"<figcaption>{_e(caption)}</figcaption></figure>"
            )
    else:
        parts.append("<p>(no plots)</p>")

    parts.append("<h2>Champion decision</h2>")
    if champion_decision:
        cd = dict(champion_decision)
        for key in ("decision", "reason"):
            if key in cd:
                parts.append(f"<p><b>{_e(key)}:</b> {_e(cd.pop(key))}</p>")
        if cd:
            parts.append(_kv_table(cd))
    else:
        parts.append("<p>No champion decision was made in this run.</p>")

    if notes:
        parts.append('<h2>Notes</h2><ul class="notes">')
        parts.extend(f"<li>{_e(n)}</li>" for n in notes)
        parts.append("</ul>")
    parts.append("</body></html>\n")
    return "\n".join(parts)

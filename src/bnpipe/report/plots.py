"""The comparison's figures as PNG files: learning curves, confusion matrix,
predicted vs actual.

Plots use matplotlib's object-oriented API on an Agg canvas (no global backend
switch, no pyplot state), imported inside the functions so importing this module
costs nothing. Inputs are plain Python/numpy data.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

VARIANT_COLOURS: dict[str, str] = {"plain": "#1f77b4", "bn": "#d62728"}
_EXTRA_COLOURS = ("#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
FIGSIZE = (8.0, 5.0)
DPI = 110


def seed_label(variant: str, seed: int) -> str:
    """Which model of a variant a plot shows: the seed the leader rule chose."""
    return f"{variant}, seed {seed} (chosen on the validation rows)"


def _colour(variant: str, i: int) -> str:
    return VARIANT_COLOURS.get(variant, _EXTRA_COLOURS[i % len(_EXTRA_COLOURS)])


def new_figure(figsize: tuple[float, float] = FIGSIZE) -> Any:
    """A matplotlib ``Figure`` on its own Agg canvas, with the script fonts
    registered (the sweep's figures use it too)."""
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

    fig = new_figure((2.0, 1.5))
    fig.add_subplot().set_title("preload")
    fig.savefig(io.BytesIO(), format="png")


def save_png(fig: Any, path: Path | str) -> Path:
    """Write ``fig`` as a PNG at :data:`DPI`, creating the folder; returns the path.
    The PNG's ``Description`` text holds its titles and legend entries: what the
    picture says, for a reader without the picture (and for the tests)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    said = []
    for ax in fig.axes:
        said += [ax.get_title()] if ax.get_title() else []
        legend = ax.get_legend()
        said += [t.get_text() for t in legend.get_texts()] if legend is not None else []
    fig.savefig(path, format="png", dpi=DPI, metadata={"Description": " | ".join(said)})
    return path


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

    fig = new_figure()
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
    return save_png(fig, path)


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
    fig = new_figure((side + 0.9, side))
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
    return save_png(fig, path)


def plot_predicted_vs_actual(
    y_true: np.ndarray,
    preds_by_variant: Mapping[str, np.ndarray],
    path: Path | str,
    *,
    title: str,
    target: str = "target",
    references: Mapping[str, np.ndarray] | None = None,
    labels: Mapping[str, str] | None = None,
) -> Path:
    """Predicted against actual values, one colour per variant, with the ``y = x``
    line; the legend gives each variant's RMSE, under ``labels[variant]`` when
    given (which seed the points are: :func:`seed_label`). Non-finite predictions
    are skipped.

    ``references`` maps a label to a reference model's test predictions
    (``references.prediction_series``): a constant prediction (the training mean)
    is drawn as a horizontal dotted line, any other (the linear model) as one more
    grey series of hollow markers; each legend entry gives its RMSE.
    """
    t = np.asarray(y_true, dtype=float).ravel()
    fig = new_figure((7.0, 6.0))
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
            label = f"{(labels or {}).get(variant, variant)}: RMSE {rmse:.3g}"
        else:
            label = f"{(labels or {}).get(variant, variant)}: no finite predictions"
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
    return save_png(fig, path)

"""A sweep's report: forest plot, heatmap, ``sweep.md`` and a self-contained
``sweep.html`` (the Jinja2 template ``report/templates/sweep.html.j2``). Plain data
in (:class:`bnpipe.sweep.CellVerdict`), files out; matplotlib and Jinja2 are
imported inside the functions."""

from __future__ import annotations

import base64
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np

from bnpipe.report.html import render
from bnpipe.report.plots import new_figure, save_png
from bnpipe.report.tables import markdown_table
from bnpipe.stats import multiplicity
from bnpipe.sweep import CellVerdict

WINNER_COLOURS = {"bn": "#d62728", "plain": "#1f77b4", "tie": "#7f7f7f", "diverged": "#000000"}


def headers(metric: str) -> list[str]:
    """The cells table's columns; the effect's names its metric."""
    return [
        "cell",
        f"bn − plain {metric}",
        "95% CI",
        "p",
        "p adjusted",
        "diverged plain/bn",
        "winner",
    ]


NO_HEATMAP = "one grid axis: the effect is drawn along it (a heatmap needs two axes)"


def _fmt(x: float) -> str:
    return "n/a" if not math.isfinite(x) else f"{x:.3g}"


def rows(verdicts: Sequence[CellVerdict]) -> list[list[str]]:
    out = []
    for v in verdicts:
        div = f"{v.divergence.get('plain', 0):.0%}/{v.divergence.get('bn', 0):.0%}"
        out.append(
            [
                v.cell.label,
                f"{v.mean:+.4g}" if math.isfinite(v.mean) else "n/a",
                f"{_fmt(v.ci_low)} to {_fmt(v.ci_high)}",
                _fmt(v.p_value),
                _fmt(v.p_adjusted),
                div,
                f"**{v.winner}**" if v.winner != "tie" else "tie",
            ]
        )
    return out


def plot_forest(verdicts: Sequence[CellVerdict], path: Path, *, title: str) -> Path:
    """bn − plain with its 95 % interval per cell, ordered by the effect, a zero line,
    each cell coloured by its (adjusted) winner."""
    ordered = sorted(verdicts, key=lambda v: (math.isnan(v.mean), v.mean))
    fig = new_figure((8.0, max(2.5, 0.45 * len(ordered) + 1.5)))
    ax = fig.add_subplot(1, 1, 1)
    for y, v in enumerate(ordered):
        colour = WINNER_COLOURS[v.winner]
        if math.isfinite(v.ci_low) and math.isfinite(v.ci_high):
            ax.plot([v.ci_low, v.ci_high], [y, y], color=colour, lw=2)
        ax.plot([v.mean], [y], "o", color=colour)
    ax.axvline(0.0, color="black", lw=1, ls="--")
    ax.set_yticks(range(len(ordered)), [v.cell.label for v in ordered], fontsize=8)
    metric = ordered[0].metric if ordered else ""
    better = "higher" if ordered and ordered[0].higher_is_better else "lower"
    ax.set_xlabel(f"bn − plain {metric} ({better} is better for bn)")
    ax.set_title(f"{title} (95% paired t intervals)", fontsize=10)
    handles = [
        ax.plot([], [], "o", color=c, label=f"winner: {w}")[0] for w, c in WINNER_COLOURS.items()
    ]
    ax.legend(handles=handles, fontsize=8, loc="best")
    return save_png(fig, path)


def plot_effect_along(
    verdicts: Sequence[CellVerdict], axis: str, path: Path, *, title: str
) -> Path:
    """A one-axis grid: bn − plain with its 95 % interval at each value of ``axis``,
    in the grid's order, coloured by the cell's winner (a heatmap needs two axes)."""
    fig = new_figure((6.5, 4.0))
    ax = fig.add_subplot(1, 1, 1)
    xs = list(range(len(verdicts)))
    for x, v in zip(xs, verdicts, strict=True):
        colour = WINNER_COLOURS[v.winner]
        if math.isfinite(v.ci_low) and math.isfinite(v.ci_high):
            ax.plot([x, x], [v.ci_low, v.ci_high], color=colour, lw=2)
        if math.isfinite(v.mean):
            ax.plot([x], [v.mean], "o", color=colour)
    means = [v.mean if math.isfinite(v.mean) else np.nan for v in verdicts]
    ax.plot(xs, means, color="#999999", lw=1, zorder=0)
    ax.axhline(0.0, color="black", lw=1, ls="--")
    ax.set_xticks(xs, [str(v.cell.params()[axis]) for v in verdicts])
    ax.set_xlabel(axis)
    metric = verdicts[0].metric if verdicts else ""
    better = "higher" if verdicts and verdicts[0].higher_is_better else "lower"
    ax.set_ylabel(f"bn − plain {metric} ({better}: bn better)")
    ax.set_title(f"{title} (95% paired t intervals)", fontsize=10)
    return save_png(fig, path)


def heatmap_axes(grid: Mapping[str, Sequence[object]]) -> tuple[str, str] | None:
    """The two axes with the most values (the first two on a tie); None for a 1-D grid."""
    names = sorted(grid, key=lambda n: (-len(grid[n]), list(grid).index(n)))
    return (names[0], names[1]) if len(names) >= 2 else None


def plot_heatmap(
    verdicts: Sequence[CellVerdict],
    grid: Mapping[str, Sequence[object]],
    axes: tuple[str, str],
    path: Path,
    *,
    title: str,
) -> Path:
    """The mean bn − plain effect over two grid axes (averaged over the others)."""
    xname, yname = axes
    xs, ys = list(grid[xname]), list(grid[yname])
    total = np.zeros((len(ys), len(xs)))
    count = np.zeros((len(ys), len(xs)))
    for v in verdicts:
        p = v.cell.params()
        if math.isfinite(v.mean):
            i, j = ys.index(p[yname]), xs.index(p[xname])
            total[i, j] += v.mean
            count[i, j] += 1
    with np.errstate(invalid="ignore"):
        effect = np.where(count > 0, total / np.maximum(count, 1), np.nan)
    fig = new_figure((6.5, 4.5))
    ax = fig.add_subplot(1, 1, 1)
    limit = float(np.nanmax(np.abs(effect))) if np.isfinite(effect).any() else 1.0
    image = ax.imshow(effect, cmap="coolwarm", vmin=-limit, vmax=limit, aspect="auto")
    ax.set_xticks(range(len(xs)), [str(x) for x in xs])
    ax.set_yticks(range(len(ys)), [str(y) for y in ys])
    ax.set_xlabel(xname)
    ax.set_ylabel(yname)
    for i in range(len(ys)):
        for j in range(len(xs)):
            if math.isfinite(effect[i, j]):
                ax.text(j, i, f"{effect[i, j]:+.3g}", ha="center", va="center", fontsize=8)
    metric = verdicts[0].metric if verdicts else ""
    fig.colorbar(image, ax=ax, label=f"bn − plain {metric}")
    ax.set_title(title, fontsize=10)
    return save_png(fig, path)


def markdown(
    dataset: str,
    verdicts: Sequence[CellVerdict],
    *,
    correction: str,
    seeds: int,
    data_sha256: str,
    reused: int,
    summary: str,
) -> str:
    metric = verdicts[0].metric if verdicts else ""
    lines = [
        f"## {dataset}: when does BatchNorm help? ({len(verdicts)} cells x 2 variants x {seeds} seeds)",
        "",
        f"Data: sha256 `{data_sha256[:12]}`. Primary metric: {metric}. {summary}.",
        "",
        f"{multiplicity.describe(correction)}. A cell's winner is bn or plain only when its "
        "adjusted p-value is below 0.05. A diverged seed counts as the worst value seen in "
        "its cell (both variants, all seeds), not as a gap; a cell where every seed of both "
        'variants diverged is "diverged", and left out of the correction (nothing to test).',
        "",
        markdown_table(rows(verdicts), headers(metric)),
    ]
    if reused:
        lines += [
            "",
            f"{reused} cell(s) reused from an earlier sweep of the same data, grid values, seeds and code.",
        ]
    return "\n".join(lines) + "\n"


def render_html(
    title: str,
    md_table_rows: list[list[str]],
    plots: Mapping[str, Path],
    intro: str,
    metric: str = "",
) -> str:
    """A self-contained page: the table (Markdown bold dropped) and the plots
    inlined as data: URIs."""
    images = [
        {
            "name": str(name),
            "src": "data:image/png;base64," + base64.b64encode(Path(p).read_bytes()).decode(),
        }
        for name, p in plots.items()
    ]
    return render(
        "sweep.html.j2",
        {
            "title": title,
            "intro": intro,
            "headers": headers(metric),
            "rows": [[str(c).strip("*") for c in row] for row in md_table_rows],
            "plots": images,
        },
    )

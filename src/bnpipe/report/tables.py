"""The comparison's numbers as text: ``mean ± std`` cells, the results and
reference rows, plain-text and Markdown tables, the headline and the bn − plain
intervals in words. Strings in, strings out; no HTML (``report.html`` marks them up).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from bnpipe.references import LABELS as _REFERENCE_LABELS
from bnpipe.stats import PairedInterval, Summary


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

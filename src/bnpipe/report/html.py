"""The comparison report as one self-contained HTML page (``comparison.html``).

The markup lives in the Jinja2 template ``templates/report.html.j2``; this module
only turns the report's inputs into plain text values for it. The environment
autoescapes every value and fails on a missing one (``StrictUndefined``), so no
text reaches the page unescaped and no section silently renders empty. Jinja2 is
imported when a page is first rendered, not with this module.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping, Sequence
from typing import Any

from bnpipe.references import LABELS as _REFERENCE_LABELS
from bnpipe.report.tables import INTERVAL_HEADERS, describe_interval, interval_rows, reference_rows
from bnpipe.stats import PairedInterval

# Lineage and decision keys whose values are identifiers, shown in <code>.
_CODE_KEYS = {"sha256", "url", "uri", "run_id", "model_uri"}
_VERDICT_WORDS = {"better": "better", "tie": "no clear difference", "worse": "worse"}
_WINNER_WORDS = {
    "bn": "bn (BatchNorm) is better",
    "plain": "plain is better",
    "tie": "no clear winner",
}


@functools.cache
def environment() -> Any:
    """The Jinja2 environment of bnpipe's page templates (``report/templates``)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("bnpipe.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one of the package's templates; every value in ``context`` is
    escaped, and a value the template needs but ``context`` lacks raises
    ``jinja2.UndefinedError``."""
    return environment().get_template(template).render(context)


def _texts(row: Sequence[object]) -> list[str]:
    return [str(c) for c in row]


def _kv_rows(items: Mapping[str, object]) -> list[dict[str, Any]]:
    """Key/value rows: a ``PairedInterval`` is put into words, an identifier
    (``_CODE_KEYS``) is marked as code."""
    rows = []
    for k, v in items.items():
        if isinstance(v, PairedInterval):
            rows.append({"key": str(k), "text": describe_interval(v), "code": False})
        else:
            rows.append({"key": str(k), "text": str(v), "code": str(k).lower() in _CODE_KEYS})
    return rows


def _check_relative(src: str) -> str:
    s = str(src)
    if "://" in s or s.startswith(("/", "\\", "data:", "//")) or ":" in s.split("/")[0]:
        raise ValueError(f"plot {s!r} must be a relative file name (a sibling artifact)")
    return s


def _optional(x: object) -> str:
    return "n/a" if x is None else f"{x:.3g}"


def _drift(drift: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``drift`` = {"summary": str, "columns": [ {column, role, psi, relation_change,
    level}, ...]} or {"summary": str} when nothing was compared."""
    if not drift:
        return None
    columns = drift.get("columns") or []
    rows = [
        _texts(
            [
                c["column"],
                c["role"],
                _optional(c.get("psi")),
                _optional(c.get("relation_change")),
                c["level"],
            ]
        )
        for c in columns
    ]
    return {
        "summary": str(drift.get("summary", "")),
        "headers": ["column", "role", "PSI", "relation change", "level"],
        "rows": rows,
    }


def _references(refs: Mapping[str, Any]) -> dict[str, Any]:
    """The section "References: is the network worth it?" as text values."""
    metric = str(refs.get("metric") or "")
    by_label: Mapping[str, Mapping[str, float]] = refs.get("metrics") or {}
    headline = refs.get("headline")
    verdicts: Mapping[str, str] = refs.get("verdicts") or {}
    task = refs.get("task")
    names = list(dict.fromkeys(m for v in by_label.values() for m in v))
    rows = (
        reference_rows(by_label, names, task=task if task in _REFERENCE_LABELS else None)
        if by_label
        else []
    )
    seconds = refs.get("seconds")
    labels = _REFERENCE_LABELS.get(str(task), {})
    verdict_rows = []
    for key, word in verdicts.items():
        variant, _, ref = str(key).partition("_vs_")
        verdict_rows.append(
            {
                "variant": variant,
                "against": str(labels.get(ref, ref)),
                "cls": f"verdict-{word}" if word in _VERDICT_WORDS else "",
                "word": str(_VERDICT_WORDS.get(str(word), word)),
            }
        )
    return {
        "metric": metric,
        "headline": str(headline) if headline else None,
        "headers": ["reference", *names],
        "rows": [_texts(r) for r in rows],
        "seconds": (
            f"{seconds:.2f}"
            if isinstance(seconds, int | float) and math.isfinite(seconds)
            else None
        ),
        "verdicts": verdict_rows,
        "notes": [str(n) for n in refs.get("notes") or ()],
    }


def _intervals(intervals: Sequence[PairedInterval]) -> dict[str, Any] | None:
    if not intervals:
        return None
    return {
        "level": f"{intervals[0].level:.0%}",
        "methods": ", ".join(sorted({iv.method for iv in intervals})),
        "headers": INTERVAL_HEADERS,
        "rows": [
            {"cells": _texts(row), "cls": f"verdict-{iv.better()}"}
            for iv, row in zip(intervals, interval_rows(intervals), strict=True)
        ],
    }


def _champion(decision: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``decision`` and ``reason`` first, as lines; the other keys as a table. A
    registry decision (``Decision.to_dict()``: it has ``model_name``) is put into
    words (:func:`decision_rows`): no Python reprs (``{}``, ``[]``, ``None``) on the page."""
    if not decision:
        return None
    rest = dict(decision_rows(decision) if "model_name" in decision else decision)
    lines = [
        {"key": key, "text": str(rest.pop(key))} for key in ("decision", "reason") if key in rest
    ]
    return {"lines": lines, "rows": _kv_rows(rest)}


def _score(x: object) -> str:
    return f"{x:.4g}" if isinstance(x, int | float) and math.isfinite(x) else "n/a"


def decision_rows(d: Mapping[str, Any]) -> dict[str, str]:
    """A registry decision (``Decision.to_dict()``) as labelled plain words."""
    metric = d.get("metric", "")
    version = d.get("version")
    previous = d.get("previous_champion")
    iv, own, holds = d.get("interval") or {}, d.get("score_interval") or {}, d.get("holds") or []
    rows = {
        "decision": str(d.get("outcome", "")),
        "reason": str(d.get("reason", "")),
        "held for review": "; ".join(holds) if holds else "no",
        "how the challenger was chosen": str(d.get("chosen") or "n/a"),
        "registered": f"{d.get('model_name')} v{version}" if version else "not registered",
        "challenger": f"{d.get('challenger_variant')} (run {d.get('challenger_run_id')})",
        f"challenger {metric}": _score(d.get("challenger_score")),
        "champion it was compared with": f"v{previous}" if previous else "none (no champion yet)",
        f"champion {metric}": _score(d.get("champion_score")) if previous else "n/a",
    }
    if iv:
        rows["challenger − champion"] = (
            f"{iv['mean']:+.4g} (95% CI {iv['ci_low']:+.4g} to {iv['ci_high']:+.4g}, "
            f"{iv['rows']} test rows)"
        )
    else:
        rows["challenger − champion"] = "n/a (no champion to compare with)"
    if own:
        rows[f"challenger {metric}, its own interval"] = (
            f"{_score(own['ci_low'])} to {_score(own['ci_high'])} (95%, {own['rows']} test rows)"
        )
    return rows


def _winner_words(winner: str, primary: str, intervals: Sequence[PairedInterval]) -> str:
    decided = _WINNER_WORDS.get(winner, winner)
    primary_iv = next((iv for iv in intervals if iv.metric == primary), None)
    if winner == "tie" and primary_iv is not None and primary_iv.leaning() != "tie":
        decided += f" (the mean favours {primary_iv.leaning()}, not conclusively)"
    return decided


def report_context(
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
) -> dict[str, Any]:
    """The values of ``templates/report.html.j2``, all text: see
    :func:`render_html_report` for the arguments."""
    n_seeds = max((iv.n + iv.n_dropped for iv in intervals), default=0)
    primary = primary_metric or (intervals[0].metric if intervals else "")
    return {
        "title": f"bnpipe — {dataset}: plain vs BatchNorm",
        "dataset": str(dataset),
        "seeds": f"{n_seeds} seed{'s' * (n_seeds != 1)} per variant" if n_seeds else None,
        "primary": str(primary),
        "winner": str(winner),
        "decided": _winner_words(winner, primary, intervals),
        "lineage": _kv_rows(lineage),
        "validation_summary": str(validation_summary),
        "drift": _drift(drift),
        "results": {"headers": _texts(table_headers), "rows": [_texts(r) for r in table_rows]},
        "references": _references(references) if references is not None else None,
        "intervals": _intervals(intervals),
        "plots": [
            {"caption": str(caption), "src": _check_relative(src)} for caption, src in plots.items()
        ],
        "champion": _champion(champion_decision),
        "notes": [str(n) for n in notes],
    }


def render_html_report(**report: Any) -> str:
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

    The keyword arguments are those of :func:`report_context`: ``dataset``,
    ``lineage``, ``validation_summary``, ``table_headers``, ``table_rows``,
    ``intervals``, ``winner``, ``plots``, ``champion_decision``, and optional
    ``notes``, ``primary_metric``, ``drift``, ``references``.
    """
    return render("report.html.j2", report_context(**report))

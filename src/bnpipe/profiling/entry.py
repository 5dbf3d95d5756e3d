"""The comments of the catalog entry ``bnpipe dataset init`` writes: beside each field,
why it holds what it holds, and what was left out of the features."""

from __future__ import annotations

import textwrap

from bnpipe.profiling.defaults import Defaults
from bnpipe.profiling.roles import ColumnRole, Profile, date_parts, left_out_reason
from bnpipe.profiling.words import listed


def entry_comments(
    profile: Profile, *, sep: str = ",", suite_path: str = "", defaults: Defaults | None = None
) -> tuple[dict[str, str], dict[str, list[str]]]:
    """Comments for :func:`bnpipe.catalog.append_entry`: beside each field, and the
    lines written after ``features`` (what was left out, and why) and after
    ``defaults`` (why each was chosen)."""
    beside: dict[str, str] = {}
    if sep != ",":
        beside["sep"] = "detected from the header line"
    beside["task"] = (
        profile.task_reason
        if profile.task_reason == "given with --task"
        else f"inferred from the target: {profile.task_reason}"
    )
    if profile.target_blanks:
        beside["target"] = profile.target_note()
    kinds = [profile.role(c).role for c in profile.features]
    beside["features"] = ", ".join(
        f"{kinds.count(k)} {label}"
        for k, label in (("numeric", "numeric"), ("categorical", "one-hot"), ("date", "date"))
        if k in kinds
    )
    cats = [profile.role(c) for c in profile.categorical]
    if not cats:
        beside["categorical"] = "no text kept as a feature"
    elif len(cats) == 1:
        beside["categorical"] = _levels(cats[0])
    else:
        beside["categorical"] = listed([f"{c.column}: {_levels(c, short=True)}" for c in cats])
    dates = [profile.role(c) for c in profile.dates]
    if dates:
        parts = date_parts(any(d.has_time for d in dates))
        beside["dates"] = "parsed dates -> " + ", ".join(parts)
    beside["missing"] = profile.missing_note()
    if profile.min_frequency:
        rare = [f"{c.column}: {c.rare}" for c in cats if c.rare]
        beside["min_frequency"] = (
            f'rarer categories fold into "other" (rare levels: {listed(rare)})'
        )
    if suite_path:
        beside["suite"] = f"{suite_path}, drafted from {profile.rows} rows: review it"
    notes: dict[str, list[str]] = {}
    if defaults is not None and defaults.values:
        beside["defaults"] = "chosen from the data; bnpipe run's flags override them"
        notes["defaults"] = [f"{k} {v}: {defaults.reasons[k]}" for k, v in defaults.values.items()]
    if profile.left_out:
        one = "left out: " + profile.left_out_note()
        if len(one) <= 92:
            notes["features"] = [one]
        else:
            notes["features"] = ["left out:"] + [
                line
                for c in profile.left_out
                for line in textwrap.wrap(
                    left_out_reason(c), width=90, initial_indent="  ", subsequent_indent="    "
                )
            ]
    return beside, notes


def _levels(c: ColumnRole, short: bool = False) -> str:
    if c.reason == "true/false":
        return "true/false"
    return f"{c.levels} levels" if short else f"text with {c.levels} levels"

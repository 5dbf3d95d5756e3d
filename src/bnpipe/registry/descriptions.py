"""What the registry says in words: the registered model's description (what it
predicts and from what) and each version's (its decision: promoted, kept or
held, why, and the intervals), and the version's record after a promotion by hand."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bnpipe.catalog import DatasetSpec
    from bnpipe.registry.decision import Decision

FEATURES_LISTED = 30  # a wide table's features are named up to this many, then counted
DESCRIPTION_MAX = 5000  # kept well under what MLflow's stores take


def _cut(text: str) -> str:
    return text if len(text) <= DESCRIPTION_MAX else text[: DESCRIPTION_MAX - 2].rstrip() + " …"


def model_description(spec: DatasetSpec, classes: Sequence[str] = (), source: str = "") -> str:
    """The registered model's description: what it predicts (the target, the
    task, the classes or the prediction column) and from what (the dataset, its
    source, the features as the CSV names them)."""
    if spec.task == "classification":
        levels = f" ({', '.join(map(str, classes))})" if classes else ""
        answer = (
            f"the class of `{spec.target}`{levels}: a `label` column and one "
            "`proba_<class>` column per class (classification)"
        )
    else:
        answer = f"`{spec.target}`: a `prediction` column (regression)"
    shown = ", ".join(f"`{c}`" for c in spec.features[:FEATURES_LISTED])
    more = len(spec.features) - FEATURES_LISTED
    features = shown + (f" and {more} more" if more > 0 else "")
    lines = [
        f"Predicts {answer} for rows of the dataset **{spec.name}**"
        + (f" ({source})" if source else "")
        + f", from {len(spec.features)} feature{'s' * (len(spec.features) != 1)}: {features}.",
        "",
        "It takes raw CSV rows, as in the file (the preprocessing is inside the model). "
        "Each version is the leading variant's chosen seed of one bnpipe comparison "
        "(a network with BatchNorm vs one without); `@champion` is the version in use, "
        "and each version's description says why it is or is not.",
    ]
    return _cut("\n".join(lines))


def _interval(iv: Mapping, decimals: str = "+.4g") -> str:
    return f"{iv['ci_low']:{decimals}}..{iv['ci_high']:{decimals}}"


def version_description(decision: Decision, dataset: str, seed: int | str) -> str:
    """A version's description: its decision (promoted, kept or held), why, and
    the numbers: its score with its own 95% interval, the paired interval of
    (challenger - champion) on today's test rows, how it was chosen."""
    d = decision
    if d.holds:
        head = (
            f"**Held** for review, not champion: {'; '.join(d.holds)}. "
            f"After a review: `bnpipe promote {dataset} {d.version} --reason ...`"
        )
    elif d.promoted:
        head = f"**Promoted** to @champion: {d.reason}"
    else:
        head = f"**Kept** the champion (v{d.previous_champion}), not promoted: {d.reason}"
    lines = [head, "", f"- model: {d.challenger_variant}, seed {seed} of run {d.challenger_run_id}"]
    if d.score_interval:
        lines.append(
            f"- {d.metric} = {d.challenger_score:.4g} on today's {d.score_interval['rows']} "
            f"test rows (95% CI {_interval(d.score_interval, '.4g')})"
        )
    if d.interval:
        lines.append(
            f"- challenger - champion v{d.previous_champion} = {d.interval['mean']:+.4g} "
            f"(95% CI {_interval(d.interval)}, on the same {d.interval['rows']} rows)"
        )
    if d.holds and d.reason:
        lines.append(f"- the champion rule alone: {d.reason}")
    if d.chosen:
        lines.append(f"- {d.chosen}")
    return _cut("\n".join(lines) + "\n")


def promoted_by_hand_description(before: str, record: Mapping[str, str]) -> str:
    """A held version's description once a person promoted it: who, when and why
    first, then what it said before (the hold and the numbers)."""
    was = f" (was v{record['previous_champion']})" if record.get("previous_champion") else ""
    head = (
        f"**Promoted by hand** to @champion{was} by {record['promoted_by']} at "
        f"{record['promoted_at']}: {record['promotion_reason']}"
    )
    return _cut(f"{head}\n\nBefore the review:\n\n{before}" if before else head)

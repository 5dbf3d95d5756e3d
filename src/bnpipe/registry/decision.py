"""The champion rule's decision: both models scored on today's test rows, the
paired interval of (challenger − champion), and why a person must look first."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from bnpipe.gate import DriftCheck


@dataclass
class Decision:
    """What the champion rule decided, with its numbers (logged as promotion.json)."""

    model_name: str
    promoted: bool
    reason: str
    metric: str
    challenger_run_id: str
    challenger_variant: str
    challenger_score: float
    version: str | None = None
    previous_champion: str | None = None
    champion_score: float | None = None
    interval: dict = field(default_factory=dict)  # challenger - champion on today's rows
    holds: list[str] = field(default_factory=list)  # why a person must look first
    score_interval: dict = field(default_factory=dict)  # the challenger's own, on its rows
    chosen: str = ""  # how the challenger was chosen: "leader: bn seed 3, chosen on ..."

    @property
    def outcome(self) -> str:
        """``promoted``, ``kept`` or ``held``."""
        if self.holds:
            return "held"
        return "promoted" if self.promoted else "kept"

    def promotion_tag(self) -> str:
        """The parent run's ``promotion`` tag."""
        return f"held: {'; '.join(self.holds)}" if self.holds else self.outcome

    def to_dict(self) -> dict:
        return asdict(self) | {"outcome": self.outcome}

    def run_tags(self) -> dict[str, object]:
        """The parent run's tags: ``promotion``, ``registered_version``, ``champion_version``."""
        return {
            "promotion": self.promotion_tag(),
            "registered_version": self.version,
            "champion_version": self.version if self.promoted else (self.previous_champion or ""),
        }

    def summary(self, dataset: str) -> str:
        """The outcome in one line; a held one says how to promote it by hand."""
        done = f"{dataset}: registered {self.model_name} version {self.version}"
        if self.holds:
            return (
                f"{done}; promotion HELD for review: {'; '.join(self.holds)} "
                f"(promote by hand: bnpipe promote {dataset} {self.version} --reason ...)"
            )
        verdict = "PROMOTED to champion" if self.promoted else "champion kept"
        return f"{done}; {verdict}: {self.reason}"


def hold(decision: Decision, reasons: list[str]) -> Decision:
    """Hold ``decision`` for review when there are reasons: not promoted, reasons kept."""
    if reasons:
        decision.holds = list(reasons)
        decision.promoted = False
    return decision


def off_its_record(
    champion_tags: dict[str, str], champion_score: float | None, metric: str, version: str
) -> str | None:
    """A hold reason when the champion scores today outside its own recorded
    interval on the worse side (None when it does not, or has no record)."""
    from bnpipe.evaluation import higher_is_better

    try:
        lo, hi = float(champion_tags["score_ci_low"]), float(champion_tags["score_ci_high"])
    except (KeyError, ValueError):
        return None
    if champion_score is None or not np.isfinite(champion_score):
        return None
    worse = champion_score < lo if higher_is_better(metric) else champion_score > hi
    if not worse:
        return None
    return (
        f"champion v{version} scores {metric}={champion_score:.4g} on today's test rows, "
        f"outside its own recorded 95% interval {lo:.4g}..{hi:.4g}: the data changed"
    )


def decide(
    *,
    task: str,
    metric: str,
    y_true: np.ndarray,
    challenger_pred: np.ndarray,
    champion_pred: np.ndarray | None,
    champion_error: str | None = None,
) -> tuple[bool, str, float, float | None, dict]:
    """(promote, reason, challenger score, champion score, interval) on today's rows.

    A champion that cannot score today's (validated) rows at all, for example
    after a schema change, is beaten by a challenger that can; the reason says so.
    """
    from bnpipe import evaluation, stats

    score = evaluation.evaluate(task, y_true, challenger_pred)[metric]
    if not np.isfinite(score):
        return False, f"challenger's {metric} is not finite", score, None, {}
    if champion_error is not None:
        return (
            True,
            f"the champion cannot score today's test rows ({champion_error})",
            score,
            None,
            {},
        )
    if champion_pred is None:
        return True, "first version: no champion yet", score, None, {}
    champ = evaluation.evaluate(task, y_true, champion_pred)[metric]
    iv = stats.compare_on_rows(task, y_true, champion_pred, challenger_pred, metric=metric)
    interval = {
        "mean": iv.mean,
        "ci_low": iv.ci_low,
        "ci_high": iv.ci_high,
        "rows": iv.n,
        "level": iv.level,
    }
    wins = stats.challenger_wins(iv)
    direction = "higher" if evaluation.higher_is_better(metric) else "lower"
    verdict = "better" if wins else "not better"
    reason = (
        f"challenger {metric}={score:.4g} vs champion {champ:.4g} on today's {iv.n} test rows; "
        f"challenger - champion = {iv.mean:+.4g} (95% CI {iv.ci_low:+.4g}..{iv.ci_high:+.4g}, "
        f"{direction} is better): {verdict} beyond zero"
    )
    return wins, reason, score, float(champ), interval


def hold_reasons(
    *,
    promote: bool,
    champion,
    champion_score: float | None,
    metric: str,
    variant: str,
    drift: DriftCheck | None = None,
    verdicts: Mapping[str, str] | None = None,
    headline: str | None = None,
    leaks: Sequence[str] = (),
) -> list[str]:
    """Why a person must look first: what the data says (``leaks``: possible
    target leaks, first version too; ``drift``, the champion off its record),
    then whether the model is worth it: only a variant that beats the trivial
    baseline (``verdicts``, ``<variant>_vs_baseline``) can be champion, the first
    version too. A challenger that stays behind the champion anyway (``promote``
    False) is simply kept, unless the data leaks."""
    holds = list(leaks)
    if champion is not None:
        holds += drift.hold_reasons() if drift is not None else []
        off = off_its_record(champion.tags, champion_score, metric, str(champion.version))
        holds += [off] if off else []
    if promote and verdicts is not None and verdicts.get(f"{variant}_vs_baseline") != "better":
        nobody = all(v != "better" for k, v in verdicts.items() if k.endswith("_vs_baseline"))
        holds.append(
            headline
            if nobody and headline
            else f"{variant} is not better than the baseline on {metric}"
        )
    return holds


def decision_json(decision: Decision) -> str:
    return json.dumps(decision.to_dict(), indent=2, default=str)

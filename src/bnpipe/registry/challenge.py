"""A comparison's challenger through the champion rule: what is registered, the
champion scored against it, the decision, the holds, and the new version."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING

import numpy as np

from bnpipe.registry.decision import Decision, decide, hold, hold_reasons
from bnpipe.registry.versions import current_champion, register

if TYPE_CHECKING:
    from bnpipe.comparison import SeedResult
    from bnpipe.gate import DriftCheck


def leading_seed(summary, results: Sequence) -> SeedResult | None:
    """What a comparison registers: the leading variant's best finite seed, both
    chosen on the validation rows (``summary`` a
    :class:`~bnpipe.comparison.ComparisonSummary`: :meth:`leader`, :meth:`best`),
    None when every seed diverged or its model was not logged."""
    leader = summary.leader()
    best = summary.best([r for r in results if r.variant == leader])
    return None if best is None or best.model_uri is None else best


def register_challenger(
    client,
    name: str,
    best: SeedResult,
    *,
    dataset: str,
    task: str,
    metric: str,
    y_true: np.ndarray,
    champion_predictions: Callable[[], np.ndarray],
    parent_run_id: str,
    drift: DriftCheck | None = None,
    verdicts: Mapping[str, str] | None = None,
    headline: str | None = None,
    warn: Callable[[str], None] = print,
    chosen: str = "",
    leaks: Sequence[str] = (),
    about: str = "",
) -> Decision:
    """The champion rule for ``best`` (:func:`leading_seed`) as version of ``name``.

    Reads ``@champion`` and, when there is one, scores it on today's test rows
    with ``champion_predictions()`` (a champion that cannot is beaten, said in
    ``warn``); decides (:func:`decide`), records the challenger's own interval,
    holds it when a person should look first (:func:`hold_reasons`) and
    registers it (:func:`register`). Run it under the dataset's promotion lock.
    ``chosen``: how ``best`` was chosen (``ComparisonSummary.choice``), kept on the
    decision; ``leaks``: possible target leaks found in the data (each holds it);
    ``about``: the registered model's description (what it predicts, from what)."""
    from bnpipe import stats

    champion = current_champion(client, name)
    champion_pred, champion_error = None, None
    if champion is not None:
        try:
            champion_pred = champion_predictions()
        except Exception as exc:  # noqa: BLE001 - a champion that cannot score today's rows is beaten
            champion_error = str(exc).strip().splitlines()[0][:300]
            warn(
                f"{dataset}: champion v{champion.version} cannot score today's test rows: "
                f"{champion_error}"
            )
    promote, reason, score, champ_score, interval = decide(
        task=task,
        metric=metric,
        y_true=y_true,
        challenger_pred=best.predictions,
        champion_pred=champion_pred,
        champion_error=champion_error,
    )
    lo, hi = stats.score_interval(task, y_true, best.predictions, metric=metric)
    decision = Decision(
        model_name=name,
        promoted=promote,
        reason=reason,
        metric=metric,
        challenger_run_id=best.run_id,
        challenger_variant=best.variant,
        challenger_score=score,
        previous_champion=str(champion.version) if champion is not None else None,
        champion_score=champ_score,
        interval=interval,
        score_interval={"ci_low": lo, "ci_high": hi, "rows": len(y_true)},
        chosen=chosen,
    )
    holds = hold_reasons(
        promote=promote,
        champion=champion,
        champion_score=champ_score,
        metric=metric,
        variant=best.variant,
        drift=drift,
        verdicts=verdicts,
        headline=headline,
        leaks=leaks,
    )
    hold(decision, holds)
    tags = {
        "dataset": dataset,
        "variant": best.variant,
        "seed": str(best.seed),
        "parent_run_id": parent_run_id,
    }
    return register(client, decision, best.model_uri, tags=tags, about=about)

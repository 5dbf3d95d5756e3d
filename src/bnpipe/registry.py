"""The model registry and the champion rule.

After each comparison the leading variant's best seed is registered as a new
version of ``bnpipe-<dataset>``. It becomes ``@champion`` only when it beats the
current champion on *today's* test rows: both models score the same rows and a
row-level paired bootstrap of (challenger − champion) on the primary metric must
exclude 0 on the challenger's side (``stats.challenger_wins``). The first
version becomes champion when there is none, and no version whose variant does
not beat the trivial baseline (``bnpipe.references``) ever does.

Today's rows are not trusted alone: whatever produced bad rows also trained the
challenger that wins on them. A promotion is **held** (registered, not made
champion, the reason recorded) when a person should look first: the data
drifted beyond the catalog's block level from the champion's data, or the
champion scores far off its own record (outside the 95% interval of its score
on its own test rows, kept on its version as ``score_ci_low``/``score_ci_high``).
``promote_by_hand`` moves the alias after such a review.

Registration and the alias move are all-or-nothing: the alias moves last, and a
failure after the version was created deletes that version again, so the old
champion stays. A file lock serialises concurrent flow runs of one dataset on
this machine, so two runs cannot both read the same champion and race.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from bnpipe.locks import file_lock

CHAMPION = "champion"


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


def registry_lock(path: Path) -> contextlib.AbstractContextManager[None]:
    """An exclusive lock on ``path`` for the read-decide-write of the champion rule."""
    return file_lock(path)


class ChampionMoved(RuntimeError):
    """Another run moved ``@champion`` between this run's comparison and its promotion."""


def current_champion(client, name: str):
    """The ModelVersion behind ``@champion``, or None when there is none.

    Only "no such model" and "no such alias" mean none: any other failure (a
    server error, a refused read) is raised, since reading it as "no champion"
    would promote the new version without a comparison. An MLflow server with
    basic auth answers PERMISSION_DENIED for a model that does not exist (it
    hides which names exist); a search, filtered by what the user may read,
    then tells the two apart."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException as exc:
        code = getattr(exc, "error_code", "")
        if code in ("RESOURCE_DOES_NOT_EXIST", "INVALID_PARAMETER_VALUE"):
            return None
        if code == "PERMISSION_DENIED" and not client.search_registered_models(
            filter_string=f"name = '{name}'"
        ):
            return None
        raise


def prediction_array(frame, task: str, classes: list[str]) -> np.ndarray:
    """A served model's prediction frame as evaluation takes it."""
    if task == "classification":
        cols = [
            frame[f"proba_{c}"] if f"proba_{c}" in frame else np.zeros(len(frame)) for c in classes
        ]
        return np.column_stack([np.asarray(c, dtype=float) for c in cols])
    return np.asarray(frame["prediction"], dtype=float)


def conform(rows, schema):
    """Cast raw rows to a served model's input schema where that is lossless
    (an integer column where the signature says double), so a champion logged
    with other column types still scores today's rows."""
    if schema is None:
        return rows
    rows = rows.copy()
    for spec in schema.inputs:
        name, kind = spec.name, str(spec.type).lower()
        if name in rows and kind.endswith("double") and np.issubdtype(rows[name].dtype, np.integer):
            rows[name] = rows[name].astype("float64")
    return rows


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


def register(client, decision: Decision, model_uri: str, tags: dict[str, str]) -> Decision:
    """Create the new version; move ``@champion`` to it when ``decision.promoted``.

    All-or-nothing: on any failure the new version is deleted and the alias is
    left where it was.
    """
    import mlflow
    from mlflow.exceptions import MlflowException

    name = decision.model_name
    try:
        client.create_registered_model(name, description="bnpipe champion line: see README")
    except MlflowException as exc:
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
    version = mlflow.register_model(model_uri, name, await_registration_for=60)
    try:
        decision.version = str(version.version)
        record = {
            **tags,
            "promoted": str(decision.promoted).lower(),
            "outcome": decision.outcome,
            "decision": decision.reason,
        }
        if decision.holds:
            record["hold_reason"] = "; ".join(decision.holds)
        if decision.score_interval:
            record["score"] = repr(decision.challenger_score)
            record["score_metric"] = decision.metric
            record["score_ci_low"] = repr(decision.score_interval["ci_low"])
            record["score_ci_high"] = repr(decision.score_interval["ci_high"])
        for key, value in record.items():
            client.set_model_version_tag(name, version.version, key, value[:5000])
        if decision.promoted:
            # check and set: move the alias only from the champion this run compared
            # against (another host may have promoted since; the locks make it rare)
            now = current_champion(client, name)
            now_version = str(now.version) if now is not None else None
            if now_version != decision.previous_champion:
                where = f"v{now_version}" if now_version else "nowhere (removed)"
                raise ChampionMoved(
                    f"{name}: @champion moved to {where} while this run compared "
                    f"against {'v' + decision.previous_champion if decision.previous_champion else 'no champion'}; "
                    "nothing registered, run again to compare against the new champion"
                )
            client.set_registered_model_alias(name, CHAMPION, version.version)
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_model_version(name, version.version)
        raise
    return decision


def decision_json(decision: Decision) -> str:
    return json.dumps(decision.to_dict(), indent=2, default=str)


def promote_by_hand(client, name: str, version: str, *, reason: str, who: str) -> dict:
    """Move ``@champion`` to ``version`` after a person's review (a held promotion).

    Recorded on the version: who, when, why, and the numbers at the time (its
    own score and the champion it replaces). Returns that record."""
    from datetime import UTC, datetime

    from mlflow.exceptions import MlflowException

    if not reason.strip():
        raise ValueError("a reason is required: say why this version should be champion")
    try:
        target = client.get_model_version(name, str(version))
    except MlflowException:
        raise ValueError(f"{name} has no version {version}") from None
    previous = current_champion(client, name)
    if previous is not None and str(previous.version) == str(target.version):
        raise ValueError(f"{name} v{version} is the champion already")
    record = {
        "promoted_by_hand": "true",
        "promoted_by": who,
        "promoted_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "promotion_reason": reason.strip(),
        "previous_champion": str(previous.version) if previous is not None else "",
        "score_at_promotion": target.tags.get("score", ""),
        "previous_champion_score": previous.tags.get("score", "") if previous is not None else "",
    }
    for key, value in record.items():
        client.set_model_version_tag(name, target.version, key, value[:5000])
    client.set_registered_model_alias(name, CHAMPION, target.version)
    return record

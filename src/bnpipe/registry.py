"""The model registry and the champion rule.

After each comparison the leading variant's best seed is registered as a new
version of ``bnpipe-<dataset>``. It becomes ``@champion`` only when it beats the
current champion on *today's* test rows: both models score the same rows and a
row-level paired bootstrap of (challenger − champion) on the primary metric must
exclude 0 on the challenger's side (``stats.challenger_wins``). The first
version always becomes champion.

Registration and the alias move are all-or-nothing: the alias moves last, and a
failure after the version was created deletes that version again, so the old
champion stays. A file lock serialises concurrent flow runs of one dataset on
this machine, so two runs cannot both read the same champion and race.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

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

    def to_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def registry_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on ``path`` for the read-decide-write of the champion rule."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def current_champion(client, name: str):
    """The ModelVersion behind ``@champion``, or None."""
    from mlflow.exceptions import MlflowException

    try:
        return client.get_model_version_by_alias(name, CHAMPION)
    except MlflowException:
        return None


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
        for key, value in {
            **tags,
            "promoted": str(decision.promoted).lower(),
            "decision": decision.reason,
        }.items():
            client.set_model_version_tag(name, version.version, key, value[:5000])
        if decision.promoted:
            client.set_registered_model_alias(name, CHAMPION, version.version)
    except BaseException:
        with contextlib.suppress(Exception):
            client.delete_model_version(name, version.version)
        raise
    return decision


def decision_json(decision: Decision) -> str:
    return json.dumps(decision.to_dict(), indent=2, default=str)

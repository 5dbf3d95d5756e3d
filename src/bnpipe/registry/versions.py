"""The registered versions and ``@champion`` in MLflow: read the champion,
register a version all-or-nothing (check and set of the alias), move the alias
by hand after a review, and the lock of the read-decide-write."""

from __future__ import annotations

import contextlib
from pathlib import Path

from bnpipe.locks import file_lock
from bnpipe.registry.decision import Decision
from bnpipe.registry.descriptions import promoted_by_hand_description, version_description

CHAMPION = "champion"


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


def register(
    client, decision: Decision, model_uri: str, tags: dict[str, str], about: str = ""
) -> Decision:
    """Create the new version, described by its decision; move ``@champion`` to it
    when ``decision.promoted``. ``about``: the registered model's description
    (:func:`~bnpipe.registry.descriptions.model_description`), set on a new model
    and on one whose description differs (an older bnpipe's).

    All-or-nothing: on any failure the new version is deleted and the alias is
    left where it was.
    """
    from mlflow.exceptions import MlflowException

    name = decision.model_name
    try:
        client.create_registered_model(name, description=about or None)
    except MlflowException as exc:
        if "already exists" not in str(exc).lower() and "RESOURCE_ALREADY_EXISTS" not in str(exc):
            raise
        if about and client.get_registered_model(name).description != about:
            client.update_registered_model(name, description=about)
    # What mlflow.register_model does for a models:/<id> URI, without the lines it
    # prints ("Registered model ... already exists", "Created version ...").
    model_id = model_uri.removeprefix("models:/") if model_uri.startswith("models:/") else None
    version = client.create_model_version(
        name, source=model_uri, model_id=model_id, await_creation_for=60
    )
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
        described = version_description(decision, tags.get("dataset", ""), tags.get("seed", "?"))
        client.update_model_version(name, version.version, description=described)
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


def promote_by_hand(client, name: str, version: str, *, reason: str, who: str) -> dict:
    """Move ``@champion`` to ``version`` after a person's review (a held promotion).

    Recorded on the version: who, when, why, and the numbers at the time (its
    own score and the champion it replaces); its ``outcome`` becomes ``promoted``
    (``hold_reason`` stays) and its description says so above what it said
    before. Returns that record."""
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
    for key, value in {**record, "outcome": "promoted", "promoted": "true"}.items():
        client.set_model_version_tag(name, target.version, key, value[:5000])
    described = promoted_by_hand_description(target.description or "", record)
    client.update_model_version(name, target.version, description=described)
    client.set_registered_model_alias(name, CHAMPION, target.version)
    return record

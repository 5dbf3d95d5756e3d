"""The champion's drift reference: the profile of the data the current ``@champion``
was trained on, read from the parent run that trained it, and today's frame
checked against it (a :class:`bnpipe.gate.DriftCheck`).

MLflow is imported inside the function that reads the run."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd

from bnpipe import gate, registry, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.drift.comparison import compare
from bnpipe.drift.levels import DEFAULT_LEVELS

PROFILE_ARTIFACT = "data_profile.json"  # on every parent run: the reference its model travels with
PARENT_RUN_TAG = "parent_run_id"  # on a registered version: the parent run that trained it


def champion_reference(client, model_name: str) -> tuple[str | None, dict | None]:
    """(the champion's version, the profile of its training data) of the registered
    model ``model_name``: ``(None, None)`` when it has no champion; ``(version, None)``
    when the champion's version names no parent run or the run has no readable
    profile (logged before drift checks, or its artifacts are gone). Failures to read
    the champion itself are raised (:func:`bnpipe.registry.current_champion`)."""
    import json

    from mlflow.exceptions import MlflowException

    champion = registry.current_champion(client, model_name)
    if champion is None:
        return None, None
    source_run = champion.tags.get(PARENT_RUN_TAG)
    if not source_run:
        return str(champion.version), None
    with tempfile.TemporaryDirectory(prefix="bnpipe-profile-") as tmp:
        try:
            path = client.download_artifacts(source_run, PROFILE_ARTIFACT, tmp)
            return str(champion.version), json.loads(Path(path).read_text("utf-8"))
        except (MlflowException, OSError, ValueError):
            return str(champion.version), None


def champion_check(client, spec: DatasetSpec, frame: pd.DataFrame) -> gate.DriftCheck:
    """Today's ``frame`` (CSV columns) against the data the dataset's champion was
    trained on, at the catalog entry's ``drift:`` levels over :data:`DEFAULT_LEVELS`.
    The check has no report when there is no champion or no reference to compare with."""
    check = gate.DriftCheck(*champion_reference(client, tracking.registered_model_name(spec.name)))
    if check.reference is not None:
        check.report = compare(check.reference, frame, **{**DEFAULT_LEVELS, **spec.drift})
    return check

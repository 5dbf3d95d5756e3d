"""Profile today's snapshot and compare it with the champion's data."""

from __future__ import annotations

import tempfile
from pathlib import Path

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import drift, gate, ingest, registry, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.tracking import ParentRun

PROFILE = "data_profile.json"  # on every parent run: the reference its model travels with
SNAPSHOT_LIMIT = 20 * 1024 * 1024  # snapshots below this are logged whole, beside the profile


@task(name="drift", cache_policy=NO_CACHE)
def assess_drift(
    spec: DatasetSpec, snap: ingest.Snapshot, frame: pd.DataFrame, parent: ParentRun
) -> gate.DriftCheck:
    """Log today's data profile (and the snapshot when small) on the parent run, then
    compare today's rows with the profile of the data the current champion was
    trained on: ``drift.json``, ``drift_*`` metrics and the ``drift`` tag."""
    logger = get_run_logger()
    today = drift.profile(
        frame,
        features=spec.features,
        categorical=spec.categorical,
        target=spec.target,
        task=spec.task,
    )
    parent.log_json(today, PROFILE)
    if snap.size < SNAPSHOT_LIMIT:
        parent.log_artifact(snap.path, "data")
    check = gate.DriftCheck(*_champion_reference(spec, parent))
    if check.reference is not None:
        check.report = drift.compare(
            check.reference, frame, **{**drift.DEFAULT_LEVELS, **spec.drift}
        )
        parent.log_json(check.report.to_dict(), "drift.json")
        parent.log_metrics(check.report.metrics())
    parent.tag({"drift": check.tag()})
    if check.missing:
        logger.warning("%s: %s", spec.name, check.missing)
    elif check.report is not None:
        log = logger.warning if check.report.level != "ok" else logger.info
        log("%s: %s (against the champion's data)", spec.name, check.report.summary())
    return check


def _champion_reference(spec: DatasetSpec, parent: ParentRun) -> tuple[str | None, dict | None]:
    """(the champion's version, the profile of its data), or a missing reason's parts."""
    import json

    from mlflow.exceptions import MlflowException

    client = parent.client
    champion = registry.current_champion(client, tracking.registered_model_name(spec.name))
    if champion is None:
        return None, None
    source_run = champion.tags.get("parent_run_id")
    if not source_run:
        return str(champion.version), None
    with tempfile.TemporaryDirectory(prefix="bnpipe-profile-") as tmp:
        try:
            path = client.download_artifacts(source_run, PROFILE, tmp)
            return str(champion.version), json.loads(Path(path).read_text("utf-8"))
        except (MlflowException, OSError, ValueError):
            return str(champion.version), None

"""Profile today's snapshot and compare it with the champion's data."""

from __future__ import annotations

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import drift, gate, ingest
from bnpipe.catalog import DatasetSpec
from bnpipe.tracking import ParentRun

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
    parent.log_json(today, drift.PROFILE_ARTIFACT)
    if snap.size < SNAPSHOT_LIMIT:
        parent.log_artifact(snap.path, "data")
    check = drift.champion_check(parent.client, spec, frame)
    if check.report is not None:
        parent.log_json(check.report.to_dict(), "drift.json")
        parent.log_metrics(check.report.metrics())
    parent.tag({"drift": check.tag()})
    if check.missing:
        logger.warning("%s: %s", spec.name, check.missing)
    elif check.report is not None:
        log = logger.warning if check.report.level != "ok" else logger.info
        log("%s: %s (against the champion's data)", spec.name, check.report.summary())
    return check

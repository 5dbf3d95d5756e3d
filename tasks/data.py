"""Download and validate a dataset."""

from __future__ import annotations

import json

import pandas as pd
from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import ingest
from bnpipe.catalog import DatasetSpec
from bnpipe.settings import Settings
from bnpipe.tracking import ParentRun


# No Prefect timeout: it cannot stop a task in a worker thread (each dataset's chain
# runs in one); every HTTP request has its own timeout, retried with backoff.
@task(name="download", cache_policy=NO_CACHE)
def download_dataset(
    spec: DatasetSpec,
    settings: Settings,
    offline: bool = False,
    fallback: bool = False,
) -> ingest.Snapshot:
    """Fetch the CSV (mirror-aware, retried with backoff, a conditional request when the
    cache knows the URL's validators) into the content-addressed cache, or with
    ``fallback`` take the last good or the bundled copy when the upstream cannot be
    reached. Before any MLflow run opens: unchanged data opens none (``tasks.reuse``)."""
    logger = get_run_logger()
    snap = ingest.download(
        spec,
        ingest.DataCache(settings.cache_dir),
        **settings.download_options(),
        offline=offline,
        fallback=fallback,
        promote=False,  # latest.json moves only once the data has passed validation
        log=logger.info,  # retries, "not modified"
        warn=logger.warning,  # the one line a fallback prints
    )
    logger.info(
        "%s: %d bytes, sha256 %s, from %s (%s)",
        spec.name,
        snap.size,
        snap.sha256,
        snap.source,
        snap.url,
    )
    return snap


def tag_snapshot(parent: ParentRun, snap: ingest.Snapshot) -> None:
    """The parent run's data lineage: the SHA-256 and where the bytes came from."""
    parent.tag(
        {
            "data_sha256": snap.sha256,
            "data_source": snap.source,
            "source_url": snap.url,
            "data_bytes": snap.size,
        }
    )


@task(name="validate", cache_policy=NO_CACHE)
def validate_dataset(
    spec: DatasetSpec, snap: ingest.Snapshot, settings: Settings, parent: ParentRun
) -> tuple[pd.DataFrame, str]:
    """Check the CSV against ``expectations/<suite>.json`` (schema and sanity rules; the
    row count against the last good snapshot's) and the catalog's missing-value
    policy (``bnpipe.data_checks``); keep the report locally and on the
    parent run; stop the flow before training when it fails.

    Returns the frame and the report's summary text."""
    from bnpipe import tracking, validation
    from bnpipe.data_checks import check_data

    df = ingest.read_csv(snap.path, sep=spec.sep)
    # on which data, even when it is refused: the run's Datasets in the MLflow UI
    try:
        target = spec.target if spec.target in df.columns else None
        parent.log_dataset(
            tracking.dataset_entity(spec.name, df, sha256=snap.sha256, url=snap.url, target=target)
        )
    except Exception as exc:  # noqa: BLE001 - the UI's view of the data; validation decides
        get_run_logger().warning("%s: could not log the dataset input: %s", spec.name, exc)
    report = check_data(df, spec, settings)
    settings.reports_dir.mkdir(parents=True, exist_ok=True)
    local = settings.reports_dir / f"{spec.name}-{snap.sha256[:12]}-validation.json"
    local.write_text(
        json.dumps(report.to_dict(), indent=2, ensure_ascii=False, default=str), "utf-8"
    )
    parent.log_json(report.to_dict(), "validation.json")
    parent.tag({"validation": "passed" if report.success else "failed", "data_rows": report.rows})
    logger = get_run_logger()
    if not report.success:
        raise validation.DataValidationError(report)
    logger.info(
        "%s: %d rows passed %d expectations of suite %r",
        spec.name,
        report.rows,
        report.evaluated,
        spec.suite,
    )
    return df, report.summary()


@task(name="keep-as-last-good", cache_policy=NO_CACHE)
def keep_as_last_good(snap: ingest.Snapshot, settings: Settings) -> None:
    """A run on ``snap`` completed (validated, trained, judged, not held): it becomes the
    copy ``--offline`` and the fallback use. Downloading or validating alone is not enough."""
    if not snap.from_cache:
        ingest.DataCache(settings.cache_dir).promote(snap)

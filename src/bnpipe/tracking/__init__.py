"""MLflow tracking by the contract (docs/results.md), through explicit run ids.

Runs are created and ended with :class:`mlflow.MlflowClient` so that a run
never depends on a thread's fluent "active run" stack, and every run this
package opens is ended FINISHED, FAILED or KILLED by the code that opened it.
MLflow is imported lazily: ``bnpipe datasets`` never pays for it.

- :mod:`~bnpipe.tracking.store`: connect, check writable, refused credentials, experiments;
- :mod:`~bnpipe.tracking.writes`: params, metrics, curves, tags, descriptions, JSON;
- :mod:`~bnpipe.tracking.datasets`: the snapshot as a run's dataset input;
- :mod:`~bnpipe.tracking.runs`: start and end runs, stale RUNNING runs;
- :mod:`~bnpipe.tracking.children`: the child run of one (variant, seed);
- :mod:`~bnpipe.tracking.parent`: :class:`ParentRun`, the flow run's parent run;
- :mod:`~bnpipe.tracking.views`: the runs table's saved view of a comparison.
"""

from __future__ import annotations

from bnpipe.tracking.children import child_description, link_model_metrics, log_child_run
from bnpipe.tracking.datasets import (
    DIGEST_CHARS,
    SCHEMA_SAMPLE_ROWS,
    dataset_entity,
    dataset_inputs,
    log_dataset,
    split_entities,
)
from bnpipe.tracking.parent import ParentRun, parent_run_name
from bnpipe.tracking.runs import (
    OWNER_HOST_TAG,
    OWNER_PID_TAG,
    PARENT_TAG,
    close_open_runs,
    close_stale_runs,
    end_run,
    owner_tags,
    start_run,
    status_for,
)
from bnpipe.tracking.store import (
    EXPERIMENT_KIND,
    EXPERIMENT_KIND_TAG,
    TrackingError,
    artifact_root_for,
    check_writable,
    connect,
    ensure_experiment,
    experiment_name,
    redact_uri,
    refused_credentials,
    registered_model_name,
)
from bnpipe.tracking.views import VIEW_ID, ensure_runs_view
from bnpipe.tracking.writes import (
    DESCRIPTION_MAX,
    DESCRIPTION_TAG,
    LOCKED_RETRIES,
    METRICS_PER_BATCH,
    describe,
    log_curves,
    log_json,
    log_metrics,
    log_params,
    one_writer,
    set_tags,
)

__all__ = [
    "DESCRIPTION_MAX",
    "DESCRIPTION_TAG",
    "DIGEST_CHARS",
    "EXPERIMENT_KIND",
    "EXPERIMENT_KIND_TAG",
    "LOCKED_RETRIES",
    "METRICS_PER_BATCH",
    "OWNER_HOST_TAG",
    "OWNER_PID_TAG",
    "PARENT_TAG",
    "SCHEMA_SAMPLE_ROWS",
    "ParentRun",
    "VIEW_ID",
    "TrackingError",
    "artifact_root_for",
    "check_writable",
    "child_description",
    "close_open_runs",
    "close_stale_runs",
    "connect",
    "dataset_entity",
    "dataset_inputs",
    "describe",
    "end_run",
    "ensure_experiment",
    "ensure_runs_view",
    "experiment_name",
    "link_model_metrics",
    "log_child_run",
    "log_curves",
    "log_dataset",
    "log_json",
    "log_metrics",
    "log_params",
    "one_writer",
    "owner_tags",
    "parent_run_name",
    "redact_uri",
    "refused_credentials",
    "registered_model_name",
    "set_tags",
    "split_entities",
    "start_run",
    "status_for",
]

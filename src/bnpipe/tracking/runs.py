"""The run lifecycle: start and end runs by explicit id, the status a run ends
with, and the runs left RUNNING by a failed flow or a dead process."""

from __future__ import annotations

import os
from collections.abc import Mapping

from bnpipe.processes import is_alive
from bnpipe.tracking.writes import _write

PARENT_TAG = "mlflow.parentRunId"
OWNER_HOST_TAG = "bnpipe.host"
OWNER_PID_TAG = "bnpipe.pid"


def start_run(
    client,
    experiment_id: str,
    *,
    run_name: str,
    tags: Mapping[str, object],
    parent_id: str | None = None,
) -> str:
    tags = {k: str(v) for k, v in tags.items()}
    if parent_id:
        tags[PARENT_TAG] = parent_id
    return _write(client.create_run, experiment_id, run_name=run_name, tags=tags).info.run_id


def end_run(client, run_id: str, status: str = "FINISHED") -> None:
    _write(client.set_terminated, run_id, status=status)


def status_for(exc: BaseException | None) -> str:
    """The MLflow status a run ends with after ``exc`` (None: success)."""
    if exc is None:
        return "FINISHED"
    # Ctrl-C, SIGTERM, sys.exit and Prefect's termination signals are not
    # Exceptions: the run was stopped, not broken.
    return "FAILED" if isinstance(exc, Exception) else "KILLED"


def owner_tags() -> dict[str, str]:
    """Who owns a parent run: this host and process (see :func:`close_stale_runs`)."""
    import socket

    return {OWNER_HOST_TAG: socket.gethostname(), OWNER_PID_TAG: str(os.getpid())}


def _running(client, experiment_id: str):
    from mlflow.entities import ViewType

    return client.search_runs(
        [experiment_id],
        "attributes.status = 'RUNNING'",
        run_view_type=ViewType.ALL,
        max_results=1000,
    )


def close_open_runs(
    client, experiment_id: str, *, parent_id: str, status: str = "FAILED"
) -> list[str]:
    """End the descendants of ``parent_id`` still RUNNING (a flow failed): its
    children and theirs (a sweep run's cell runs and their seed runs)."""
    running = _running(client, experiment_id)
    below = _descendants(running, {parent_id}) - {parent_id}
    closed = []
    for run in running:
        if run.info.run_id in below:
            _write(client.set_terminated, run.info.run_id, status=status)
            closed.append(run.info.run_id)
    return closed


def _descendants(running: list, roots: set[str]) -> set[str]:
    """``roots`` and every run below them among ``running``."""
    found = set(roots)
    while True:
        below = {r.info.run_id for r in running if r.data.tags.get(PARENT_TAG) in found}
        if below <= found:
            return found
        found |= below


def close_stale_runs(client, experiment_id: str) -> list[str]:
    """End KILLED the runs whose owning process died (SIGKILL, a crashed worker).

    A parent run records its host and PID; a RUNNING parent owned by a dead
    process on this host is stale, and so are its descendants (a sweep's cell
    runs and their seed runs, two levels down). Runs of a live
    process (a concurrent flow run of the same dataset) are left alone. Called
    at the start of every flow run.
    """
    import socket

    host = socket.gethostname()
    running = _running(client, experiment_id)
    stale_parents = {
        r.info.run_id
        for r in running
        if PARENT_TAG not in r.data.tags
        and r.data.tags.get(OWNER_HOST_TAG) == host
        and r.data.tags.get(OWNER_PID_TAG, "").isdigit()
        and not is_alive(int(r.data.tags[OWNER_PID_TAG]))
    }
    stale = _descendants(running, stale_parents)
    closed = []
    for run in running:
        if run.info.run_id in stale:
            _write(client.set_terminated, run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed

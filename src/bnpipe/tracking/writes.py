"""Writes to an MLflow run: params, metrics, curves, tags, a description, JSON,
each tried again when SQLite says "database is locked"."""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Iterable, Iterator, Mapping

METRICS_PER_BATCH = 1000  # MLflow's log_batch limit
DESCRIPTION_TAG = "mlflow.note.content"  # a run's Markdown description in the UI
DESCRIPTION_MAX = 8000  # MLflow's longest tag value
LOCKED_RETRIES = 5
_WRITERS: dict[str, threading.Lock] = {}  # SQLite store -> the lock of its one writer here
_WRITERS_LOCK = threading.Lock()


@contextlib.contextmanager
def one_writer(tracking_uri: str) -> Iterator[None]:
    """Bulk writes of this process's threads to a SQLite store, one at a time (a
    store holds one writer: threads taking turns finish sooner than threads that
    retry "database is locked"). A tracking server takes them at once."""
    if not tracking_uri.startswith("sqlite:"):
        yield
        return
    with _WRITERS_LOCK:
        lock = _WRITERS.setdefault(tracking_uri, threading.Lock())
    with lock:
        yield


def _write(call, *args, **kwargs):
    """One write to the store, tried again when SQLite says "database is locked".

    SQLite answers a transaction that read and then wants to write, while another
    process holds the write lock, with an immediate SQLITE_BUSY (its busy timeout
    cannot help: waiting could deadlock). Concurrent runs on one ``mlflow.db`` hit
    it under load, and it must not turn a clean Ctrl-C into a failure."""
    for attempt in range(LOCKED_RETRIES + 1):
        try:
            return call(*args, **kwargs)
        except Exception as exc:
            if "database is locked" not in str(exc) or attempt == LOCKED_RETRIES:
                raise
            time.sleep(0.2 * 2**attempt)
    return None  # not reached


def _params(params: Mapping[str, object]):
    from mlflow.entities import Param

    return [Param(k, "None" if v is None else str(v)) for k, v in params.items()]


def _metrics(values: Mapping[str, float], step: int = 0, timestamp: int | None = None):
    from mlflow.entities import Metric

    now = int(time.time() * 1000) if timestamp is None else timestamp
    return [Metric(k, float(v), now, step) for k, v in values.items()]


def log_params(client, run_id: str, params: Mapping[str, object]) -> None:
    _write(client.log_batch, run_id, params=_params(params))


def log_metrics(
    client, run_id: str, values: Mapping[str, float], timestamp: int | None = None
) -> None:
    """``values`` at step 0, logged at ``timestamp`` (ms; default now)."""
    if values:
        _write(client.log_batch, run_id, metrics=_metrics(values, timestamp=timestamp))


def set_tags(client, run_id: str, tags: Mapping[str, object]) -> None:
    from mlflow.entities import RunTag

    _write(client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_curves(
    client, run_id: str, history: Mapping[str, Iterable[float]], timestamp: int | None = None
) -> None:
    """Per-epoch curves (step = epoch, from 0) with ``log_batch``, chunked, logged
    at ``timestamp`` (ms; default now)."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000) if timestamp is None else timestamp
    points = [
        Metric(key, float(v), now, step)
        for key, values in history.items()
        for step, v in enumerate(values)
    ]
    for i in range(0, len(points), METRICS_PER_BATCH):
        _write(client.log_batch, run_id, metrics=points[i : i + METRICS_PER_BATCH])


def describe(client, run_id: str, markdown: str) -> None:
    """The run's description in the MLflow UI (Markdown)."""
    if len(markdown) > DESCRIPTION_MAX:
        markdown = markdown[: DESCRIPTION_MAX - 40].rstrip() + "\n\n(cut: see comparison.md)\n"
    set_tags(client, run_id, {DESCRIPTION_TAG: markdown})


def log_json(client, run_id: str, obj: object, artifact_file: str) -> None:
    client.log_text(
        run_id, json.dumps(obj, indent=2, ensure_ascii=False, default=str), artifact_file
    )

"""MLflow tracking by the contract (README, "Where results go"), through explicit run ids.

Runs are created and ended with :class:`mlflow.MlflowClient` so that a run
never depends on a thread's fluent "active run" stack, and every run this
module opens is ended FINISHED, FAILED or KILLED by the code that opened it.
MLflow is imported lazily: ``bnpipe datasets`` never pays for it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from bnpipe.processes import is_alive

PARENT_TAG = "mlflow.parentRunId"
OWNER_HOST_TAG = "bnpipe.host"
OWNER_PID_TAG = "bnpipe.pid"
METRICS_PER_BATCH = 1000  # MLflow's log_batch limit
DESCRIPTION_TAG = "mlflow.note.content"  # a run's Markdown description in the UI
DESCRIPTION_MAX = 8000  # MLflow's longest tag value
# What the UI reads to open an experiment on its training runs (not the GenAI overview).
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"
SCHEMA_SAMPLE_ROWS = 10_000  # rows a dataset input's schema is inferred from
DIGEST_CHARS = 12  # of the data's SHA-256: the dataset digest MLflow shows (it keeps 36 at most)


class TrackingError(RuntimeError):
    """The MLflow tracking store cannot be used."""


def experiment_name(dataset: str) -> str:
    return f"bn-comparison-{dataset}"


def registered_model_name(dataset: str) -> str:
    return f"bnpipe-{dataset}"


def redact_uri(uri: str) -> str:
    """A tracking URI without credentials, for messages and logs."""
    parts = urllib.parse.urlsplit(uri)
    if not (parts.password or parts.username):
        return uri  # unchanged: urlunsplit would turn sqlite:////abs/path into sqlite://abs/path
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def artifact_root_for(tracking_uri: str, default_root: Path) -> str | None:
    """Where a new experiment keeps artifacts: beside a SQLite store; the
    server's own choice for an http(s) store."""
    if tracking_uri.startswith("sqlite:///"):
        db = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0])
        if not db.is_absolute():
            db = Path.cwd() / db
        return (db.parent / "mlartifacts").resolve().as_uri()
    if "://" not in tracking_uri or tracking_uri.startswith("file:"):
        return default_root.resolve().as_uri()
    return None


def connect(tracking_uri: str):
    """Point MLflow at ``tracking_uri`` and check the store answers."""
    os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
    os.environ.setdefault("DO_NOT_TRACK", "true")
    # A dead server should fail in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow
    from mlflow import MlflowClient

    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    try:
        with _store_init_lock(tracking_uri):
            client = MlflowClient(tracking_uri)  # creates and migrates a new SQLite store
            client.search_experiments(max_results=1)
    except Exception as exc:  # noqa: BLE001 - any failure here means "unusable store"
        if refused := refused_credentials(exc):
            raise TrackingError(
                f"MLflow tracking server {redact_uri(tracking_uri)}: {refused}"
            ) from None
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        # MLflow wraps urllib3's wrapping of the socket error: show the socket error
        root = re.search(r"\[Errno -?\d+\] [^\"')]+", first)
        raise TrackingError(
            f"MLflow tracking store {redact_uri(tracking_uri)} is unreachable: {root.group(0) if root else first}"
        ) from None
    return client


def check_writable(client, tracking_uri: str, artifact_root: str | None) -> None:
    """Fail now, in one line naming the store, when it cannot be written: a read-only
    or full SQLite file, a server that refuses writes, an artifact folder that takes
    no files. (Reading alone succeeds on all of them; the first write came after
    the whole start-up, as two SQLAlchemy tracebacks.)"""
    from datetime import UTC, datetime

    from mlflow.exceptions import MlflowException

    shown = redact_uri(tracking_uri)
    quiet = logging.getLogger("mlflow.store.db.utils")  # logs the failure with its traceback
    was, quiet.disabled = quiet.disabled, True
    try:
        client.set_experiment_tag("0", "bnpipe.write_check", datetime.now(UTC).isoformat())
    except MlflowException as exc:
        if getattr(exc, "error_code", "") == "RESOURCE_DOES_NOT_EXIST":
            return  # no Default experiment to probe with: the first run's write will tell
        raise TrackingError(
            f"MLflow tracking store {shown} cannot be written: {_cause(exc)}"
        ) from None
    except Exception as exc:  # noqa: BLE001 - SQLAlchemy, OS errors: all "cannot be written"
        raise TrackingError(
            f"MLflow tracking store {shown} cannot be written: {_cause(exc)}"
        ) from None
    finally:
        quiet.disabled = was
    if artifact_root and artifact_root.startswith("file:"):
        import tempfile
        import urllib.parse
        import urllib.request

        folder = Path(urllib.request.url2pathname(urllib.parse.urlsplit(artifact_root).path))
        try:
            folder.mkdir(parents=True, exist_ok=True)
            with tempfile.NamedTemporaryFile(dir=folder, prefix=".bnpipe-write-check-") as fh:
                fh.write(b"\0" * 4096)
                fh.flush()
                os.fsync(fh.fileno())
        except OSError as exc:
            raise TrackingError(
                f"MLflow artifact store {folder} (of {shown}) cannot be written: {exc.strerror or exc}"
            ) from None


def refused_credentials(exc: BaseException) -> str | None:
    """What an MLflow server's 401 or 403 means, in words (never the password);
    None for any other failure."""
    text = str(getattr(exc, "message", "") or exc)
    found = re.search(r"error code (401|403) != 200", text)
    if not found:
        return None
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    if found.group(1) == "401":
        who = f"user {user!r}" if user else "no user (MLFLOW_TRACKING_USERNAME is not set)"
        return (
            f"the server refused the credentials of {who} (HTTP 401): set "
            "MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (`bnpipe stack env` prints them)"
        )
    return f"user {user!r} may not do this here (HTTP 403 Permission denied)"


def _cause(exc: BaseException) -> str:
    """The first line that says what went wrong, without SQLAlchemy's wrapping."""
    if refused := refused_credentials(exc):
        return refused
    text = str(getattr(exc, "message", "") or exc).strip()
    found = re.search(r"\(sqlite3\.\w+\) ([^\n\[]+)", text)
    if found:
        return found.group(1).strip()
    return text.splitlines()[0][:300] if text else type(exc).__name__


@contextlib.contextmanager
def _store_init_lock(tracking_uri: str) -> Iterator[None]:
    """Serialise opening a SQLite store across processes on this machine.

    MLflow creates and migrates a new SQLite store's tables when a client first
    opens it; two flow runs starting at once against a fresh ``mlflow.db`` would
    both run the migrations and one fails half-way (``AttributeError:
    dimension_attributes``). The lock lives in the temp folder, keyed by the
    database path, so the project folder gets no extra file.
    """
    if not tracking_uri.startswith("sqlite:///"):
        yield
        return
    import fcntl
    import hashlib
    import tempfile

    db = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve()
    key = hashlib.sha256(str(db).encode()).hexdigest()[:16]
    with open(Path(tempfile.gettempdir()) / f"bnpipe-mlflow-{key}.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    """The experiment's id, created when missing; tagged as a model-training
    experiment so the MLflow UI opens on its runs."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made by an older bnpipe
            with contextlib.suppress(Exception):  # how the UI opens it: never worth a failed run
                _write(
                    client.set_experiment_tag,
                    exp.experiment_id,
                    EXPERIMENT_KIND_TAG,
                    EXPERIMENT_KIND,
                )
        return exp.experiment_id
    try:
        return client.create_experiment(
            name,
            artifact_location=artifact_location,
            tags={EXPERIMENT_KIND_TAG: EXPERIMENT_KIND},
        )
    except Exception:
        exp = client.get_experiment_by_name(name)  # created concurrently
        if exp is None:
            raise
        return exp.experiment_id


def _params(params: Mapping[str, object]):
    from mlflow.entities import Param

    return [Param(k, "None" if v is None else str(v)) for k, v in params.items()]


def _metrics(values: Mapping[str, float], step: int = 0):
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    return [Metric(k, float(v), now, step) for k, v in values.items()]


LOCKED_RETRIES = 5


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


def log_params(client, run_id: str, params: Mapping[str, object]) -> None:
    _write(client.log_batch, run_id, params=_params(params))


def log_metrics(client, run_id: str, values: Mapping[str, float]) -> None:
    if values:
        _write(client.log_batch, run_id, metrics=_metrics(values))


def set_tags(client, run_id: str, tags: Mapping[str, object]) -> None:
    from mlflow.entities import RunTag

    _write(client.log_batch, run_id, tags=[RunTag(k, str(v)) for k, v in tags.items()])


def log_curves(client, run_id: str, history: Mapping[str, Iterable[float]]) -> None:
    """Per-epoch curves (step = epoch, from 0) with ``log_batch``, chunked."""
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
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


def dataset_entity(name: str, frame, *, sha256: str, url: str, target: str | None = None):
    """The snapshot as an MLflow dataset: ``name``, a digest from the content's
    SHA-256, the URL it came from (redacted: no user info, no query) as its source,
    and the frame's schema. The entity, not the data: nothing is uploaded.

    The schema is inferred from at most ``SCHEMA_SAMPLE_ROWS`` rows (MLflow's
    inference takes ~7 s on a million rows); the profile counts every row."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.entities import Dataset

    from bnpipe.ingest import redact

    sample = frame
    if len(frame) > SCHEMA_SAMPLE_ROWS:
        sample = frame.sample(n=SCHEMA_SAMPLE_ROWS, random_state=0).sort_index()
    with warnings.catch_warnings():  # "can be interpreted in multiple ways" for file: URLs,
        warnings.simplefilter("ignore")  # integer columns with missing cells, ...
        try:  # http(s): an HTTP source; file: a local artifact
            source = resolve_dataset_source(redact(url))
        except Exception:  # noqa: BLE001 - no resolver, e.g. package:bnpipe/data/iris.csv
            from mlflow.data.code_dataset_source import CodeDatasetSource

            source = CodeDatasetSource(tags={"uri": redact(url)})  # the copy bnpipe ships
        entity = PandasDataset(
            sample, source=source, targets=target, name=name, digest=sha256[:DIGEST_CHARS]
        )._to_mlflow_entity()
    profile = json.dumps({"num_rows": len(frame), "num_elements": int(frame.size)})
    return Dataset(
        name=entity.name,
        digest=entity.digest,
        source_type=entity.source_type,
        source=entity.source,
        schema=entity.schema,
        profile=profile,
    )


def log_dataset(client, run_id: str, entity, context: str = "training") -> None:
    """Record ``entity`` (:func:`dataset_entity`) as an input of the run."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
    _write(client.log_inputs, run_id, datasets=[DatasetInput(entity, tags=tags)])


def dataset_inputs(client, run_id: str) -> list:
    """The datasets a run has as inputs (their entities)."""
    return [d.dataset for d in client.get_run(run_id).inputs.dataset_inputs]


def log_json(client, run_id: str, obj: object, artifact_file: str) -> None:
    client.log_text(
        run_id, json.dumps(obj, indent=2, ensure_ascii=False, default=str), artifact_file
    )


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
    """End the children of ``parent_id`` that are still RUNNING (a flow failed)."""
    closed = []
    for run in _running(client, experiment_id):
        if run.data.tags.get(PARENT_TAG) == parent_id:
            _write(client.set_terminated, run.info.run_id, status=status)
            closed.append(run.info.run_id)
    return closed


def close_stale_runs(client, experiment_id: str) -> list[str]:
    """End KILLED the runs whose owning process died (SIGKILL, a crashed worker).

    A parent run records its host and PID; a RUNNING parent owned by a dead
    process on this host is stale, and so are its children. Runs of a live
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
    closed = []
    for run in running:
        if run.info.run_id in stale_parents or run.data.tags.get(PARENT_TAG) in stale_parents:
            _write(client.set_terminated, run.info.run_id, status="KILLED")
            closed.append(run.info.run_id)
    return closed


def log_child_run(
    client,
    experiment_id: str,
    parent_id: str,
    *,
    variant: str,
    seed: int,
    params: Mapping[str, object],
    history: Mapping[str, list[float]],
    metrics: Mapping[str, float],
    model_path,
    preprocessor,
    log_model: bool = True,
    tags: Mapping[str, object] | None = None,
    datasets: Iterable = (),
    dataset_name: str = "",
) -> tuple[str, str | None]:
    """One child run per (variant, seed): params, curves, test metrics, model,
    the parent's dataset inputs (``datasets``, entities) and a description.

    Returns the run id and the logged model's URI (None when the seed diverged:
    a non-finite model is never logged, and its run ends FAILED)."""
    import mlflow

    diverged = any(not math.isfinite(v) for vs in history.values() for v in vs[-1:]) or any(
        not math.isfinite(v) for v in metrics.values()
    )
    description = child_description(variant, seed, metrics, dataset_name, diverged)
    run_id = start_run(
        client,
        experiment_id,
        run_name=f"{variant}-seed{seed}",
        tags={"variant": variant, "seed": seed, DESCRIPTION_TAG: description, **(tags or {})},
        parent_id=parent_id,
    )
    try:
        log_params(client, run_id, {"variant": variant, "seed": seed, **params})
        log_curves(client, run_id, history)
        finite = {k: v for k, v in metrics.items() if math.isfinite(v)}  # as SeedResult.diverged
        log_metrics(client, run_id, finite)
        for entity in datasets:
            log_dataset(client, run_id, entity)
        if diverged:
            set_tags(client, run_id, {"diverged": "true"})
            end_run(client, run_id, "FAILED")
            return run_id, None
        model_uri = None
        if log_model:
            from bnpipe import serving

            with mlflow.start_run(run_id=run_id):
                model_uri = serving.log_model(model_path, preprocessor, name="model").model_uri
        else:
            end_run(client, run_id)
    except BaseException as exc:
        end_run(client, run_id, status_for(exc))
        raise
    return run_id, model_uri


def child_description(
    variant: str, seed: int, metrics: Mapping[str, float], dataset: str = "", diverged=False
) -> str:
    """A seed run's description: variant, seed and its test metrics."""
    on = f" on {dataset}" if dataset else ""
    lines = [f"**{variant}**, seed {seed}{on}", ""]
    if diverged:
        lines += ["Diverged (non-finite loss): no model logged; left out of the comparison.", ""]
    lines += ["| test metric | value |", "|---|---|"]
    lines += [f"| {k.removeprefix('test_')} | {v:.4g} |" for k, v in metrics.items()]
    return "\n".join(lines) + "\n"


class ParentRun:
    """A handle on one flow run's parent MLflow run, passed between tasks.

    It is plain data (URI and ids); the client is made on first use.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, run_id: str):
        self.tracking_uri, self.experiment_id, self.run_id = tracking_uri, experiment_id, run_id
        self._client = None

    def __getstate__(self):
        return {**self.__dict__, "_client": None}

    def __repr__(self) -> str:
        return f"ParentRun(experiment_id={self.experiment_id!r}, run_id={self.run_id!r})"

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def tag(self, tags: Mapping[str, object]) -> None:
        set_tags(self.client, self.run_id, tags)

    def log_params(self, params: Mapping[str, object]) -> None:
        log_params(self.client, self.run_id, params)

    def log_metrics(self, values: Mapping[str, float]) -> None:
        log_metrics(
            self.client, self.run_id, {k: v for k, v in values.items() if not math.isnan(v)}
        )

    def log_json(self, obj: object, artifact_file: str) -> None:
        log_json(self.client, self.run_id, obj, artifact_file)

    def describe(self, markdown: str) -> None:
        describe(self.client, self.run_id, markdown)

    def log_dataset(self, entity) -> None:
        log_dataset(self.client, self.run_id, entity)

    def datasets(self) -> list:
        return dataset_inputs(self.client, self.run_id)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def end(self, exc: BaseException | None = None) -> None:
        """End this run and any child still RUNNING: FINISHED, FAILED or KILLED."""
        status = status_for(exc)
        if exc is not None:
            message = (
                str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
            )
            self.tag({"error": f"{type(exc).__name__}: {message}"})
        close_open_runs(
            self.client,
            self.experiment_id,
            parent_id=self.run_id,
            status=status_for(exc or RuntimeError()),
        )
        end_run(self.client, self.run_id, status)

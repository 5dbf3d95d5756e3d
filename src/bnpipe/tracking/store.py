"""Open an MLflow tracking store: connect, check it can be written, say why a
server refused the credentials, and make the experiment of a dataset."""

from __future__ import annotations

import contextlib
import logging
import os
import re
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

from bnpipe.locks import file_lock
from bnpipe.settings import telemetry_off
from bnpipe.tracking.writes import _write

# MLflow's name for a model-training experiment. MLflow 3.17's UI does not read it to
# choose where an experiment opens (the browser's mode decides: bnpipe.ops.mlflow_app).
EXPERIMENT_KIND_TAG, EXPERIMENT_KIND = "mlflow.experimentKind", "custom_model_development"


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
    telemetry_off()
    # A dead server should fail in seconds, not after minutes of retries.
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")
    import mlflow
    from mlflow import MlflowClient

    if tracking_uri.startswith("sqlite:///"):
        Path(tracking_uri.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(tracking_uri)
    # "Creating initial MLflow database tables...", "Updating database tables": a new
    # SQLite store's set-up, which the run's own lines already imply.
    logging.getLogger("mlflow.store.db.utils").setLevel(logging.WARNING)
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
    import hashlib
    import tempfile

    db = Path(tracking_uri.removeprefix("sqlite:///").split("?", 1)[0]).resolve()
    key = hashlib.sha256(str(db).encode()).hexdigest()[:16]
    with file_lock(Path(tempfile.gettempdir()) / f"bnpipe-mlflow-{key}.lock"):
        yield


def ensure_experiment(client, name: str, artifact_location: str | None) -> str:
    """The experiment's id, created when missing; tagged as a model-training
    experiment (``mlflow.experimentKind``), what MLflow calls it."""
    exp = client.get_experiment_by_name(name)
    if exp is not None:
        if exp.lifecycle_stage == "deleted":
            client.restore_experiment(exp.experiment_id)
        if exp.tags.get(EXPERIMENT_KIND_TAG) != EXPERIMENT_KIND:  # made by an older bnpipe
            with contextlib.suppress(Exception):  # a label: never worth a failed run
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

"""Tasks called as plain functions (``task.fn(...)``), as the flows call them, on
small real inputs: a tiny dataset, throwaway SQLite MLflow stores, a one-worker
local Dask cluster, the run logger disabled, events caught, and a Prefect test
API for what needs one (submitting tasks in a flow, the promotion lock's global
concurrency limit). Nothing is mocked."""

from __future__ import annotations

import contextlib
import dataclasses
import uuid

import numpy as np
import pandas as pd
import pytest

from bnpipe.catalog import get_spec, load_catalog, parse_entry
from bnpipe.settings import Settings, load_settings
from tests.conftest import REPO
from tests.httpfiles import dead_port


@pytest.fixture(scope="session")
def tiny():
    """120 rows, y ~ 2a - b + noise, one blank target: (spec, frame)."""
    rng = np.random.default_rng(0)
    a, b = rng.normal(0, 1, 120), rng.uniform(0, 3, 120)
    frame = pd.DataFrame({"a": a, "b": b, "y": 2 * a - b + rng.normal(0, 0.1, 120)})
    frame.loc[7, "y"] = np.nan
    entry = {"url": "https://example.com/tiny.csv", "task": "regression", "target": "y"}
    return parse_entry("tiny", entry | {"features": ["a", "b"], "missing": "impute"}), frame


@pytest.fixture(scope="session")
def store(tmp_path_factory):
    """The tracking URI of a fresh SQLite store (MLflow points at it)."""
    from bnpipe import tracking

    uri = f"sqlite:///{tmp_path_factory.mktemp('mlflow') / 'mlflow.db'}"
    tracking.connect(uri)
    return uri


@pytest.fixture
def parent(store, tmp_path):
    """A parent run in an experiment of the test's own."""
    from bnpipe import tracking
    from bnpipe.tracking import ParentRun

    client = tracking.connect(store)
    name = f"tasks-{uuid.uuid4().hex[:8]}"
    experiment = tracking.ensure_experiment(client, name, (tmp_path / "artifacts").as_uri())
    run_id = tracking.start_run(client, experiment, run_name="parent", tags={})
    run = ParentRun(store, experiment, run_id)
    yield run
    run.end()


@pytest.fixture(scope="session")
def dask():
    """The session's training cluster (one worker), passed to the tasks that
    train or score on it (the champion scores on it)."""
    from bnpipe.ops.cluster import TrainingCluster

    with TrainingCluster(workers=1) as training:
        yield training


@pytest.fixture(scope="session")
def prefect_api():
    from prefect.testing.utilities import prefect_test_harness

    with prefect_test_harness(server_startup_timeout=120):
        yield


@pytest.fixture(autouse=True)
def _no_run_logger():
    """``get_run_logger()`` outside a flow run gives a logger that drops records."""
    from prefect.logging import disable_run_logger

    with disable_run_logger():
        yield


@pytest.fixture
def settings(tmp_path) -> Settings:
    """This checkout's catalog and suites; state and MLflow store under ``tmp_path``."""
    return load_settings(
        {
            "BNPIPE_PROJECT_DIR": str(REPO),
            "BNPIPE_STATE_DIR": str(tmp_path / "state"),
            "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        }
    )


@pytest.fixture
def dead_prefect_api(monkeypatch) -> str:
    """The Prefect API is a loopback port nothing listens on: a call that needs it
    fails at once instead of starting a temporary server."""
    from prefect.settings import PREFECT_API_URL, temporary_settings

    dead = f"http://127.0.0.1:{dead_port()}/api"
    monkeypatch.setenv("PREFECT_API_URL", dead)  # for Prefect's threads
    with temporary_settings(updates={PREFECT_API_URL: dead}):
        yield dead


@contextlib.contextmanager
def _events_worker(monkeypatch, client_type):
    """Every ``EventsWorker.instance()`` is one worker with ``client_type``."""
    from prefect.events.worker import EventsWorker

    worker = EventsWorker.instance(client_type)
    monkeypatch.setattr(EventsWorker, "instance", lambda *_: worker)
    try:
        yield worker
    finally:
        worker.drain()


@pytest.fixture
def events(monkeypatch, dead_prefect_api):
    """``events()``: the events sent so far, caught as Prefect's own tests catch them."""
    from prefect.events.clients import AssertingEventsClient

    AssertingEventsClient.reset()
    with _events_worker(monkeypatch, AssertingEventsClient) as worker:

        def sent() -> list:
            worker.wait_until_empty()
            client = AssertingEventsClient.last
            return list(getattr(client, "events", []))  # set when the worker starts

        yield sent
    AssertingEventsClient.reset()


@pytest.fixture
def no_events_client(monkeypatch, dead_prefect_api):
    """Prefect's worker without an events client: ``emit_event`` sends nothing."""
    from prefect.events.clients import NullEventsClient

    with _events_worker(monkeypatch, NullEventsClient):
        yield


@pytest.fixture
def open_run(settings):
    """``open_run(experiment, **tags)``: a RUNNING top-level run in the settings'
    store, as the flows' first task opens it."""
    from bnpipe import tracking
    from bnpipe.tracking import ParentRun

    client = tracking.connect(settings.tracking_uri)

    def start(experiment: str, **tags) -> ParentRun:
        root = tracking.artifact_root_for(settings.tracking_uri, settings.artifact_root)
        exp_id = tracking.ensure_experiment(client, experiment, f"{root}/{experiment}")
        run_id = tracking.start_run(client, exp_id, run_name="test", tags=tags)
        return ParentRun(settings.tracking_uri, exp_id, run_id)

    return start


@pytest.fixture
def upstream(loopback, tmp_path, settings, data_mirror):
    """iris served over loopback HTTP as the settings' mirror: (server, settings, spec)."""
    server = loopback(tmp_path / "served")
    server.put("iris.csv", (data_mirror / "iris.csv").read_bytes())
    env = {"BNPIPE_DATA_MIRROR": server.url, "BNPIPE_PROJECT_DIR": str(settings.project_dir)}
    served = dataclasses.replace(settings, data_mirror=load_settings(env).data_mirror)
    return server, served, get_spec(load_catalog(settings.catalog_path), "iris")

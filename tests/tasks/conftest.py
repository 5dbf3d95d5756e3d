"""The tasks' ``.fn`` called as the flows call them, outside a Prefect run: a
throwaway SQLite MLflow store, the run logger disabled, events caught."""

from __future__ import annotations

import contextlib

import pytest

from bnpipe.settings import Settings, load_settings
from tests.conftest import REPO
from tests.httpfiles import dead_port


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

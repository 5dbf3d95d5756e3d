"""Shared fixtures. Real data is read through BNPIPE_DATA_MIRROR (never copied here)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bnpipe.settings import telemetry_off
from tests.httpfiles import LoopbackServer
from tests.servers import SharedDask, SharedPrefect, ready_for_a_test

REPO = Path(__file__).resolve().parents[1]

# Offline hygiene for everything the tests start.
telemetry_off()
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# One persistent XLA cache for every process the tests start (the in-process Dask
# workers and each `bnpipe run` subprocess inherit it): a training loop compiled once
# for its shapes and epochs is loaded by the next run, not compiled again.
os.environ.setdefault("BNPIPE_XLA_CACHE_DIR", str(REPO / ".test-output" / "xla-cache"))


@pytest.fixture(scope="session")
def data_mirror() -> Path:
    """The directory holding the notebook's CSVs (``../shared/data`` by default)."""
    mirror = os.environ.get("BNPIPE_DATA_MIRROR") or str(REPO.parent / "shared" / "data")
    path = Path(mirror).resolve()
    if not (path / "boston.csv").is_file():
        pytest.fail(f"real data not found under {path}: set BNPIPE_DATA_MIRROR to ../shared/data")
    return path


@pytest.fixture
def loopback():
    """Start :class:`tests.httpfiles.LoopbackServer` s for this test:
    ``loopback(root=None, **options)``; each is closed after the test."""
    started: list[LoopbackServer] = []

    def start(root: Path | None = None, **options) -> LoopbackServer:
        started.append(LoopbackServer(root, **options))
        return started[-1]

    yield start
    for server in started:
        server.close()


@pytest.fixture(scope="session")
def data_server(data_mirror, tmp_path_factory):
    """The real CSVs (symlinked, never copied) served over loopback HTTP for the whole
    session, from a folder of its own: files a test puts there are served too."""
    root = tmp_path_factory.mktemp("served-data")
    for csv in data_mirror.glob("*.csv"):
        (root / csv.name).symlink_to(csv)
    with LoopbackServer(root) as server:
        yield server


PROJECT_VARS = (
    "BNPIPE_DATA_MIRROR",
    "BNPIPE_CATALOG",
    "BNPIPE_PROJECT_DIR",
    "BNPIPE_EXPECTATIONS_DIR",
    "BNPIPE_STATE_DIR",
)


@pytest.fixture
def env(tmp_path):
    """``os.environ`` for in-process ``bnpipe.ops.cli.main()`` calls, restored afterwards
    (``main`` sets PREFECT_HOME and other hygiene variables with setdefault)."""
    saved = dict(os.environ)
    for key in PROJECT_VARS:
        os.environ.pop(key, None)
    os.environ["BNPIPE_STATE_DIR"] = str(tmp_path / "state")
    yield os.environ
    os.environ.clear()
    os.environ.update(saved)


# --------------------------------------------------------------------------- shared servers
# Started on first use: a session whose tests need neither pays for neither.


@pytest.fixture(scope="session")
def prefect_server(tmp_path_factory) -> SharedPrefect:
    """One real Prefect server for the session (``.api_url``: PREFECT_API_URL)."""
    server = SharedPrefect(tmp_path_factory.mktemp("prefect-server"))
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory) -> SharedDask:
    """One real Dask scheduler with one worker for the session (``.address``:
    BNPIPE_DASK_ADDRESS); ``ensure_usable()`` restarts a worker a test left busy."""
    cluster = SharedDask(tmp_path_factory.mktemp("dask-cluster"))
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
def shared_stack(prefect_server, dask_cluster):
    """``(prefect_server, dask_cluster)``: the server answering, the worker idle."""
    return ready_for_a_test(prefect_server, dask_cluster)

"""Fixtures for end-to-end tests: a loopback HTTP mirror, an isolated project state,
and the servers a session shares.

Shared, started once by the first test that asks and stopped after the last one
(the tests using one are run next to each other, see ``pytest_collection_modifyitems``):

* ``local_stack``: one `bnpipe stack up` (Prefect server and worker, MLflow server,
  Dask) for the stack, UI and watch tests (:class:`tests.e2e.stacks.SharedStack`);
* ``browser``: one Chromium (Playwright); each test opens a context of its own;
* ``prefect_api``: one Prefect server for `bnpipe run` subprocesses whose test is
  not about the temporary server bnpipe starts without ``PREFECT_API_URL``;
* ``dask_cluster``: one `dask scheduler` and two one-thread `dask worker` s
  (``w1``, ``w2``) for runs given ``--dask-address`` / ``BNPIPE_DASK_ADDRESS``;
  a worker a test killed is started again for the next one.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BNPIPE = REPO / ".venv" / "bin" / "bnpipe"
DASK = Path(sys.executable).parent / "dask"
CHROMIUM = os.environ.get("BNPIPE_CHROMIUM", "/usr/bin/chromium")
# As root, with no network but loopback: no sandbox, and none of Chromium's own
# background connections (each would be refused, many at a time).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def http_mirror(data_server):
    """``(base_url, folder)`` of the session's loopback server of ``../shared/data``
    (``data_server``): files written into ``folder`` are served too."""
    return data_server.url, data_server.root


@pytest.fixture
def project_env(tmp_path, http_mirror):
    """Environment for a `bnpipe` subprocess: its own state, MLflow store and catalog copy."""
    base_url, _ = http_mirror
    catalog = tmp_path / "datasets.yaml"
    catalog.write_text((REPO / "datasets.yaml").read_text("utf-8"), "utf-8")
    expectations = tmp_path / "expectations"
    expectations.mkdir()
    for suite in (REPO / "expectations").glob("*.json"):
        (expectations / suite.name).write_text(suite.read_text("utf-8"), "utf-8")
    env = {
        **os.environ,
        "BNPIPE_DATA_MIRROR": base_url,
        "BNPIPE_STATE_DIR": str(tmp_path / "state"),
        "BNPIPE_DASK_WORKERS": "1",  # one TensorFlow load per run on this 2-core machine
        "BNPIPE_CATALOG": str(catalog),
        "BNPIPE_EXPECTATIONS_DIR": str(expectations),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "PREFECT_HOME": str(tmp_path / "prefect"),
    }
    env.pop("BNPIPE_DASK_ADDRESS", None)  # bnpipe's own local cluster
    env["PREFECT_API_URL"] = (
        ""  # ephemeral, even if a `bnpipe stack` prefect.toml is in the checkout
    )
    return env


@pytest.fixture
def shared_env(project_env, prefect_api, dask_cluster):
    """``project_env`` on the session's Prefect server and Dask cluster: a `bnpipe run`
    starts no temporary server and no local cluster of its own."""
    return {
        **project_env,
        "PREFECT_API_URL": prefect_api,
        "BNPIPE_DASK_ADDRESS": dask_cluster.ready().address,
    }


# ----------------------------------------------------------------------------- sharing

# fixture name -> how to stop what it started, for the shared fixtures still running
_STOPS: dict[str, Callable[[], None]] = {}
SHARED = ("local_stack", "browser", "prefect_api", "dask_cluster")


def pytest_collection_modifyitems(items):
    """The e2e tests on the shared local stack run one after another, after the other
    e2e tests (in their order otherwise): the stack is stopped after the last of them."""
    at = [i for i, item in enumerate(items) if Path(item.path).parent == Path(__file__).parent]
    e2e = [items[i] for i in at]
    e2e.sort(key=lambda item: "local_stack" in item.fixturenames)  # stable
    for i, item in zip(at, e2e, strict=True):
        items[i] = item


@pytest.hookimpl(trylast=True)
def pytest_runtest_teardown(item, nextitem):
    """After the last test (in run order) that uses a shared fixture, stop what it
    started rather than at the end of the session (tests in other folders run on)."""
    last = _last_users(item.session)
    for name in [n for n in SHARED if n in _STOPS and last.get(n) is item]:
        _STOPS.pop(name)()


_LAST: dict[str, object] = {}


def _last_users(session) -> dict[str, object]:
    """Shared fixture name -> the last test of this run that uses it."""
    if not _LAST:
        for test in session.items:
            for name in SHARED:
                if name in test.fixturenames:
                    _LAST[name] = test
        _LAST.setdefault("", None)  # computed, even if no test uses one
    return _LAST


def _shared(name: str, stop: Callable[[], None]):
    """Register ``stop`` for ``name``; the returned function runs it once, whoever calls."""
    done = []

    def once():
        if not done:
            done.append(True)
            _STOPS.pop(name, None)
            stop()

    _STOPS[name] = once
    return once


@pytest.fixture(scope="session")
def local_stack(tmp_path_factory, data_mirror, data_server):
    """The session's local stack (:class:`tests.e2e.stacks.SharedStack`)."""
    from tests.e2e.stacks import SharedStack, explain, recorded_pids

    shared = SharedStack(
        tmp_path_factory.mktemp("local-stack"), data_server.url, data_server.root, data_mirror
    )

    def stop():
        down = shared.stop()
        assert down.returncode == 0, explain(down)
        assert not recorded_pids(shared.project)

    stop_once = _shared("local_stack", stop)
    try:
        yield shared
    finally:
        stop_once()


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium through Playwright's ``executable_path`` (its own browser
    download cannot work offline); each test opens a context of its own."""
    if not Path(CHROMIUM).is_file():
        pytest.fail(f"{CHROMIUM} not found: install Debian's chromium (.ci/run does)")
    from playwright.sync_api import sync_playwright

    pw = sync_playwright().start()
    try:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
    except BaseException:
        pw.stop()
        raise

    def stop():
        try:
            chromium.close()
        finally:
            pw.stop()

    stop_once = _shared("browser", stop)
    try:
        yield chromium
    finally:
        stop_once()


@pytest.fixture(scope="session")
def prefect_api(tmp_path_factory) -> str:
    """The API URL of one Prefect server for the session's `bnpipe run` subprocesses
    (``PREFECT_API_URL``): the same server bnpipe starts for a run of its own
    (:class:`bnpipe.ops.tempserver.TemporaryServer`), started once."""
    from bnpipe.ops.tempserver import TemporaryServer

    tmp = tmp_path_factory.mktemp("session-prefect")
    server = TemporaryServer(tmp / "prefect", tmp / "logs", timeout=300).start()
    stop_once = _shared("prefect_api", server.stop)
    try:
        yield server.wait_ready()
    finally:
        stop_once()


def free_port() -> int:
    """A loopback port that was bound and closed again: nothing listens on it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def start(argv: list, env: dict, log: Path, cwd: Path) -> subprocess.Popen:
    with open(log, "ab") as fh:
        return subprocess.Popen(
            [str(a) for a in argv], cwd=cwd, env=env, stdout=fh, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip


def stop(proc: subprocess.Popen) -> None:
    """End a process started with ``start_new_session=True`` with its process group."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        if proc.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=10)


@dataclass
class Cluster:
    address: str
    client: object  # distributed.Client
    procs: dict[str, subprocess.Popen]  # "scheduler", "w1", "w2"
    addresses: dict[str, str]  # worker name -> worker address
    tmp: Path = field(repr=False)
    env: dict[str, str] = field(repr=False)

    WORKERS = ("w1", "w2")

    def _start_worker(self, name: str) -> None:
        self.procs[name] = start(
            [DASK, "worker", self.address, "--nworkers", 1, "--nthreads", 1, "--no-dashboard",
             "--host", "127.0.0.1", "--name", name, "--local-directory", self.tmp / name],
            self.env, self.tmp / f"{name}.log", self.tmp,
        )  # fmt: skip

    def ready(self) -> Cluster:
        """Both workers up (one a test killed is started again), ``addresses`` current."""
        for name in self.WORKERS:
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is None:
                continue
            deadline = time.monotonic() + 60  # until the scheduler has let the dead one go
            while name in self._names():
                assert time.monotonic() < deadline, f"{name} still listed after it died"
                time.sleep(0.5)
            self._start_worker(name)
        deadline = time.monotonic() + 120
        while set(self._names()) != set(self.WORKERS):
            log = "\n".join((self.tmp / f"{n}.log").read_text()[-2000:] for n in self.WORKERS)
            assert time.monotonic() < deadline, f"workers {self._names()}:\n{log}"
            time.sleep(0.5)
        self.addresses = self._names()
        return self

    def _names(self) -> dict[str, str]:
        workers = self.client.scheduler_info(n_workers=-1)["workers"]
        return {info["name"]: addr for addr, info in workers.items()}

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.client.close()
        for proc in reversed(self.procs.values()):
            stop(proc)


@pytest.fixture(scope="session")
def dask_cluster(tmp_path_factory):
    """A `dask scheduler` and two one-thread `dask worker` s (names w1, w2) on 127.0.0.1
    for the session; ``.ready()`` before each use."""
    from distributed import Client

    tmp = tmp_path_factory.mktemp("session-dask")
    env = {k: v for k, v in os.environ.items() if k != "BNPIPE_DASK_ADDRESS"}
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    argv = [DASK, "scheduler", "--host", "127.0.0.1", "--port", port, "--no-dashboard",
            "--dashboard-address", "127.0.0.1:0"]  # fmt: skip  # its HTTP server: not on :8787
    procs = {"scheduler": start(argv, env, tmp / "scheduler.log", tmp)}
    cluster = None
    try:
        client = None
        deadline = time.monotonic() + 60
        while client is None:
            try:
                client = Client(address, timeout=10)
            except OSError:
                assert time.monotonic() < deadline, (tmp / "scheduler.log").read_text()
                time.sleep(0.5)
        cluster = Cluster(address, client, procs, {}, tmp, env)
        stop_once = _shared("dask_cluster", cluster.close)
        yield cluster.ready()
    finally:
        if cluster is None:
            for proc in procs.values():
                stop(proc)
        else:
            stop_once()

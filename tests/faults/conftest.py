"""Fault injection: a loopback mirror that serves good and bad CSVs, isolated
projects for ``bnpipe`` subprocesses, process handling, and MLflow state readers.

Everything binds 127.0.0.1; every process a test starts is stopped by its PID.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.conftest import BNPIPE, REPO
from tests.httpfiles import dead_port  # noqa: F401 - the faults tests import it from here

PYTHON = REPO / ".venv" / "bin" / "python"


# --------------------------------------------------------------------------- the mirror


@pytest.fixture(scope="session")
def mirror(data_server):
    """The real CSVs over loopback HTTP (``data_server``: ``url``, ``put``, ``root``,
    and the ``requests`` it got with their Authorization)."""
    return data_server


# --------------------------------------------------------------------------- projects


@pytest.fixture(scope="session")
def store_templates(tmp_path_factory) -> dict[str, Path]:
    """Empty, migrated Prefect and MLflow databases to copy into projects.

    A fresh store costs every process that opens it its migrations (Prefect's
    ephemeral server: ~9 s of CPU); projects whose first run is not the point of
    the test start from these copies."""
    root = tmp_path_factory.mktemp("store-templates")
    env = {**os.environ, "PREFECT_HOME": str(root / "prefect")}
    env.pop("PREFECT_API_URL", None)
    prefect = subprocess.Popen(
        [str(REPO / ".venv" / "bin" / "prefect"), "server", "database", "upgrade", "-y"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    from bnpipe import tracking

    tracking.connect(f"sqlite:///{root / 'mlflow.db'}")
    _, err = prefect.communicate(timeout=300)
    assert prefect.returncode == 0, err
    return {"prefect": root / "prefect" / "prefect.db", "mlflow": root / "mlflow.db"}


def make_project(
    root: Path, mirror_url: str | None, templates: dict[str, Path] | None = None
) -> dict[str, str]:
    """Environment for ``bnpipe`` subprocesses: own catalog, suites, state, MLflow and Prefect
    (copies of ``templates``, by store name, where given)."""
    root.mkdir(parents=True, exist_ok=True)
    for name, db in (templates or {}).items():
        target = root / "prefect" / "prefect.db" if name == "prefect" else root / "mlflow.db"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(db, target)
    (root / "datasets.yaml").write_text((REPO / "datasets.yaml").read_text("utf-8"), "utf-8")
    (root / "expectations").mkdir(exist_ok=True)
    for suite in (REPO / "expectations").glob("*.json"):
        (root / "expectations" / suite.name).write_text(suite.read_text("utf-8"), "utf-8")
    env = {
        **os.environ,
        "BNPIPE_STATE_DIR": str(root / "state"),
        "BNPIPE_CATALOG": str(root / "datasets.yaml"),
        "BNPIPE_EXPECTATIONS_DIR": str(root / "expectations"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "PREFECT_HOME": str(root / "prefect"),
        # many processes share two cores here: give Prefect's ephemeral server time
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "300",
        # several runs at once on two cores: one local Dask worker (TensorFlow) each
        "BNPIPE_DASK_WORKERS": "1",
        "BNPIPE_DOWNLOAD_RETRIES": "1",
        "BNPIPE_DOWNLOAD_RETRY_DELAY": "0.1",
        "PYTHONUNBUFFERED": "1",
    }
    for key in ("PREFECT_API_URL", "BNPIPE_DATA_MIRROR", "BNPIPE_PROJECT_DIR"):
        env.pop(key, None)
    if mirror_url:
        env["BNPIPE_DATA_MIRROR"] = mirror_url
    return env


def seed_cache(env: dict[str, str], dataset: str, data: bytes) -> str:
    """Put a good download in the project's cache (``latest.json`` points at it)."""
    from bnpipe.ingest import DataCache

    snap = DataCache(Path(env["BNPIPE_STATE_DIR"]) / "cache").store(
        dataset, f"https://example.invalid/{dataset}.csv", data
    )
    return snap.sha256


def latest_sha(env: dict[str, str], dataset: str) -> str | None:
    pointer = Path(env["BNPIPE_STATE_DIR"]) / "cache" / dataset / "latest.json"
    return json.loads(pointer.read_text())["sha256"] if pointer.is_file() else None


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------- MLflow state


def client_for(env: dict[str, str]):
    from mlflow import MlflowClient

    return MlflowClient(env["MLFLOW_TRACKING_URI"])


def seed_champion(env: dict[str, str], dataset: str) -> str:
    """Register a stand-in version 1 of ``bnpipe-<dataset>`` and make it ``@champion``.

    It is never loaded: the runs that meet it stop before the champion rule."""
    from bnpipe import tracking

    client = tracking.connect(env["MLFLOW_TRACKING_URI"])
    name = tracking.registered_model_name(dataset)
    source = Path(env["BNPIPE_STATE_DIR"]).parent / "stand-in-model"
    source.mkdir(parents=True, exist_ok=True)
    client.create_registered_model(name)
    version = client.create_model_version(name, source=str(source), run_id=None).version
    client.set_registered_model_alias(name, "champion", version)
    return str(version)


def all_runs(client, dataset: str, experiment: str | None = None) -> list:
    from mlflow.entities import ViewType

    exp = client.get_experiment_by_name(experiment or f"bn-comparison-{dataset}")
    if exp is None:
        return []
    return client.search_runs([exp.experiment_id], run_view_type=ViewType.ALL, max_results=1000)


def parent_of_pid(runs: list, pid: int):
    """The parent run a ``bnpipe`` process opened (tag bnpipe.pid), or None."""
    found = [
        r
        for r in runs
        if "mlflow.parentRunId" not in r.data.tags and r.data.tags.get("bnpipe.pid") == str(pid)
    ]
    return found[0] if found else None


def children_of(runs: list, parent_id: str) -> list:
    return [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent_id]


def model_versions(client, dataset: str) -> list[str]:
    from mlflow.exceptions import MlflowException

    try:
        found = client.search_model_versions(f"name='bnpipe-{dataset}'")
    except MlflowException:
        return []
    return sorted((str(v.version) for v in found), key=int)


def champion_version(client, dataset: str) -> str | None:
    from mlflow.exceptions import MlflowException

    try:
        return str(client.get_model_version_by_alias(f"bnpipe-{dataset}", "champion").version)
    except MlflowException:
        return None


# --------------------------------------------------------------------------- processes


class Proc:
    """A ``bnpipe`` process with its output in files (read while it runs)."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logdir: Path):
        logdir.mkdir(parents=True, exist_ok=True)
        self.name = name
        self.out_path, self.err_path = logdir / f"{name}.out", logdir / f"{name}.err"
        self._out = open(self.out_path, "w")  # noqa: SIM115 - closed in poll()
        self._err = open(self.err_path, "w")  # noqa: SIM115
        self.started = time.monotonic()
        self.popen = subprocess.Popen(
            argv, cwd=REPO, env=env, stdout=self._out, stderr=self._err, stdin=subprocess.DEVNULL
        )
        self.pid = self.popen.pid
        self.elapsed: float | None = None

    @property
    def out(self) -> str:
        return self.out_path.read_text(errors="replace")

    @property
    def err(self) -> str:
        return self.err_path.read_text(errors="replace")

    @property
    def returncode(self) -> int | None:
        return self.popen.returncode

    def poll(self) -> int | None:
        rc = self.popen.poll()
        if rc is not None and self.elapsed is None:
            self.elapsed = time.monotonic() - self.started
            self._out.close()
            self._err.close()
        return rc

    def wait(self, timeout: float) -> int:
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            self.stop()
            raise
        self.poll()
        return self.popen.returncode

    def descendants(self) -> list[int]:
        """PIDs of the processes this one started (Prefect's ephemeral server...)."""
        found, todo = [], [self.pid]
        while todo:
            pid = todo.pop()
            for task in Path(f"/proc/{pid}/task").glob("*"):
                try:
                    kids = [int(k) for k in (task / "children").read_text().split()]
                except OSError:
                    continue
                found += kids
                todo += kids
        return found

    def stop(self) -> None:
        """End this process and what it started, by PID."""
        for pid in [*self.descendants(), self.pid]:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.popen.wait(10)
        self.poll()

    def summary(self) -> str:
        return f"--- {self.name} rc={self.returncode}\n--- stdout\n{self.out[-3000:]}\n--- stderr\n{self.err[-6000:]}"


def bnpipe(name: str, args: list[str], env: dict[str, str], logdir: Path) -> Proc:
    return Proc(name, [str(BNPIPE), *args], env, logdir)


def python(name: str, code: str, args: list[str], env: dict[str, str], logdir: Path) -> Proc:
    return Proc(name, [str(PYTHON), "-c", code, *args], env, logdir)


def alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def kill_leftovers(pids: list[int]) -> None:
    """Stop processes (by PID) that outlived a SIGKILLed parent."""
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.1)
    for pid in pids:
        if alive(pid):
            os.kill(pid, signal.SIGKILL)


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("bnpipe: error:")]

"""Helpers for the tests that start `bnpipe stack` (a real Prefect server and worker,
MLflow server and Dask cluster on 127.0.0.1), and the session's shared local stack.

A stack project is a folder of its own (links to the checkout's catalog, suites,
flows and prefect.yaml), with its own state folder, MLflow store and free
non-default ports: the checkout's own state stays untouched (a developer's stack
may be running there).

The shared stack (:class:`SharedStack`, the ``local_stack`` fixture of
``tests/e2e/conftest.py``) is one such project for the stack, UI and watch tests.
Each of them trains a dataset of its own, so that their experiments, registered
models, deployments and flow runs do not meet: ``iris`` (the UI tests, as the
docs' screenshots show it), ``iris-stack`` and ``iris-watch`` (copies of iris's
catalog entry, served under their own names by the session's loopback mirror).
Its prefect.yaml is the checkout's, plus a deployment per copy, with the watch
(``bn-watch/upstream``) looking at ``iris-watch`` every ``WATCH_PERIOD`` seconds,
paused until the watch test resumes it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shlex
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import yaml

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
PID_FILES = (
    "prefect-server.pid", "prefect-worker.pid", "mlflow-server.pid",
    "dask-scheduler.pid", "dask-worker.pid", "postgres.pid",
)  # fmt: skip
SQLITE_STACK = set(PID_FILES) - {"postgres.pid"}  # the default stack: SQLite, Dask
LINKED = ("datasets.yaml", "expectations", "prefect.yaml", "flows", "tasks")

STACK_DATASET = "iris-stack"  # test_stack's deployment runs
WATCH_DATASET = "iris-watch"  # test_watch's watched file and triggered comparison
WATCH_PERIOD = 15  # seconds between watch runs on the shared stack
WATCH_TRAINING = {"epochs": 20, "seeds": 2}  # the triggered comparison's training


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that are free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


def new_stack_project(tmp_path: Path, data_mirror: Path | str) -> SimpleNamespace:
    """Project folder, state, MLflow store, ports and the environment for `bnpipe stack`."""
    root = tmp_path / "project"
    root.mkdir()
    for name in LINKED:
        (root / name).symlink_to(REPO / name)
    prefect_port, mlflow_port, serve_port, dask_port = free_ports(4)
    env = {
        **os.environ,
        "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}",  # `mlflow models serve` runs uvicorn
        "BNPIPE_PROJECT_DIR": str(root),
        "BNPIPE_STATE_DIR": str(tmp_path / "state"),
        "BNPIPE_DATA_MIRROR": str(data_mirror),
        "MLFLOW_TRACKING_URI": f"sqlite:///{tmp_path / 'mlflow.db'}",
        "BNPIPE_PREFECT_PORT": str(prefect_port),
        "BNPIPE_MLFLOW_PORT": str(mlflow_port),
        "BNPIPE_DASK_PORT": str(dask_port),
        "PREFECT_HOME": str(tmp_path / "prefect-client"),
        "NO_PROXY": "127.0.0.1,localhost",
        "no_proxy": "127.0.0.1,localhost",
    }
    for key in ("PREFECT_API_URL", "BNPIPE_DASK_ADDRESS", "BNPIPE_CATALOG"):
        env.pop(key, None)
    return SimpleNamespace(
        root=root,
        tmp=tmp_path,
        env=env,
        stack_dir=tmp_path / "state" / "stack",
        tracking_uri=env["MLFLOW_TRACKING_URI"],
        prefect_port=prefect_port,
        mlflow_port=mlflow_port,
        serve_port=serve_port,
        dask_port=dask_port,
        api_url=f"http://127.0.0.1:{prefect_port}/api",
        mlflow_url=f"http://127.0.0.1:{mlflow_port}",
    )


def run(argv, env, *, cwd=REPO, timeout=600) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(a) for a in argv], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )


def explain(proc, project=None) -> str:
    text = f"exit {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n--- stderr\n{proc.stderr[-3000:]}"
    if project is not None:
        log = project.stack_dir / "logs" / "prefect-worker.log"
        if log.exists():
            text += "\n--- worker log\n" + log.read_text(errors="replace")[-4000:]
    return text


def get_json(url: str, body: object = None, timeout: float = 10.0):
    request = urllib.request.Request(url)
    if body is not None:
        request = urllib.request.Request(
            url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )
    with LOCAL.open(request, timeout=timeout) as resp:
        raw = resp.read()
    return json.loads(raw) if raw else None


def post_json(url: str, body: object, timeout: float = 60.0) -> tuple[int, dict]:
    """POST ``body``: the HTTP status and the JSON answer, an error's too."""
    try:
        return 200, get_json(url, body, timeout=timeout)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stack_env_values(project) -> dict[str, str]:
    """The variables `bnpipe stack env` exports (what a shell's eval would set)."""
    proc = run([BIN / "bnpipe", "stack", "env"], project.env, timeout=60)
    assert proc.returncode == 0, explain(proc)
    lines = [line.removeprefix("export ") for line in proc.stdout.splitlines()]
    return dict(shlex.split(line)[0].split("=", 1) for line in lines if not line.startswith("#"))


def deployment_run(*params: str, deployment: str = "bn-comparison/iris") -> list[str]:
    argv = [BIN / "prefect", "deployment", "run", deployment]
    for p in params:
        argv += ["-p", p]
    return [str(a) for a in [*argv, "--watch", "--watch-interval", "2", "--watch-timeout", "600"]]


def recorded_pids(project) -> dict[str, int]:
    return {
        name: int((project.stack_dir / name).read_text().split()[0])
        for name in PID_FILES
        if (project.stack_dir / name).exists()
    }


def deployment_id(project, full_name: str) -> str:
    return get_json(f"{project.api_url}/deployments/name/{full_name}")["id"]


def wait_for_http(url: str, proc: subprocess.Popen, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        with contextlib.suppress(OSError), LOCAL.open(url, timeout=3) as resp:
            if resp.status == 200:
                return
        assert proc.poll() is None, (
            f"{proc.args} exited {proc.returncode}:\n{log.read_text()[-3000:]}"
        )
        assert time.monotonic() < deadline, (
            f"{url} not up after {timeout} s:\n{log.read_text()[-3000:]}"
        )
        time.sleep(0.5)


def stop_session(proc: subprocess.Popen) -> None:
    """Stop a process started with ``start_new_session=True``, with its process group."""
    for sig, wait in ((signal.SIGTERM, 20), (signal.SIGKILL, 10)):
        if proc.poll() is not None:
            break
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=wait)


# ----------------------------------------------------------------------------- the shared stack


def shared_catalog(path: Path) -> None:
    """The checkout's catalog, plus ``iris-stack`` and ``iris-watch``: iris's entry
    (its suite too) under other names, with no bundled copy to fall back on."""
    text = (REPO / "datasets.yaml").read_text("utf-8")
    doc = yaml.safe_load(text)
    for name in (STACK_DATASET, WATCH_DATASET):
        entry = {k: v for k, v in doc["datasets"]["iris"].items() if k != "bundled"}
        entry["description"] = f"iris under another name, for the tests ({name})"
        doc["datasets"][name] = entry
    path.write_text(yaml.safe_dump(doc, allow_unicode=True, sort_keys=False), "utf-8")


def shared_prefect_yaml(path: Path) -> None:
    """The checkout's prefect.yaml, plus ``bn-comparison/iris-stack`` (by hand) and
    ``bn-comparison/iris-watch`` (on the watch's event, a short training), with the
    watch on ``iris-watch`` every ``WATCH_PERIOD`` s and paused."""
    config = yaml.safe_load((REPO / "prefect.yaml").read_text("utf-8"))
    deployments = {d["name"]: d for d in config["deployments"]}
    watch = deployments["upstream"]
    assert watch["schedules"] == [{"interval": 900, "active": True}]  # the shipped default
    watch["schedules"][0]["interval"] = WATCH_PERIOD
    watch["parameters"]["datasets"] = [WATCH_DATASET]
    watch["paused"] = True  # until test_watch resumes it
    iris = deployments["iris"]
    for name in (STACK_DATASET, WATCH_DATASET):
        copy = json.loads(json.dumps(iris))
        copy.update(name=name, tags=["bnpipe", name], parameters={"datasets": [name]})
        copy.pop("schedules")
        if name == WATCH_DATASET:
            copy["parameters"]["config"] = dict(WATCH_TRAINING)
            copy["triggers"][0]["match"]["prefect.resource.id"] = f"bnpipe.dataset.{name}"
        else:
            copy.pop("triggers")
        config["deployments"].append(copy)
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")


class SharedStack:
    """One `bnpipe stack up` for the session's stack, UI and watch tests.

    ``project`` is a :func:`new_stack_project` whose catalog and prefect.yaml are
    :func:`shared_catalog` and :func:`shared_prefect_yaml`, and whose data comes
    from ``mirror`` (the session's loopback server; ``mirror_root`` is its folder).
    ``up`` is the `stack up` that started it, ``shell`` what `bnpipe stack env`
    exports for it. ``stop()`` runs `bnpipe stack down` once."""

    def __init__(self, tmp: Path, mirror: str, mirror_root: Path, data_mirror: Path):
        self.mirror, self.mirror_root = mirror, mirror_root
        (mirror_root / f"{STACK_DATASET}.csv").symlink_to(data_mirror / "iris.csv")
        (mirror_root / f"{WATCH_DATASET}.csv").write_bytes((data_mirror / "iris.csv").read_bytes())
        project = new_stack_project(tmp, mirror)
        for name, write in (
            ("datasets.yaml", shared_catalog),
            ("prefect.yaml", shared_prefect_yaml),
        ):
            (project.root / name).unlink()
            write(project.root / name)
        self.project = project
        self.down: subprocess.CompletedProcess | None = None
        self.up = run([BIN / "bnpipe", "stack", "up"], project.env, timeout=420)
        if self.up.returncode != 0:
            self.stop()
            raise AssertionError("the shared stack did not start: " + explain(self.up, project))
        self.shell = stack_env_values(project)

    def stop(self) -> subprocess.CompletedProcess:
        if self.down is None:
            self.down = run([BIN / "bnpipe", "stack", "down"], self.project.env, timeout=120)
        return self.down

"""`bnpipe stack`: a real Prefect server, process worker and MLflow server on 127.0.0.1.

Each test gets its own project folder (links to the checkout's catalog, suites,
flows and prefect.yaml), state folder, MLflow store and free non-default ports:
the checkout's own state must stay untouched (a developer's stack may be running
there). `stack up` writes nothing into the project folder: a shell gets the
stack's settings from `bnpipe stack env`.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
import unicodedata
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from bnpipe.ops.stack import port_free
from bnpipe.ops.stack.prefect_server import TOML_MARKER
from bnpipe.processes import is_alive

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]
BIN = REPO / ".venv" / "bin"
LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, never a proxy
IRIS_FEATURES = ["꽃잎길이", "꽃잎폭", "꽃받침길이", "꽃받침폭"]
PID_FILES = (
    "prefect-server.pid", "prefect-worker.pid", "mlflow-server.pid",
    "dask-scheduler.pid", "dask-worker.pid", "postgres.pid",
)  # fmt: skip
SQLITE_STACK = set(PID_FILES) - {"postgres.pid"}  # the default stack: SQLite, Dask


def free_ports(n: int) -> list[int]:
    """``n`` distinct ports that are free on 127.0.0.1 right now."""
    with contextlib.ExitStack() as stack:
        socks = [stack.enter_context(socket.socket()) for _ in range(n)]
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in socks]


@pytest.fixture
def stack_project(tmp_path, data_mirror):
    return new_stack_project(tmp_path, data_mirror)


def new_stack_project(tmp_path: Path, data_mirror: Path) -> SimpleNamespace:
    """Project folder, state, MLflow store, ports and the environment for `bnpipe stack`."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("datasets.yaml", "expectations", "prefect.yaml", "flows", "tasks"):
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
    env.pop("PREFECT_API_URL", None)
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
        return json.loads(resp.read())


def post_json(url: str, body: object, timeout: float = 60.0) -> tuple[int, dict]:
    """POST ``body``: the HTTP status and the JSON answer, an error's too."""
    import urllib.error

    try:
        return 200, get_json(url, body, timeout=timeout)
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def stack_env_values(project) -> dict[str, str]:
    """The variables `bnpipe stack env` exports (what a shell's eval would set)."""
    import shlex

    proc = run([BIN / "bnpipe", "stack", "env"], project.env, timeout=60)
    assert proc.returncode == 0, explain(proc)
    lines = [line.removeprefix("export ") for line in proc.stdout.splitlines()]
    return dict(shlex.split(line)[0].split("=", 1) for line in lines if not line.startswith("#"))


def deployment_run(*params: str) -> list[str]:
    argv = [BIN / "prefect", "deployment", "run", "bn-comparison/iris"]
    for p in params:
        argv += ["-p", p]
    return [str(a) for a in [*argv, "--watch", "--watch-interval", "2", "--watch-timeout", "600"]]


def recorded_pids(project) -> dict[str, int]:
    return {
        name: int((project.stack_dir / name).read_text().split()[0])
        for name in PID_FILES
        if (project.stack_dir / name).exists()
    }


def champion_version_via_rest(project) -> str:
    url = f"{project.mlflow_url}/api/2.0/mlflow/registered-models/alias?name=bnpipe-iris&alias=champion"
    return str(get_json(url)["model_version"]["version"])


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


def test_up_fails_fast_when_the_prefect_port_is_taken(stack_project):
    project = stack_project
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**project.env, "BNPIPE_PREFECT_PORT": str(port)}
        began = time.monotonic()
        proc = run([BIN / "bnpipe", "stack", "up"], env, timeout=60)
        elapsed = time.monotonic() - began
    assert proc.returncode == 1, explain(proc)
    assert f"port {port} on 127.0.0.1 is already in use" in proc.stderr
    assert "BNPIPE_PREFECT_PORT" in proc.stderr and "Nothing was started" in proc.stderr
    assert elapsed < 20, f"took {elapsed:.1f} s: not fast"
    assert not recorded_pids(project)
    assert not (project.root / "prefect.toml").exists()
    assert port_free(project.mlflow_port)


def test_stack_runs_deployments_registers_a_champion_and_serves_it(stack_project, data_mirror):
    from mlflow import MlflowClient

    project = stack_project
    bnpipe = BIN / "bnpipe"
    timings: dict[str, float] = {}
    pids: dict[str, int] = {}
    background: list[subprocess.Popen] = []  # each leads its own session
    # what an earlier bnpipe's `stack up` wrote into the project folder for this state
    legacy = project.root / "prefect.toml"
    legacy.write_text(
        f"{TOML_MARKER}; `bnpipe stack down` removes it.\n"
        f"# bnpipe-stack-state = {json.dumps(str(project.stack_dir))}\n"
        f'[api]\nurl = "http://127.0.0.1:{project.prefect_port}/api"\n'
    )
    try:
        t = time.monotonic()
        up = run([bnpipe, "stack", "up"], project.env, timeout=420)
        timings["stack up"] = time.monotonic() - t
        assert up.returncode == 0, explain(up)
        pids = recorded_pids(project)
        assert set(pids) == SQLITE_STACK and all(is_alive(p) for p in pids.values()), pids
        # Nothing in the project folder points a process started there at the stack:
        # a `bnpipe run` with its own store keeps its temporary Prefect server.
        assert not legacy.exists()
        probe = run(
            [BIN / "python", "-c",
             "from prefect.settings import get_current_settings as s; print(s().api.url)"],
            project.env, cwd=project.root, timeout=120,
        )  # fmt: skip
        assert probe.returncode == 0 and probe.stdout.strip() == "None", explain(probe)
        shell = stack_env_values(project)  # eval "$(bnpipe stack env)"
        assert shell["PREFECT_API_URL"] == project.api_url
        assert shell["MLFLOW_TRACKING_URI"] == project.tracking_uri
        assert f"http://127.0.0.1:{project.prefect_port}" in up.stdout
        assert project.mlflow_url in up.stdout

        again = run([bnpipe, "stack", "up"], project.env, timeout=60)
        assert again.returncode == 0 and "already up" in again.stdout, explain(again)

        # The deployments and their weekly retraining schedules.
        for name, cron in (("boston", "0 3 * * 1"), ("iris", "30 3 * * 1")):
            dep = get_json(f"{project.api_url}/deployments/name/bn-comparison/{name}")
            assert dep["work_pool_name"] == "bnpipe-process"
            assert dep["parameters"] == {"datasets": [name]}
            [schedule] = dep["schedules"]
            assert schedule["active"] and schedule["schedule"]["cron"] == cron
            assert schedule["schedule"]["timezone"] == "UTC"
        sweep = get_json(f"{project.api_url}/deployments/name/bn-sweep/when-bn-helps")
        assert sweep["work_pool_name"] == "bnpipe-process" and sweep["schedules"] == []
        assert sweep["parameters"]["grid"]["input_scaling"] == ["none", "standard"]

        # 1. A first training run: its model becomes the champion.
        with_api = {**project.env, "PREFECT_API_URL": project.api_url}
        t = time.monotonic()
        first = run(deployment_run('config={"epochs": 100, "seeds": 1}'), with_api, timeout=900)
        timings["deployment run (epochs=100)"] = time.monotonic() - t
        assert first.returncode == 0, explain(first, project)
        client = MlflowClient(project.tracking_uri)
        assert str(client.get_model_version_by_alias("bnpipe-iris", "champion").version) == "1"
        assert champion_version_via_rest(project) == "1"

        # 1b. The same run again: unchanged data, nothing to train, and it says so in
        # the watch output, the flow run's state and its artifacts.
        t = time.monotonic()
        same = run(deployment_run('config={"epochs": 100, "seeds": 1}'), with_api, timeout=600)
        timings["deployment run, unchanged"] = time.monotonic() - t
        assert same.returncode == 0, explain(same, project)
        assert "Flow run finished successfully in 'Unchanged'" in same.stdout, explain(same)
        [skipped] = get_json(
            f"{project.api_url}/flow_runs/filter",
            {"flow_runs": {"state": {"name": {"any_": ["Unchanged"]}}}},
        )
        assert "iris: unchanged since run" in skipped["state"]["message"]
        shown = get_json(
            f"{project.api_url}/artifacts/filter",
            {"artifacts": {"flow_run_id": {"any_": [skipped["id"]]}}},
        )
        note = {a["key"]: a for a in shown}["bn-comparison-iris"]
        assert note["task_run_id"] is None and "unchanged, nothing retrained" in note["data"]
        assert len(client.search_model_versions("name='bnpipe-iris'")) == 1

        # 2. At once: a worse retrain, started from the project folder by a shell with
        # `bnpipe stack env`'s settings; batch scoring with `bnpipe predict`; REST
        # serving of the champion with `mlflow models serve`.
        t = time.monotonic()
        worse_argv = deployment_run('config={"epochs": 1, "seeds": 1}')
        worse = subprocess.Popen(
            worse_argv, cwd=project.root, env={**project.env, **shell}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        background.append(worse)
        pred_csv = project.tmp / "pred.csv"
        predict = subprocess.Popen(
            [str(bnpipe), "predict", "iris", "--input", str(data_mirror / "iris.csv"), "--output", str(pred_csv)],
            cwd=REPO, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        background.append(predict)
        serve_log = project.tmp / "serve.log"
        with open(serve_log, "wb") as log:
            serve = subprocess.Popen(
                [str(BIN / "mlflow"), "models", "serve", "-m", "models:/bnpipe-iris@champion",
                 "--env-manager", "local", "-h", "127.0.0.1", "-p", str(project.serve_port)],
                cwd=project.tmp, env={**project.env, "MLFLOW_TRACKING_URI": project.mlflow_url},
                stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            )  # fmt: skip
        background.append(serve)

        out, err = predict.communicate(timeout=300)
        assert predict.returncode == 0, f"{out}\n{err}"
        scored = pd.read_csv(pred_csv)
        assert len(scored) == 150
        assert "label" in scored.columns
        assert sorted(c for c in scored.columns if c.startswith("proba_")) == [
            "proba_setosa",
            "proba_versicolor",
            "proba_virginica",
        ]
        assert set(scored["label"]) <= {"setosa", "versicolor", "virginica"}

        wait_for_http(f"http://127.0.0.1:{project.serve_port}/ping", serve, serve_log, timeout=240)
        rows = pd.read_csv(data_mirror / "iris.csv").iloc[[0, 100]]
        answer = get_json(
            f"http://127.0.0.1:{project.serve_port}/invocations",
            {
                "dataframe_split": {
                    "columns": IRIS_FEATURES,
                    "data": rows[IRIS_FEATURES].values.tolist(),
                }
            },
            timeout=60,
        )
        predictions = answer["predictions"]
        assert len(predictions) == 2
        assert all(p["label"] in {"setosa", "versicolor", "virginica"} for p in predictions)
        assert all(
            abs(sum(v for k, v in p.items() if k.startswith("proba_")) - 1) < 1e-4
            for p in predictions
        )
        # The headers as macOS types Hangul (NFD) are the same columns.
        invocations = f"http://127.0.0.1:{project.serve_port}/invocations"
        nfd = [unicodedata.normalize("NFD", c) for c in IRIS_FEATURES]
        data = rows[IRIS_FEATURES].values.tolist()
        status, same = post_json(invocations, {"dataframe_split": {"columns": nfd, "data": data}})
        assert status == 200 and same == answer, same
        # A value no float32 holds (1e39 is finite in float64), or inf: 400 naming
        # the column and the request's row, no stack trace (json.dumps: bare Infinity).
        for value, shown in ((1e39, "'1e+39'"), ("Infinity", "'inf'"), (float("inf"), "'inf'")):
            bad = [list(data[0]), list(data[1])]
            bad[1][1] = value
            status, refused = post_json(
                invocations, {"dataframe_split": {"columns": IRIS_FEATURES, "data": bad}}
            )
            assert status == 400, refused
            assert refused["message"].startswith(
                f"column '{IRIS_FEATURES[1]}': not a finite float32 number, e.g. row 2: {shown} "
                "(every value must be finite as the model's float32 input"
            ), refused
            assert refused["message"].endswith("(rows of the request, counted from 1)")
            assert "stack_trace" not in refused and "Traceback" not in json.dumps(refused)
        timings["predict + serve (alongside the retrain)"] = time.monotonic() - t

        out, err = worse.communicate(timeout=900)
        timings["deployment run (epochs=1), in parallel"] = time.monotonic() - t
        assert worse.returncode == 0, explain(
            subprocess.CompletedProcess(worse_argv, worse.returncode, out, err), project
        )
        assert str(client.get_model_version_by_alias("bnpipe-iris", "champion").version) == "1"
        v2 = client.get_model_version("bnpipe-iris", "2")
        assert v2.tags["promoted"] == "false"
        assert champion_version_via_rest(project) == "1"

        status = run([bnpipe, "stack", "status"], project.env, timeout=60)
        assert status.returncode == 0, explain(status)
        assert f"http://127.0.0.1:{project.prefect_port}" in status.stdout
        assert project.mlflow_url in status.stdout
        assert status.stdout.count("alive") == len(SQLITE_STACK)
        workers = os.cpu_count() or 1  # one per core, by default
        assert f"Dask scheduler  pid {pids['dask-scheduler.pid']}" in status.stdout
        assert f"tcp://127.0.0.1:{project.dask_port}, {workers} worker(s)" in status.stdout
    finally:
        for proc in background:  # the server, or whatever an early failure left running
            stop_session(proc)
        t = time.monotonic()
        down = run([bnpipe, "stack", "down"], project.env, timeout=120)
        timings["stack down"] = time.monotonic() - t
        print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

    assert down.returncode == 0, explain(down)
    deadline = time.monotonic() + 10
    while any(is_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [p for p in pids.values() if is_alive(p)], pids
    assert port_free(project.prefect_port) and port_free(project.mlflow_port)
    assert not recorded_pids(project)
    assert not (project.root / "prefect.toml").exists()

    again = run([bnpipe, "stack", "down"], project.env, timeout=60)
    assert again.returncode == 0 and "not running" in again.stdout
    status = run([bnpipe, "stack", "status"], project.env, timeout=60)
    assert status.returncode == 1

"""`bnpipe stack`: a real Prefect server, process worker and MLflow server on 127.0.0.1.

Start-up and teardown are tested on stacks of their own: each test gets its own
project folder (links to the checkout's catalog, suites, flows and prefect.yaml),
state folder, MLflow store and free non-default ports (:func:`new_stack_project`):
the checkout's own state must stay untouched (a developer's stack may be running
there). `stack up` writes nothing into the project folder: a shell gets the
stack's settings from `bnpipe stack env`.

Deployment runs, the registry and serving are tested on the session's shared
stack (``local_stack``, :class:`tests.e2e.stacks.SharedStack`), on a dataset of
this test's own (``iris-stack``: iris's data and catalog entry under another name).
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import unicodedata

import pandas as pd
import pytest

from bnpipe.ops.stack import port_free
from bnpipe.ops.stack.prefect_server import TOML_MARKER
from bnpipe.processes import is_alive
from tests.e2e.stacks import (
    BIN,
    REPO,
    SQLITE_STACK,
    STACK_DATASET,
    deployment_id,
    deployment_run,
    explain,
    get_json,
    new_stack_project,
    post_json,
    recorded_pids,
    run,
    stack_env_values,
    stop_session,
    wait_for_http,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

IRIS_FEATURES = ["꽃잎길이", "꽃잎폭", "꽃받침길이", "꽃받침폭"]


@pytest.fixture
def stack_project(tmp_path, data_mirror):
    return new_stack_project(tmp_path, data_mirror)


def champion_version_via_rest(project, model: str) -> str:
    url = f"{project.mlflow_url}/api/2.0/mlflow/registered-models/alias?name={model}&alias=champion"
    return str(get_json(url)["model_version"]["version"])


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


def test_stack_starts_deploys_reports_and_stops(stack_project):
    """A stack of its own, on the checkout's prefect.yaml: everything starts (a
    second `up` finds it up), the deployments and their schedules are there,
    `status` sees every component, and `down` stops them all."""
    project = stack_project
    bnpipe = BIN / "bnpipe"
    timings: dict[str, float] = {}
    pids: dict[str, int] = {}
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

        status = run([bnpipe, "stack", "status"], project.env, timeout=60)
        assert status.returncode == 0, explain(status)
        assert f"http://127.0.0.1:{project.prefect_port}" in status.stdout
        assert project.mlflow_url in status.stdout
        assert status.stdout.count("alive") == len(SQLITE_STACK)
        workers = os.cpu_count() or 1  # one per core, by default
        assert f"Dask scheduler  pid {pids['dask-scheduler.pid']}" in status.stdout
        assert f"tcp://127.0.0.1:{project.dask_port}, {workers} worker(s)" in status.stdout
    finally:
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


def test_stack_runs_deployments_registers_a_champion_and_serves_it(local_stack, data_mirror):
    """On the shared stack, bn-comparison/iris-stack: a first run registers the
    champion, the same run again trains nothing, a worse retrain (started from a
    shell with `bnpipe stack env`) is not promoted while `bnpipe predict` and
    `mlflow models serve` score with the champion."""
    from mlflow import MlflowClient

    project = local_stack.project
    dataset, model = STACK_DATASET, f"bnpipe-{STACK_DATASET}"
    deployment = f"bn-comparison/{dataset}"
    bnpipe = BIN / "bnpipe"
    timings: dict[str, float] = {}
    background: list[subprocess.Popen] = []  # each leads its own session
    pids = recorded_pids(project)
    assert set(pids) == SQLITE_STACK and all(is_alive(p) for p in pids.values()), pids
    shell = local_stack.shell  # eval "$(bnpipe stack env)"
    try:
        # 1. A first training run: its model becomes the champion.
        with_api = {**project.env, "PREFECT_API_URL": project.api_url}
        t = time.monotonic()
        first = run(
            deployment_run('config={"epochs": 100, "seeds": 1}', deployment=deployment),
            with_api, timeout=900,
        )  # fmt: skip
        timings["deployment run (epochs=100)"] = time.monotonic() - t
        assert first.returncode == 0, explain(first, project)
        client = MlflowClient(project.tracking_uri)
        assert str(client.get_model_version_by_alias(model, "champion").version) == "1"
        assert champion_version_via_rest(project, model) == "1"

        # 1b. The same run again: unchanged data, nothing to train, and it says so in
        # the watch output, the flow run's state and its artifacts.
        t = time.monotonic()
        same = run(
            deployment_run('config={"epochs": 100, "seeds": 1}', deployment=deployment),
            with_api, timeout=600,
        )  # fmt: skip
        timings["deployment run, unchanged"] = time.monotonic() - t
        assert same.returncode == 0, explain(same, project)
        assert "Flow run finished successfully in 'Unchanged'" in same.stdout, explain(same)
        [skipped] = get_json(
            f"{project.api_url}/flow_runs/filter",
            {
                "flow_runs": {"state": {"name": {"any_": ["Unchanged"]}}},
                "deployments": {"id": {"any_": [deployment_id(project, deployment)]}},
            },
        )
        assert f"{dataset}: unchanged since run" in skipped["state"]["message"]
        shown = get_json(
            f"{project.api_url}/artifacts/filter",
            {"artifacts": {"flow_run_id": {"any_": [skipped["id"]]}}},
        )
        note = {a["key"]: a for a in shown}[f"bn-comparison-{dataset}"]
        assert note["task_run_id"] is None and "unchanged, nothing retrained" in note["data"]
        assert len(client.search_model_versions(f"name='{model}'")) == 1

        # 2. At once: a worse retrain, started from the project folder by a shell with
        # `bnpipe stack env`'s settings; batch scoring with `bnpipe predict`; REST
        # serving of the champion with `mlflow models serve`.
        t = time.monotonic()
        worse_argv = deployment_run('config={"epochs": 1, "seeds": 1}', deployment=deployment)
        worse = subprocess.Popen(
            worse_argv, cwd=project.root, env={**project.env, **shell}, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True, start_new_session=True,
        )  # fmt: skip
        background.append(worse)
        pred_csv = project.tmp / "pred.csv"
        predict = subprocess.Popen(
            [str(bnpipe), "predict", dataset, "--input", str(data_mirror / "iris.csv"),
             "--output", str(pred_csv)],
            cwd=REPO, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            start_new_session=True,
        )  # fmt: skip
        background.append(predict)
        serve_log = project.tmp / "serve.log"
        with open(serve_log, "wb") as log:
            serve = subprocess.Popen(
                [str(BIN / "mlflow"), "models", "serve", "-m", f"models:/{model}@champion",
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
        assert str(client.get_model_version_by_alias(model, "champion").version) == "1"
        v2 = client.get_model_version(model, "2")
        assert v2.tags["promoted"] == "false"
        assert champion_version_via_rest(project, model) == "1"

        # every component is still up after the runs
        status = run([bnpipe, "stack", "status"], project.env, timeout=60)
        assert status.returncode == 0, explain(status)
        assert status.stdout.count("alive") == len(SQLITE_STACK)
        assert f"Dask scheduler  pid {pids['dask-scheduler.pid']}" in status.stdout
        assert f"tcp://127.0.0.1:{project.dask_port}, {os.cpu_count() or 1} worker(s)" in (
            status.stdout
        )
    finally:
        for proc in background:  # the server, or whatever an early failure left running
            stop_session(proc)
        print("timings: " + ", ".join(f"{k} {v:.1f} s" for k, v in timings.items()))

"""Event-driven retraining on the local stack: the ``bn-watch/upstream``
deployment on its schedule, the event ``bnpipe.data.changed``, and a
bn-comparison deployment's trigger as prefect.yaml gives it.

On the session's shared stack (``local_stack``), whose prefect.yaml is the
checkout's with the watch looking every ``WATCH_PERIOD`` seconds at a dataset of
this test's own (``iris-watch``: iris under another name), paused until this
test resumes it, and ``bn-comparison/iris-watch``: iris's deployment and trigger
for that dataset, with a short training (:func:`tests.e2e.stacks.shared_prefect_yaml`).
The data is served from a folder by the session's loopback server, which honours
conditional requests.
"""

from __future__ import annotations

import hashlib
import time

import pytest

from tests.e2e.stacks import (
    BIN,
    SQLITE_STACK,
    WATCH_DATASET,
    WATCH_PERIOD,
    deployment_id,
    explain,
    get_json,
    recorded_pids,
    run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PERIOD = WATCH_PERIOD  # seconds between watch runs
COMPARISON = f"bn-comparison/{WATCH_DATASET}"


def flow_runs(project, deployment: str) -> list[dict]:
    body = {
        "deployments": {"id": {"any_": [deployment_id(project, deployment)]}},
        "sort": "EXPECTED_START_TIME_ASC",
        "limit": 200,
    }
    runs = get_json(f"{project.api_url}/flow_runs/filter", body)
    return [r for r in runs if r["state_type"] != "SCHEDULED"]


def wait_for(what: str, check, timeout: float, project):
    deadline = time.monotonic() + timeout
    while True:
        found = check()
        if found:
            return found
        if time.monotonic() > deadline:
            log = project.stack_dir / "logs" / "prefect-worker.log"
            tail = log.read_text(errors="replace")[-4000:] if log.exists() else ""
            raise AssertionError(f"{what}: not within {timeout} s\n--- worker log\n{tail}")
        time.sleep(1)


def test_a_changed_upstream_file_triggers_a_comparison_and_an_unchanged_one_does_not(
    local_stack, data_mirror, data_server
):
    from mlflow import MlflowClient

    project = local_stack.project
    served = local_stack.mirror_root / f"{WATCH_DATASET}.csv"
    good = (data_mirror / "iris.csv").read_bytes()
    served.write_bytes(good)
    assert project.env["BNPIPE_DATA_MIRROR"] == data_server.url
    bnpipe = BIN / "bnpipe"
    up = local_stack.up
    assert "bn-watch/upstream" in up.stdout
    assert set(recorded_pids(project)) == SQLITE_STACK
    watch = deployment_id(project, "bn-watch/upstream")
    assert get_json(f"{project.api_url}/deployments/{watch}")["paused"]  # until now
    assert flow_runs(project, "bn-watch/upstream") == []
    get_json(f"{project.api_url}/deployments/{watch}/resume_deployment", {})
    try:
        status = run([bnpipe, "stack", "status"], project.env, timeout=60)
        assert status.returncode == 0, explain(status)
        assert f"bn-watch/upstream          every {PERIOD} s" in status.stdout
        assert COMPARISON in status.stdout and "on an event" in status.stdout

        # the watch's first look records what is served; then another period of
        # unchanged data (an HTTP 304), and no comparison starts
        def watches_done(n):
            return lambda: (
                len(
                    [
                        r
                        for r in flow_runs(project, "bn-watch/upstream")
                        if r["state_type"] == "COMPLETED"
                    ]
                )
                >= n
            )

        wait_for("the first watch run", watches_done(1), 180, project)
        done = len(
            [r for r in flow_runs(project, "bn-watch/upstream") if r["state_type"] == "COMPLETED"]
        )
        wait_for("one more watch run", watches_done(done + 1), 4 * PERIOD + 60, project)
        assert flow_runs(project, COMPARISON) == []
        assert (f"/{WATCH_DATASET}.csv", 304) in data_server.answers

        # a changed file: the watch announces it, the trigger starts bn-comparison/iris-watch
        changed = good.replace(b"\n5.1,3.5,1.4,0.2,", b"\n5.2,3.5,1.4,0.2,", 1)
        assert changed != good
        served.write_bytes(changed)
        [started] = wait_for(
            "a triggered bn-comparison run", lambda: flow_runs(project, COMPARISON),
            4 * PERIOD + 120, project,
        )  # fmt: skip
        assert started["parameters"]["datasets"] == [WATCH_DATASET]
        assert (started.get("created_by") or {}).get("type") == "AUTOMATION", started
        finished = wait_for(
            "the triggered run to finish",
            lambda: [
                r for r in flow_runs(project, COMPARISON)
                if r["id"] == started["id"] and r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")
            ],
            600, project,
        )  # fmt: skip
        assert finished[0]["state_type"] == "COMPLETED", (finished, explain(up, project))
        client = MlflowClient(project.tracking_uri)
        [version] = client.search_model_versions(f"name='bnpipe-{WATCH_DATASET}'")
        run_ = client.get_run(version.run_id)
        parent = client.get_run(run_.data.tags.get("mlflow.parentRunId") or version.run_id)
        assert parent.data.tags["prefect_flow_run_id"] == started["id"]
        assert parent.data.tags["data_sha256"] == hashlib.sha256(changed).hexdigest()
        # and the watch does not announce the same content again
        seen = len(flow_runs(project, "bn-watch/upstream"))  # the one that announced may still run
        wait_for("a watch run after it", watches_done(seen + 1), 4 * PERIOD + 60, project)
        assert len(flow_runs(project, COMPARISON)) == 1
    finally:
        get_json(f"{project.api_url}/deployments/{watch}/pause_deployment", {})

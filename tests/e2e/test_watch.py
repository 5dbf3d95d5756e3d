"""Event-driven retraining on the local stack: the ``bn-watch/upstream``
deployment on its schedule, the event ``bnpipe.data.changed``, and the trigger of
``bn-comparison/iris`` in prefect.yaml.

The project's prefect.yaml is the checkout's with two settings made short for
the test: the watch's interval (seconds, not 15 minutes) and the iris
deployment's training (a few epochs). The data is served from a folder by a
loopback server that honours conditional requests.
"""

from __future__ import annotations

import hashlib
import time

import pytest
import yaml

from tests.e2e.test_stack import BIN, REPO, explain, get_json, new_stack_project, recorded_pids, run
from tests.httpfiles import ConditionalFiles

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

PERIOD = 15  # seconds between watch runs, in this test's prefect.yaml


def short_prefect_yaml(path) -> None:
    config = yaml.safe_load((REPO / "prefect.yaml").read_text("utf-8"))
    deployments = {d["name"]: d for d in config["deployments"]}
    watch = deployments["upstream"]
    assert watch["schedules"] == [{"interval": 900, "active": True}]  # the shipped default
    watch["schedules"][0]["interval"] = PERIOD
    watch["parameters"]["datasets"] = ["iris"]
    deployments["iris"]["parameters"]["config"] = {"epochs": 20, "seeds": 2}
    path.unlink()
    path.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False), "utf-8")


def flow_runs(project, flow: str) -> list[dict]:
    body = {"flows": {"name": {"any_": [flow]}}, "sort": "EXPECTED_START_TIME_ASC", "limit": 200}
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
    tmp_path, data_mirror
):
    from mlflow import MlflowClient

    project = new_stack_project(tmp_path, data_mirror)
    short_prefect_yaml(project.root / "prefect.yaml")
    served = tmp_path / "served"
    served.mkdir()
    good = (data_mirror / "iris.csv").read_bytes()
    (served / "iris.csv").write_bytes(good)
    server = ConditionalFiles(served)
    project.env["BNPIPE_DATA_MIRROR"] = server.url
    bnpipe = BIN / "bnpipe"
    try:
        up = run([bnpipe, "stack", "up"], project.env, timeout=420)
        assert up.returncode == 0, explain(up)
        assert "bn-watch/upstream" in up.stdout
        status = run([bnpipe, "stack", "status"], project.env, timeout=60)
        assert status.returncode == 0, explain(status)
        assert f"bn-watch/upstream          every {PERIOD} s" in status.stdout
        assert "bn-comparison/iris" in status.stdout and "on an event" in status.stdout

        # the watch's first look records what is served; then another period of
        # unchanged data (an HTTP 304), and no comparison starts
        def watches_done(n):
            return lambda: (
                len([r for r in flow_runs(project, "bn-watch") if r["state_type"] == "COMPLETED"])
                >= n
            )  # noqa: E501

        wait_for("the first watch run", watches_done(1), 180, project)
        done = len([r for r in flow_runs(project, "bn-watch") if r["state_type"] == "COMPLETED"])
        wait_for("one more watch run", watches_done(done + 1), 4 * PERIOD + 60, project)
        assert flow_runs(project, "bn-comparison") == []
        assert ("/iris.csv", 304) in server.answers

        # a changed file: the watch announces it, the trigger starts bn-comparison/iris
        changed = good.replace(b"\n5.1,3.5,1.4,0.2,", b"\n5.2,3.5,1.4,0.2,", 1)
        assert changed != good
        (served / "iris.csv").write_bytes(changed)
        [started] = wait_for(
            "a triggered bn-comparison run", lambda: flow_runs(project, "bn-comparison"),
            4 * PERIOD + 120, project,
        )  # fmt: skip
        assert started["parameters"]["datasets"] == ["iris"]
        assert (started.get("created_by") or {}).get("type") == "AUTOMATION", started
        finished = wait_for(
            "the triggered run to finish",
            lambda: [
                r for r in flow_runs(project, "bn-comparison")
                if r["id"] == started["id"] and r["state_type"] in ("COMPLETED", "FAILED", "CRASHED")
            ],
            600, project,
        )  # fmt: skip
        assert finished[0]["state_type"] == "COMPLETED", (finished, explain(up, project))
        client = MlflowClient(project.tracking_uri)
        [version] = client.search_model_versions("name='bnpipe-iris'")
        run_ = client.get_run(version.run_id)
        parent = client.get_run(run_.data.tags.get("mlflow.parentRunId") or version.run_id)
        assert parent.data.tags["prefect_flow_run_id"] == started["id"]
        assert parent.data.tags["data_sha256"] == hashlib.sha256(changed).hexdigest()
        # and the watch does not announce the same content again
        seen = len(flow_runs(project, "bn-watch"))  # the one that announced may still run
        wait_for("a watch run after it", watches_done(seen + 1), 4 * PERIOD + 60, project)
        assert len(flow_runs(project, "bn-comparison")) == 1
    finally:
        down = run([bnpipe, "stack", "down"], project.env, timeout=120)
        server.close()
    assert down.returncode == 0, explain(down)
    assert not any(recorded_pids(project).values())

"""The team stack: `bnpipe stack up --backend postgres`, on a PostgreSQL server
the test starts (password auth, a role with CREATEDB and nothing more) and on
the stack's own PostgreSQL; Prefect and MLflow keep their data there, the MLflow
server serves the artifacts, and no password is ever printed."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bnpipe import pgserver
from bnpipe.processes import is_alive
from bnpipe.stack import port_free
from tests.e2e.test_stack import (
    BIN,
    deployment_run,
    explain,
    free_ports,
    new_stack_project,
    recorded_pids,
    run,
)

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

TEAM_PASSWORD = "t3am-s3cret-pw"


@pytest.fixture(scope="module")
def reachable_tmp():
    """A folder the ``postgres`` system user can enter (pytest's own are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="bnpipe-pg-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="module")
def team_server(reachable_tmp):
    """A PostgreSQL server of the test's own, and a role ``team`` that may create
    databases and nothing more; yields its URL with the password."""
    (port,) = free_ports(1)
    server = pgserver.OwnServer(reachable_tmp / "team-pg", port)
    log_path = reachable_tmp / "team-pg.log"
    with open(log_path, "ab") as log:
        server.init(log)
        proc = subprocess.Popen(
            server.argv(), stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
            **server.run_as(),
        )  # fmt: skip
    try:
        admin = server.pg_url()
        deadline = time.monotonic() + 60
        while True:
            try:
                conn = pgserver._connect(admin, "postgres", 2)
                break
            except pgserver.PostgresError:
                assert time.monotonic() < deadline, log_path.read_text()[-2000:]
                time.sleep(0.3)
        conn.autocommit = True
        with conn.cursor() as cur:
            cur.execute(f"CREATE ROLE team LOGIN CREATEDB PASSWORD '{TEAM_PASSWORD}'")
        conn.close()
        yield f"postgresql://team:{TEAM_PASSWORD}@127.0.0.1:{port}", admin
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGINT)
        proc.wait(timeout=30)


def postgres_project(tmp_path, data_mirror, reachable_tmp, **env):
    project = new_stack_project(tmp_path, data_mirror)
    state = reachable_tmp / tmp_path.name / "state"  # a stack of its own per project
    project.env.update({"BNPIPE_STATE_DIR": str(state), **env})
    project.stack_dir = state / "stack"
    return project


def stack_up(project, secret: str | None, *args: str) -> None:
    up = run(
        [BIN / "bnpipe", "stack", "up", "--backend", "postgres", *args], project.env, timeout=480
    )
    assert up.returncode == 0, explain(up, project)
    if secret:
        assert secret not in up.stdout + up.stderr
    assert "Backend:     PostgreSQL postgresql://" in up.stdout and ":***@" in up.stdout


def assert_team_stack_works(project, secret: str | None) -> None:
    """A deployment run that registers a champion, status, with the data in
    PostgreSQL and the artifacts served; ``secret`` never printed."""
    from mlflow import MlflowClient

    bnpipe = BIN / "bnpipe"

    with_api = {**project.env, "PREFECT_API_URL": project.api_url}
    first = run(deployment_run('config={"epochs": 50, "seeds": 2}'), with_api, timeout=900)
    assert first.returncode == 0, explain(first, project)

    client = MlflowClient(project.mlflow_url)  # over HTTP: the only way in from a host
    champion = client.get_model_version_by_alias("bnpipe-iris", "champion")
    assert champion.version == "1"
    exp = client.get_experiment_by_name("bn-comparison-iris")
    assert exp.artifact_location.startswith("mlflow-artifacts:/"), exp.artifact_location
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) >= 5  # the parent and 2 x 2 seed runs
    assert all(r.info.artifact_uri.startswith("mlflow-artifacts:/") for r in runs)
    assert champion.source.startswith(("mlflow-artifacts:/", "models:/")), champion.source
    # the artifacts are on the server's side, served: a client downloads them over HTTP
    parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
    names = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert "result.json" in names and "validation.json" in names
    served = project.stack_dir / "mlartifacts"
    assert any(served.rglob("result.json")), served

    # the rows are in PostgreSQL: runs in `mlflow`, flow runs in `prefect`
    pg = _stack_pg(project)
    assert pgserver.count_rows(pg, "mlflow", "runs") == len(
        client.search_runs([exp.experiment_id], run_view_type=3)
    )
    assert pgserver.count_rows(pg, "prefect", "flow_run") >= 1

    status = run([bnpipe, "stack", "status"], project.env, timeout=60)
    assert status.returncode == 0, explain(status, project)
    assert "Backend:     PostgreSQL postgresql://" in status.stdout
    if secret:
        assert secret not in status.stdout + status.stderr
        for log in (project.stack_dir / "logs").glob("*.log"):
            assert secret not in log.read_text(errors="replace"), log


def _stack_pg(project) -> pgserver.PgUrl:
    url = project.env.get("BNPIPE_POSTGRES_URL")
    if url:
        return pgserver.PgUrl.parse(url)
    port = int(project.env.get("BNPIPE_POSTGRES_PORT", pgserver.DEFAULT_PORT))
    return pgserver.OwnServer(project.stack_dir / "postgres", port).pg_url()


def stack_down(project) -> None:
    pids = recorded_pids(project) | _pg_pid(project)
    down = run([BIN / "bnpipe", "stack", "down"], project.env, timeout=120)
    assert down.returncode == 0, explain(down)
    deadline = time.monotonic() + 15
    while any(is_alive(p) for p in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [n for n, p in pids.items() if is_alive(p)], pids


def _pg_pid(project) -> dict[str, int]:
    path = project.stack_dir / "postgres.pid"
    return {"postgres.pid": int(path.read_text().split()[0])} if path.exists() else {}


@pytest.fixture(scope="module")
def team_stack(tmp_path_factory, data_mirror, reachable_tmp, team_server):
    """One stack on the team's PostgreSQL (and one Dask worker) for this module's tests."""
    url, _ = team_server
    tmp = tmp_path_factory.mktemp("team-stack")
    project = postgres_project(tmp, data_mirror, reachable_tmp, BNPIPE_POSTGRES_URL=url)
    project.tmp = tmp
    try:
        stack_up(project, TEAM_PASSWORD, "--dask-workers", "1")
        yield project
    finally:
        stack_down(project)


def test_the_team_stack_on_a_teams_postgresql(team_stack, team_server):
    _, admin = team_server
    project = team_stack
    assert_team_stack_works(project, TEAM_PASSWORD)
    # the role made its databases; the stack runs no PostgreSQL of its own
    assert not (project.stack_dir / "postgres.pid").exists()
    conn = pgserver._connect(admin, "postgres", 5)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname IN ('prefect', 'mlflow') ORDER BY 1"
        )
        assert cur.fetchall() == [("mlflow", "team"), ("prefect", "team")]
    conn.close()


def test_a_second_host_joins_with_the_stacks_urls_only(team_stack, data_mirror):
    """A Prefect process worker and a Dask worker started from another folder, with
    none of the project's state and only the stack's URLs, run a deployment; its
    runs and artifacts land on the stack's servers. (On one machine: the stack's
    own Prefect worker and Dask workers are stopped, so only the second host's can
    take the work.)"""
    from distributed import Client
    from mlflow import MlflowClient

    from bnpipe.stack import HYGIENE, stop_process
    from tests.e2e.test_stack import REPO, stop_session

    project = team_stack  # after the test above: its own workers are stopped here
    host_b = project.tmp / "host-b"  # a checkout of its own, nothing of the project's state
    host_b.mkdir()
    for name in ("datasets.yaml", "expectations", "prefect.yaml", "flows", "tasks"):
        (host_b / name).symlink_to(REPO / name)
    background: list[subprocess.Popen] = []
    try:
        scheduler = f"tcp://127.0.0.1:{project.dask_port}"
        env_b = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BNPIPE_", "MLFLOW_", "PREFECT_"))
        }
        env_b.update(HYGIENE)
        env_b.update(
            {
                "PATH": project.env["PATH"],
                "NO_PROXY": "127.0.0.1,localhost",
                "PREFECT_API_URL": project.api_url,  # the stack's URLs, nothing else
                "MLFLOW_TRACKING_URI": project.mlflow_url,
                "BNPIPE_DASK_ADDRESS": scheduler,
                "BNPIPE_PROJECT_DIR": str(host_b),
                "BNPIPE_STATE_DIR": str(host_b / "state"),
                "BNPIPE_DATA_MIRROR": str(data_mirror),
                "PREFECT_HOME": str(host_b / "prefect"),
            }
        )
        logs = open(host_b / "workers.log", "ab")  # noqa: SIM115 - closed in finally
        for argv in (
            [BIN / "dask", "worker", scheduler, "--nthreads", "1", "--name", "host-b",
             "--no-dashboard"],
            [BIN / "prefect", "worker", "start", "--pool", "bnpipe-process", "--type",
             "process", "--name", "host-b", "--limit", "1"],
        ):  # fmt: skip
            background.append(
                subprocess.Popen(
                    [str(a) for a in argv],
                    cwd=host_b,
                    env=env_b,
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        # the stack's own worker and Dask workers step aside
        pids = recorded_pids(project)
        for name in ("prefect-worker.pid", "dask-worker.pid"):
            stop_process(pids[name], second_sigterm=name.startswith("prefect"))
        with Client(scheduler, timeout=10) as client:
            deadline = time.monotonic() + 120
            while True:
                workers = client.scheduler_info(n_workers=-1)["workers"]
                names = {w["name"] for w in workers.values()}
                if names == {"host-b"}:
                    host_b_worker = next(iter(workers))
                    break
                assert time.monotonic() < deadline, names
                time.sleep(0.5)

        client = MlflowClient(project.mlflow_url)
        versions = len(client.search_model_versions("name='bnpipe-iris'"))
        with_api = {**project.env, "PREFECT_API_URL": project.api_url}
        done = run(deployment_run('config={"epochs": 30, "seeds": 2}'), with_api, timeout=900)
        assert done.returncode == 0, explain(done) + (host_b / "workers.log").read_text()[-4000:]

        exp = client.get_experiment_by_name("bn-comparison-iris")
        runs = client.search_runs([exp.experiment_id], order_by=["attributes.start_time DESC"])
        parent = next(r for r in runs if "mlflow.parentRunId" not in r.data.tags)
        seeds = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
        assert len(seeds) == 4 and parent.info.status == "FINISHED"
        assert {r.data.tags["dask_worker"] for r in seeds} == {host_b_worker}
        assert all(r.info.artifact_uri.startswith("mlflow-artifacts:/") for r in runs)
        assert len(client.search_model_versions("name='bnpipe-iris'")) == versions + 1
        # the download went to host b's cache; the artifacts to the stack's server
        # host b's flow run downloaded into, and kept as last good, its own cache
        assert (host_b / "state" / "cache" / "iris" / "latest.json").is_file()
        assert any((project.stack_dir / "mlartifacts").rglob("MLmodel"))
    finally:
        for proc in background:
            stop_session(proc)


def test_the_team_stack_on_its_own_postgresql(tmp_path, data_mirror, reachable_tmp):
    (pg_port,) = free_ports(1)
    project = postgres_project(
        tmp_path, data_mirror, reachable_tmp, BNPIPE_POSTGRES_PORT=str(pg_port)
    )
    try:
        stack_up(project, None)
        assert_team_stack_works(project, None)
        own = project.stack_dir / "postgres"
        password = (own / "password").read_text().strip()
        assert oct((own / "password").stat().st_mode & 0o777) == "0o600"
        for log in (project.stack_dir / "logs").glob("*.log"):
            assert password not in log.read_text(errors="replace"), log
        status = run([BIN / "bnpipe", "stack", "status"], project.env, timeout=60)
        assert password not in status.stdout and "PostgreSQL" in status.stdout
        assert f"127.0.0.1:{pg_port}" in status.stdout
    finally:
        stack_down(project)
    assert port_free(pg_port)


def test_a_wrong_password_is_one_line_and_starts_nothing(
    tmp_path, data_mirror, reachable_tmp, team_server
):
    url, _ = team_server
    wrong = url.replace(TEAM_PASSWORD, "not-the-password")
    project = postgres_project(tmp_path, data_mirror, reachable_tmp, BNPIPE_POSTGRES_URL=wrong)
    up = run([BIN / "bnpipe", "stack", "up", "--backend", "postgres"], project.env, timeout=120)
    assert up.returncode == 1, explain(up)
    [line] = [x for x in up.stderr.splitlines() if x.startswith("bnpipe: error:")]
    port = url.rsplit(":", 1)[1]
    assert f"PostgreSQL at 127.0.0.1:{port}: password authentication failed" in line
    assert "not-the-password" not in up.stdout + up.stderr
    assert "Nothing was started" in line
    assert not recorded_pids(project)
    assert port_free(project.prefect_port) and port_free(project.mlflow_port)

    # and a server that is not there at all
    (closed,) = free_ports(1)
    down_url = f"postgresql://team:{TEAM_PASSWORD}@127.0.0.1:{closed}"
    env = {**project.env, "BNPIPE_POSTGRES_URL": down_url}
    up = run([BIN / "bnpipe", "stack", "up", "--backend", "postgres"], env, timeout=120)
    assert up.returncode == 1, explain(up)
    assert f"PostgreSQL at 127.0.0.1:{closed}: connection refused" in up.stderr
    assert TEAM_PASSWORD not in up.stdout + up.stderr
    assert not recorded_pids(project)

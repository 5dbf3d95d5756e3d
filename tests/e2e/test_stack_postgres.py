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


@pytest.fixture
def reachable_tmp():
    """A folder the ``postgres`` system user can enter (pytest's own are 0700 root)."""
    path = Path(tempfile.mkdtemp(prefix="bnpipe-pg-test-"))
    path.chmod(0o711)
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture
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
    state = reachable_tmp / "state"
    project.env.update({"BNPIPE_STATE_DIR": str(state), **env})
    project.stack_dir = state / "stack"
    return project


def assert_team_stack_works(project, secret: str | None) -> None:
    """up, a deployment run that registers a champion, status, with the data in
    PostgreSQL and the artifacts served; ``secret`` never printed."""
    from mlflow import MlflowClient

    bnpipe = BIN / "bnpipe"
    up = run([bnpipe, "stack", "up", "--backend", "postgres"], project.env, timeout=480)
    assert up.returncode == 0, explain(up, project)
    if secret:
        assert secret not in up.stdout + up.stderr
    assert "Backend:     PostgreSQL postgresql://" in up.stdout and ":***@" in up.stdout

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


def test_the_team_stack_on_a_teams_postgresql(tmp_path, data_mirror, reachable_tmp, team_server):
    url, admin = team_server
    project = postgres_project(tmp_path, data_mirror, reachable_tmp, BNPIPE_POSTGRES_URL=url)
    try:
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
    finally:
        stack_down(project)


def test_the_team_stack_on_its_own_postgresql(tmp_path, data_mirror, reachable_tmp):
    (pg_port,) = free_ports(1)
    project = postgres_project(
        tmp_path, data_mirror, reachable_tmp, BNPIPE_POSTGRES_PORT=str(pg_port)
    )
    try:
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

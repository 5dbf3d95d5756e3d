"""The team stack: `bnpipe stack up --backend postgres`, on a PostgreSQL server
the test starts (password auth, a role with CREATEDB and nothing more) and on
the stack's own PostgreSQL; Prefect and MLflow keep their data there, the MLflow
server serves the artifacts, and no password is ever printed.

Authentication is on (the team stack's default): every client here gets its
settings from `bnpipe stack env`, as a person or a second host would; what an
unauthenticated one meets, and that no generated secret leaks anywhere, is
checked on the same stack."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from bnpipe.ops import pgserver
from bnpipe.ops.stack import port_free
from bnpipe.processes import is_alive
from tests.e2e.stacks import (
    BIN,
    REPO,
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


def stack_env(project) -> dict[str, str]:
    """What `bnpipe stack env` exports (parsed as a shell would)."""
    out = run([BIN / "bnpipe", "stack", "env"], project.env, timeout=60)
    assert out.returncode == 0, explain(out)
    values = {}
    for line in out.stdout.splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            values[key] = shlex.split(value)[0] if value else ""
    return values


def dask_security(env: dict[str, str]):
    """The Dask client security the TLS file paths of `bnpipe stack env` describe."""
    from distributed.security import Security

    return Security(
        tls_ca_file=env["DASK_DISTRIBUTED__COMM__TLS__CA_FILE"],
        tls_client_cert=env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT"],
        tls_client_key=env["DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY"],
        require_encryption=True,
    )


def secrets_of(project) -> list[str]:
    """Every secret the stack generated (and its own PostgreSQL's password)."""
    from bnpipe.ops.credentials import Credentials

    found = Credentials(project.stack_dir / "credentials").secrets()
    own = project.stack_dir / "postgres" / "password"
    return found + ([own.read_text().strip()] if own.exists() else [])


def in_the_shell(project, command: list[str], timeout: float = 900, ps_samples=None):
    """``command`` after ``eval "$(bnpipe stack env)"``, as README says; with
    ``ps_samples`` (a list), the process table is sampled into it while it runs."""
    script = f'eval "$({BIN / "bnpipe"} stack env)" && exec {shlex.join(command)}'
    proc = subprocess.Popen(
        ["bash", "-c", script], cwd=project.root, env=project.env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )  # fmt: skip
    if ps_samples is None:
        out, err = proc.communicate(timeout=timeout)
    else:
        deadline = time.monotonic() + timeout
        while proc.poll() is None and time.monotonic() < deadline:
            ps_samples.append(subprocess.run(["ps", "-eww", "-o", "args"], capture_output=True,
                                             text=True).stdout)  # fmt: skip
            time.sleep(2)
        out, err = proc.communicate(timeout=60)
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def assert_team_stack_works(project, secret: str | None, ps_samples=None) -> None:
    """A deployment run (after ``eval "$(bnpipe stack env)"``) that registers a
    champion, status, with the data in PostgreSQL and the artifacts served;
    ``secret`` never printed."""
    from mlflow import MlflowClient

    bnpipe = BIN / "bnpipe"

    first = in_the_shell(
        project, deployment_run('config={"epochs": 50, "seeds": 2}'), ps_samples=ps_samples
    )
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
    assert "Auth:        on" in status.stdout
    for value in secrets_of(project):
        assert value not in status.stdout + status.stderr
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
        with pytest.MonkeyPatch.context() as mp:
            login(mp, project)
            project.ps = []  # the process table, sampled during the first deployment run
            yield project
    finally:
        stack_down(project)


def login(mp, project, user: str = "bnpipe") -> None:
    """This test process's MLflow client logs in as ``user`` (bnpipe: what stack env says)."""
    from bnpipe.ops.credentials import Credentials

    mp.setenv("MLFLOW_TRACKING_USERNAME", user)
    mp.setenv(
        "MLFLOW_TRACKING_PASSWORD",
        Credentials(project.stack_dir / "credentials").mlflow_password(user),
    )


def test_the_team_stack_on_a_teams_postgresql(team_stack, team_server):
    _, admin = team_server
    project = team_stack
    assert_team_stack_works(project, TEAM_PASSWORD, ps_samples=project.ps)
    # the role made its databases; the stack runs no PostgreSQL of its own
    assert not (project.stack_dir / "postgres.pid").exists()
    conn = pgserver._connect(admin, "postgres", 5)
    with conn.cursor() as cur:
        cur.execute(
            "SELECT datname, pg_get_userbyid(datdba) FROM pg_database "
            "WHERE datname IN ('prefect', 'mlflow', 'mlflow_auth') ORDER BY 1"
        )
        assert cur.fetchall() == [("mlflow", "team"), ("mlflow_auth", "team"), ("prefect", "team")]
    conn.close()
    # MLflow's users live in the stack's data (mlflow_auth), not in a file where it started
    assert not list(project.root.glob("*.db")) and not list(REPO.glob("basic_auth.db"))
    users = pgserver._connect(pgserver.PgUrl.parse(team_server[0]), "mlflow_auth", 5)
    with users.cursor() as cur:
        cur.execute("SELECT username, is_admin FROM users ORDER BY username")
        assert cur.fetchall() == [("admin", True), ("bnpipe", False), ("reader", False)]
    users.close()


def test_the_stacks_credentials_are_files_of_its_own(team_stack):
    creds = team_stack.stack_dir / "credentials"
    assert oct(creds.stat().st_mode & 0o777) == "0o700"
    secret_files = [f for f in creds.rglob("*") if f.is_file() and not f.name.endswith(".pem")]
    secret_files += list(creds.rglob("*-key.pem"))
    assert len(secret_files) == 10, secret_files  # 3 passwords, key, ini, auth string, 4 keys
    for f in secret_files:
        assert oct(f.stat().st_mode & 0o777) == "0o600", f
    env = stack_env(team_stack)
    assert set(env) >= {
        "PREFECT_API_URL", "PREFECT_API_AUTH_STRING", "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "BNPIPE_DASK_ADDRESS",
        "DASK_DISTRIBUTED__COMM__TLS__CA_FILE", "DASK_DISTRIBUTED__COMM__TLS__CLIENT__CERT",
        "DASK_DISTRIBUTED__COMM__TLS__CLIENT__KEY",
    }  # fmt: skip
    assert env["BNPIPE_DASK_ADDRESS"].startswith("tls://")
    assert env["MLFLOW_TRACKING_USERNAME"] == "bnpipe"


def test_without_credentials_nothing_gets_in(team_stack, monkeypatch):
    """Unauthenticated REST calls, a Dask client without the stack's certificates,
    the read-only user, and runs with a wrong or missing credential."""
    import urllib.error
    import urllib.request

    from distributed import Client
    from distributed.security import Security
    from mlflow import MlflowClient
    from mlflow.exceptions import MlflowException

    project = team_stack
    env = stack_env(project)
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))

    def status_of(url, body=None, headers=None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            url, data=data, headers={"Content-Type": "application/json", **(headers or {})}
        )
        try:
            with opener.open(request, timeout=10) as resp:
                return resp.status
        except urllib.error.HTTPError as exc:
            return exc.code

    mlflow_api = f"{project.mlflow_url}/api/2.0/mlflow"
    assert status_of(f"{mlflow_api}/experiments/search", {"max_results": 5}) == 401
    assert status_of(f"{project.mlflow_url}/", None) == 401  # the UI too
    wrong = {"Authorization": "Basic " + base64.b64encode(b"bnpipe:wrong").decode()}
    assert status_of(f"{mlflow_api}/experiments/search", {"max_results": 5}, wrong) == 401
    assert status_of(f"{project.api_url}/deployments/filter", {}) == 401
    assert status_of(f"{project.api_url}/deployments/filter", {}, wrong) == 401
    right = env["PREFECT_API_AUTH_STRING"].encode()
    ok = {"Authorization": "Basic " + base64.b64encode(right).decode()}
    assert status_of(f"{project.api_url}/deployments/filter", {}, ok) == 200

    # Dask: plain TCP, and TLS with certificates of another CA, both fail to submit
    address = env["BNPIPE_DASK_ADDRESS"]
    for attempt in (address.replace("tls://", "tcp://"), address):
        security = Security.temporary() if attempt.startswith("tls") else None
        with (
            pytest.raises(Exception),  # noqa: B017, PT011 - a refused handshake, any kind
            Client(attempt, timeout=5, security=security) as client,
        ):
            client.submit(os.getpid).result(timeout=10)
    with Client(address, timeout=10, security=dask_security(env)) as client:
        assert client.submit(sum, [40, 2]).result(timeout=30) == 42  # with them, it does

    # the read-only user reads runs and cannot move the alias
    login(monkeypatch, project, "reader")
    reader = MlflowClient(project.mlflow_url)
    exp = reader.get_experiment_by_name("bn-comparison-iris")
    assert reader.search_runs([exp.experiment_id])
    champion = reader.get_model_version_by_alias("bnpipe-iris", "champion")
    versions = reader.search_model_versions("name='bnpipe-iris'")
    other = next((v for v in versions if v.version != champion.version), champion)
    with pytest.raises(MlflowException, match="403|PERMISSION_DENIED|Permission denied"):
        reader.set_registered_model_alias("bnpipe-iris", "champion", other.version)
    assert reader.get_model_version_by_alias("bnpipe-iris", "champion").version == champion.version

    # a wrong MLflow password, a missing Prefect auth string: one line naming the
    # service, no secret, no MLflow run left RUNNING
    login(monkeypatch, project, "bnpipe")
    before = {
        r.info.run_id for r in MlflowClient(project.mlflow_url).search_runs([exp.experiment_id])
    }
    cases = {
        "MLflow tracking server": {**project.env, **env, "MLFLOW_TRACKING_PASSWORD": "wrong"},
        "the Prefect API": {
            k: v for k, v in {**project.env, **env}.items() if k != "PREFECT_API_AUTH_STRING"
        },
    }
    for service, run_env in cases.items():
        done = run([BIN / "bnpipe", "run", "iris", "--epochs", "2", "--seeds", "1"], run_env,
                   timeout=300)  # fmt: skip
        assert done.returncode == 1, explain(done)
        [line] = [x for x in done.stderr.splitlines() if x.startswith("bnpipe: error:")]
        assert service in line and "(HTTP 401)" in line, line
        assert "Traceback" not in done.stderr
        for value in secrets_of(project):
            assert value not in done.stdout + done.stderr
    runs = MlflowClient(project.mlflow_url).search_runs([exp.experiment_id], run_view_type=3)
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert {r.info.run_id for r in runs} == before  # neither case opened a run


def test_no_generated_secret_leaks(team_stack):
    """Not in a log of the stack, an MLflow param or tag, a Prefect flow run's
    parameters or name, or the process table sampled during a run."""
    from mlflow import MlflowClient

    project = team_stack
    secrets = secrets_of(project) + [TEAM_PASSWORD]
    assert len(secrets) >= 6 and all(len(s) >= 12 for s in secrets)
    logs = list((project.stack_dir / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"prefect-server", "prefect-worker", "mlflow-server",
                                      "dask-scheduler", "dask-worker", "deploy"}  # fmt: skip
    texts = {str(p): p.read_text(errors="replace") for p in logs}
    client = MlflowClient(project.mlflow_url)
    for exp in client.search_experiments():
        texts[f"experiment {exp.name} tags"] = json.dumps(exp.tags)
        for r in client.search_runs([exp.experiment_id], run_view_type=3):
            texts[f"run {r.info.run_id}"] = json.dumps(
                [r.data.params, r.data.tags, r.info.run_name]
            )
    env = stack_env(project)
    token = base64.b64encode(env["PREFECT_API_AUTH_STRING"].encode()).decode()
    import urllib.request

    request = urllib.request.Request(
        f"{project.api_url}/flow_runs/filter", data=b'{"limit": 200}',
        headers={"Content-Type": "application/json", "Authorization": f"Basic {token}"},
    )  # fmt: skip
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(request, timeout=10) as resp:
        flow_runs = json.loads(resp.read())
    assert flow_runs
    for fr in flow_runs:
        texts[f"flow run {fr['name']}"] = json.dumps([fr["name"], fr["parameters"]])
    assert project.ps, "the process table was not sampled during the run"
    assert len(project.ps) >= 3  # samples 2 s apart: the run lasted a while, not an instant
    for i, sample in enumerate(project.ps):
        texts[f"ps sample {i}"] = sample
    leaks = [(where, s[:4] + "...") for where, text in texts.items() for s in secrets if s in text]
    assert not leaks, leaks


def test_a_second_host_joins_with_the_stacks_urls_only(team_stack, data_mirror):
    """A Prefect process worker and a Dask worker started from another folder, with
    none of the project's state and only the stack's URLs, run a deployment; its
    runs and artifacts land on the stack's servers. (On one machine: the stack's
    own Prefect worker and Dask workers are stopped, so only the second host's can
    take the work.)"""
    from distributed import Client
    from mlflow import MlflowClient

    from bnpipe.ops.stack import HYGIENE, stop_process
    from tests.e2e.stacks import REPO, stop_session

    project = team_stack  # after the test above: its own workers are stopped here
    host_b = project.tmp / "host-b"  # a checkout of its own, nothing of the project's state
    host_b.mkdir()
    for name in ("datasets.yaml", "expectations", "prefect.yaml", "flows", "tasks"):
        (host_b / name).symlink_to(REPO / name)
    background: list[subprocess.Popen] = []
    try:
        handed = stack_env(project)  # what `bnpipe stack env` gives a second host
        scheduler = handed["BNPIPE_DASK_ADDRESS"]
        assert scheduler == f"tls://127.0.0.1:{project.dask_port}"
        env_b = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("BNPIPE_", "MLFLOW_", "PREFECT_", "DASK_"))
        }
        env_b.update(HYGIENE)
        env_b.update(handed)  # the stack's URLs and credentials, nothing else
        env_b.update(
            {
                "PATH": project.env["PATH"],
                "NO_PROXY": "127.0.0.1,localhost",
                "BNPIPE_PROJECT_DIR": str(host_b),
                "BNPIPE_STATE_DIR": str(host_b / "state"),
                "BNPIPE_DATA_MIRROR": str(data_mirror),
                "PREFECT_HOME": str(host_b / "prefect"),
            }
        )
        logs = open(host_b / "workers.log", "ab")  # noqa: SIM115 - closed in finally
        tls = project.stack_dir / "credentials" / "tls"  # the files a host's Dask worker gets
        no_mlflow = {k: v for k, v in env_b.items() if not k.startswith("MLFLOW_TRACKING_")}
        for argv, worker_env in (
            ([BIN / "dask", "worker", scheduler, "--nthreads", "1", "--name", "host-b",
              "--no-dashboard", "--tls-ca-file", tls / "ca.pem", "--tls-cert", tls / "worker.pem",
              "--tls-key", tls / "worker-key.pem"], no_mlflow),  # Dask workers: no MLflow keys
            ([BIN / "prefect", "worker", "start", "--pool", "bnpipe-process", "--type",
              "process", "--name", "host-b", "--limit", "1"], env_b),
        ):  # fmt: skip
            background.append(
                subprocess.Popen(
                    [str(a) for a in argv],
                    cwd=host_b,
                    env=worker_env,
                    stdout=logs,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,
                )  # fmt: skip
            )
        # the stack's own worker and Dask workers step aside
        pids = recorded_pids(project)
        for name in ("prefect-worker.pid", "dask-worker.pid"):
            stop_process(pids[name], second_sigterm=name.startswith("prefect"))
        with Client(scheduler, timeout=10, security=dask_security(handed)) as client:
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
        done = in_the_shell(project, deployment_run('config={"epochs": 30, "seeds": 2}'))
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


def test_the_team_stack_on_its_own_postgresql(tmp_path, data_mirror, reachable_tmp, monkeypatch):
    (pg_port,) = free_ports(1)
    project = postgres_project(
        tmp_path, data_mirror, reachable_tmp, BNPIPE_POSTGRES_PORT=str(pg_port)
    )
    try:
        # (a deployment run on this backend: the team-server tests above; here the
        # server's own life: its files, its password, its port, both databases)
        stack_up(project, None, "--dask-workers", "0")
        login(monkeypatch, project)
        from mlflow import MlflowClient

        assert MlflowClient(project.mlflow_url).search_experiments()  # through the server
        pg = _stack_pg(project)
        assert pgserver.count_rows(pg, "prefect", "deployment") >= 2
        assert pgserver.count_rows(pg, "mlflow_auth", "users") == 3
        own = project.stack_dir / "postgres"
        password = (own / "password").read_text().strip()
        assert oct((own / "password").stat().st_mode & 0o777) == "0o600"
        for log in (project.stack_dir / "logs").glob("*.log"):
            assert password not in log.read_text(errors="replace"), log
        status = run([BIN / "bnpipe", "stack", "status"], project.env, timeout=60)
        assert status.returncode == 0, explain(status, project)
        assert password not in status.stdout and "PostgreSQL" in status.stdout
        assert f"127.0.0.1:{pg_port}" in status.stdout and "Auth:        on" in status.stdout
        for value in secrets_of(project):
            assert value not in status.stdout + status.stderr
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


def test_listening_beyond_loopback_without_auth_is_refused(tmp_path, data_mirror):
    """The refusal only: nothing binds, nothing starts (192.0.2.1 is TEST-NET)."""
    project = new_stack_project(tmp_path, data_mirror)
    for backend in ("sqlite", "postgres"):
        up = run(
            [BIN / "bnpipe", "stack", "up", "--backend", backend, "--listen", "192.0.2.1",
             "--no-auth"],
            project.env, timeout=60,
        )  # fmt: skip
        assert up.returncode == 1, explain(up)
        [line] = [x for x in up.stderr.splitlines() if x.startswith("bnpipe: error:")]
        assert "--listen 192.0.2.1 with --no-auth is refused" in line
        assert not recorded_pids(project) and not (project.stack_dir / "credentials").exists()
        assert port_free(project.prefect_port) and port_free(project.mlflow_port)

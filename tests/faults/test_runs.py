"""`bnpipe run` under faults, as real processes against real stores (issue 5).

One module-scoped scenario starts the processes of project ``signals`` at once
(they are independent, and a run is mostly import and startup time), signals the
ones that must die mid-training, then starts the other projects' runs and the run
that must come after the SIGKILL, together. Runs that are not
about start-up or teardown use the session's shared Prefect server and Dask
cluster (``prefect_server``, ``dask_cluster``); the signalled ones train on a
local Dask cluster of their own, which their signal must take down with them
(a job that its client left runs on in a shared worker's thread), and the
SIGKILLed one also has its own temporary Prefect server:

* project ``signals`` (boston; a champion v1 and a good cached download exist):
  ``sigint``, ``sigterm`` and ``sigkill`` train 20000 epochs x 3 seeds (the SIGKILL
  100000 x 6) and each gets its signal once its log says it is training (the SIGKILL
  only once every process of the project has opened its run); the signalled runs must
  acknowledge the signal and stop before a training job has come back; ``exception`` fails while logging
  its second model (an injected OSError). After the SIGKILL, ``next`` runs with a
  learning rate of 1e9 (every seed diverges) through a mirror URL that carries
  ``user:secret@``: it must end the killed process's runs, complete, register
  nothing and leak no secret.
* project ``bad`` (boston; champion v1 and a good cached download): ``bad`` runs on
  a CSV served over loopback HTTP with a negative medv and missing rm values.
* project ``concurrent`` (iris; fresh stores): ``c1`` and ``c2`` at the same time.

The tests below only read what the scenario recorded and the stores it left.
Before it, alone: ``bnpipe run`` with MLFLOW_TRACKING_URI at a closed port.
"""

from __future__ import annotations

import base64
import io
import json
import re
import signal
import time
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from tests.faults.conftest import (
    alive,
    all_runs,
    bnpipe,
    champion_version,
    children_of,
    client_for,
    dead_port,
    error_lines,
    kill_leftovers,
    latest_sha,
    make_project,
    model_versions,
    parent_of_pid,
    python,
    seed_cache,
    seed_champion,
    sha256,
)
from tests.servers import ready_for_a_test, shared_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

# Signalled as soon as their log says they train: 3 seeds of 20000 epochs (10-40 s a
# seed on 2 busy cores) outlast the signal's delivery and the stop by far. Stopped
# there, they cost their start-up only.
LONG = ["--epochs", "20000", "--seeds", "3"]
# The SIGKILL waits for every process of the project to open its run (minutes under
# this load), so its training must outlast that: it is killed long before it ends.
KILL_LONG = ["--epochs", "100000", "--seeds", "6"]  # the most epochs a run takes, x 6
TRAINING = re.compile(r"boston/plain seed 0: \d+/\d+ epochs")
JOB_BACK = re.compile(r"boston/\w+: trained on .*")  # a training job that came back
READY_TIMEOUT = 600  # seconds for all the signalled processes to reach training
RUN_TIMEOUT = 600

# `bnpipe` with serving.log_model failing on the second model: the artifact store fills up.
INJECT_LOG_MODEL_FAULT = """
import sys
import bnpipe.serving as serving
real, calls = serving.log_model, []
def log_model(*args, **kwargs):
    calls.append(1)
    if len(calls) == 2:
        raise OSError("injected fault: no space left on the artifact store")
    return real(*args, **kwargs)
serving.log_model = log_model
from bnpipe.ops.cli import main
sys.exit(main(sys.argv[1:]))
"""


def bad_boston(good: bytes) -> bytes:
    df = pd.read_csv(io.BytesIO(good))
    df.loc[[3, 7], "medv"] = -5.0
    df.loc[[10, 11, 12], "rm"] = float("nan")
    return df.to_csv(index=False).encode()


def test_an_unreachable_tracking_store_fails_fast_with_one_line(tmp_path, mirror):
    """Alone (not in the scenario below), so that its time measures bnpipe, not the load."""
    env = make_project(tmp_path, mirror.url)
    dead = f"http://127.0.0.1:{dead_port()}"
    env["MLFLOW_TRACKING_URI"] = dead
    proc = bnpipe("unreachable", ["run", "iris", "--epochs", "1", "--seeds", "1"], env, tmp_path)
    assert proc.wait(300) == 1, proc.summary()
    lines = error_lines(proc.err)
    assert len(lines) == 1, proc.summary()
    assert lines[0].startswith(f"bnpipe: error: MLflow tracking store {dead} is unreachable: ")
    assert "Connection refused" in lines[0]
    assert "Starting temporary server" not in proc.err  # failed before Prefect started
    no_traceback(proc)
    assert proc.elapsed < 60


def test_a_read_only_tracking_store_fails_fast_with_one_line(
    shared_stack, tmp_path, mirror, store_templates
):
    import subprocess

    env = make_project(tmp_path, mirror.url, {"mlflow": store_templates["mlflow"]})
    env = shared_env(env, *shared_stack)
    db = tmp_path / "mlflow.db"
    subprocess.run(["chattr", "+i", str(db)], check=True)  # read-only, even for root
    try:
        proc = bnpipe("read-only", ["run", "iris", "--epochs", "1", "--seeds", "1"], env, tmp_path)
        assert proc.wait(300) == 1, proc.summary()
    finally:
        subprocess.run(["chattr", "-i", str(db)], check=False)
    lines = error_lines(proc.err)
    assert lines == [
        f"bnpipe: error: MLflow tracking store sqlite:///{db} cannot be written: "
        "attempt to write a readonly database"
    ], proc.summary()
    no_traceback(proc)
    assert "Beginning flow run" not in proc.err  # failed before the flow started
    assert proc.elapsed < 60


@pytest.fixture(scope="module")
def scenario(prefect_server, dask_cluster, mirror, data_mirror, store_templates, tmp_path_factory):
    tmp = tmp_path_factory.mktemp("fault-runs")
    logs = tmp / "logs"
    good = (data_mirror / "boston.csv").read_bytes()
    s = SimpleNamespace(
        good_sha=sha256(good), procs={}, notes=[], signalled={}, sigkill_leftovers=[],
        sigkill_survivors=[],
    )  # fmt: skip
    ready_for_a_test(prefect_server, dask_cluster)

    def shared(env):
        return shared_env(env, prefect_server, dask_cluster)

    # -- projects
    s.signals = make_project(tmp / "signals", mirror.url, store_templates)
    s.bad = make_project(
        tmp / "bad", mirror.put("bad/boston.csv", bad_boston(good)), store_templates
    )
    s.bad_sha = sha256((mirror.root / "bad" / "boston.csv").read_bytes())
    # a fresh MLflow store, which both processes create at once
    s.concurrent = make_project(tmp / "concurrent", mirror.url)
    for env in (s.signals, s.bad):
        seed_cache(env, "boston", good)
        seed_champion(env, "boston")
    s.secret_url = mirror.url.replace("://", "://user:secret@")

    # The SIGKILL's run starts everything of its own (a temporary Prefect server, a
    # local Dask cluster): what must not outlive it. SIGINT and SIGTERM: the shared
    # Prefect server, a local cluster of their own (their jobs stop with it).
    own_cluster = {**shared(s.signals)}
    own_cluster.pop("BNPIPE_DASK_ADDRESS")
    procs = s.procs
    few = ["--epochs", "5", "--seeds"]
    try:
        # -- phase 1, project `signals`: the runs to signal, and the exception, at once
        for name in ("sigint", "sigterm"):
            procs[name] = bnpipe(name, ["run", "boston", *LONG], own_cluster, logs)
        procs["sigkill"] = bnpipe("sigkill", ["run", "boston", *KILL_LONG], s.signals, logs)
        procs["exception"] = python(
            "exception", INJECT_LOG_MODEL_FAULT, ["run", "boston", *few, "2"],
            shared(s.signals), logs,
        )  # fmt: skip
        # -- signal each of the three as soon as its log says it is training, but the
        # SIGKILL only once every process of project `signals` has opened its parent
        # run (so none of them can start after it and tidy up in the next run's place)
        client = client_for(s.signals)
        targets = {"sigint": signal.SIGINT, "sigterm": signal.SIGTERM, "sigkill": signal.SIGKILL}
        opened = False
        deadline = time.monotonic() + READY_TIMEOUT
        while len(s.signalled) < len(targets):
            early = [n for n in targets if n not in s.signalled and procs[n].poll() is not None]
            if early:
                s.notes.append(f"ended before its signal: {early}")
                break
            if time.monotonic() > deadline:
                s.notes.append(f"timed out waiting for training; signalled {sorted(s.signalled)}")
                break
            if not opened:
                runs = all_runs(client, "boston")
                opened = all(
                    parent_of_pid(runs, procs[n].pid) is not None or procs[n].poll() is not None
                    for n in (*targets, "exception")
                )
            for name, sig in targets.items():
                ready = opened or name != "sigkill"
                training = TRAINING.search(procs[name].err) if ready else None
                if training and name not in s.signalled:
                    if name == "sigkill":
                        s.sigkill_leftovers = procs[name].descendants()
                    err = procs[name].err
                    procs[name].popen.send_signal(sig)
                    # what its log said when the signal went: training, no job back yet
                    s.signalled[name] = SimpleNamespace(
                        line=training.group(0), jobs_back=JOB_BACK.findall(err)
                    )
            time.sleep(0.2)

        # -- phase 2, projects `bad` and `concurrent`: nothing in them waits for a signal,
        # and the signalled runs' start-up does not compete with theirs
        # (an explicit learning rate: a run that stops at validation never loads TensorFlow)
        procs["bad"] = bnpipe(
            "bad", ["run", "boston", "--learning-rate", "0.001", *few, "1"], shared(s.bad), logs
        )
        for name in ("c1", "c2"):
            # enough epochs to beat the class prior: only such a version becomes champion;
            # the same work twice on purpose (--force: neither may find the other's result)
            procs[name] = bnpipe(
                name,
                ["run", "iris", "--epochs", "300", "--seeds", "1", "--force"],
                shared(s.concurrent),
                logs,
            )

        procs["sigkill"].wait(RUN_TIMEOUT)
        # The temporary Prefect server (through its lifeline) and the local Dask
        # workers (through Dask's own) stop when their parent is SIGKILLed.
        deadline = time.monotonic() + 20
        while any(alive(p) for p in s.sigkill_leftovers) and time.monotonic() < deadline:
            time.sleep(0.2)
        s.sigkill_survivors = [p for p in s.sigkill_leftovers if alive(p)]
        kill_leftovers(s.sigkill_survivors)
        runs = all_runs(client, "boston")
        killed = parent_of_pid(runs, procs["sigkill"].pid)
        family = [killed, *children_of(runs, killed.info.run_id)] if killed else []
        s.after_sigkill = {r.info.run_id: r.info.status for r in family}
        s.sigkill_parent_id = killed.info.run_id if killed else None
        for name in ("sigint", "sigterm"):
            procs[name].wait(RUN_TIMEOUT)
        s.before_next = {r.info.run_id: r.info.status for r in all_runs(client, "boston")}

        # -- phase 3: after the SIGKILL, the run that tidies up after it
        next_env = {**shared(s.signals), "BNPIPE_DATA_MIRROR": s.secret_url}
        diverging = ["run", "boston", "--learning-rate", "1e9", *few, "2"]
        procs["next"] = bnpipe("next", diverging, next_env, logs)
        for proc in procs.values():
            proc.wait(RUN_TIMEOUT)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                proc.stop()
    return s


def show(s, *names) -> str:
    return "\n".join(s.procs[n].summary() for n in names) + "\n" + "\n".join(s.notes)


def runs_of(s, env, name, dataset="boston"):
    """(client, parent, children) of the run process ``name`` made in ``env``'s store."""
    client = client_for(env)
    runs = all_runs(client, dataset)
    parent = parent_of_pid(runs, s.procs[name].pid)
    assert parent is not None, show(s, name)
    return client, parent, children_of(runs, parent.info.run_id)


def model_runs(client, experiment_id) -> set[str]:
    """Run ids that have a logged model."""
    return {m.source_run_id for m in client.search_logged_models(experiment_ids=[experiment_id])}


def no_traceback(proc) -> None:
    assert "Traceback" not in proc.err and "Traceback" not in proc.out, proc.summary()


# --------------------------------------------------------------------------- 2. bad data


def test_bad_data_run_fails_with_one_line_naming_dataset_column_and_rule(scenario):
    proc = scenario.procs["bad"]
    assert proc.returncode == 1, show(scenario, "bad")
    lines = error_lines(proc.err)
    assert len(lines) == 1, proc.summary()
    line = lines[0]
    assert line.startswith("bnpipe: error: boston: validation failed against suite 'boston': ")
    assert (
        "column 'rm': expect_column_values_to_not_be_null — values must not be null; 3 rows" in line
    )
    assert "(and 1 more: column 'medv' expect_column_values_to_be_between)" in line
    assert f"full report under {scenario.bad['BNPIPE_STATE_DIR']}/reports" in line
    no_traceback(proc)
    # printed once: none of Prefect's ERROR lines about the failed task and flow before it
    mentions = [ln for ln in proc.err.splitlines() if "validation failed" in ln]
    assert mentions == lines, proc.summary()
    assert "| ERROR " not in proc.err, proc.summary()


def test_bad_data_run_leaves_a_failed_parent_with_its_report_and_no_model(scenario):
    client, parent, children = runs_of(scenario, scenario.bad, "bad")
    assert parent.info.status == "FAILED"
    assert parent.data.tags["validation"] == "failed"
    assert parent.data.tags["error"].startswith("DataValidationError: boston: validation failed")
    assert parent.data.tags["data_sha256"] == scenario.bad_sha
    assert children == []  # stopped before training
    assert "validation.json" in {a.path for a in client.list_artifacts(parent.info.run_id)}
    reports = Path(scenario.bad["BNPIPE_STATE_DIR"]) / "reports"
    local = json.loads((reports / f"boston-{scenario.bad_sha[:12]}-validation.json").read_text())
    assert local["success"] is False
    assert [(f["column"], f["rule"]) for f in local["failures"]] == [
        ("rm", "expect_column_values_to_not_be_null"),
        ("medv", "expect_column_values_to_be_between"),
    ]
    assert model_versions(client, "boston") == ["1"]  # the seeded champion only
    assert champion_version(client, "boston") == "1"


def test_bad_data_run_keeps_the_last_good_download(scenario):
    cache = Path(scenario.bad["BNPIPE_STATE_DIR"]) / "cache" / "boston"
    assert (cache / f"{scenario.bad_sha}.csv").is_file()  # kept, content-addressed
    assert latest_sha(scenario.bad, "boston") == scenario.good_sha


# --------------------------------------------------------------------------- 3. interrupts and exceptions


@pytest.mark.parametrize(
    ("name", "code", "message"),
    [
        ("sigint", 130, "bnpipe: interrupted; open MLflow runs were ended KILLED"),
        ("sigterm", 143, "bnpipe: terminated by signal 15; open MLflow runs were ended KILLED"),
    ],
)
def test_a_signal_mid_training_ends_the_runs_killed(scenario, name, code, message):
    proc = scenario.procs[name]
    # sent while its log said it was training, before any training job had come back
    sent = scenario.signalled.get(name)
    assert sent is not None and sent.jobs_back == [], show(scenario, name)
    assert proc.returncode == code, show(scenario, name)
    # delivered: acknowledged, and it stopped before a job (or its last seed) was done
    assert f"bnpipe: {name.upper()} received: stopping" in proc.err.splitlines()
    assert not JOB_BACK.search(proc.err), show(scenario, name)
    assert not re.search(r"seed 2: 20000/20000 epochs", proc.err), show(scenario, name)
    assert message in proc.err.splitlines()
    no_traceback(proc)
    client, parent, children = runs_of(scenario, scenario.signals, name)
    # its own handling ended it, before any later run could tidy up
    assert scenario.before_next[parent.info.run_id] == "KILLED"
    assert parent.info.status == "KILLED"
    assert "winner" not in parent.data.tags  # stopped mid-training, before the summary
    assert all(c.info.status in ("KILLED", "FINISHED") for c in children)
    assert model_versions(client, "boston") == ["1"]
    assert champion_version(client, "boston") == "1"


def test_an_exception_while_logging_ends_the_parent_and_the_child_failed(scenario):
    proc = scenario.procs["exception"]
    assert proc.returncode == 1, show(scenario, "exception")
    assert error_lines(proc.err) == [
        "bnpipe: error: injected fault: no space left on the artifact store"
    ]
    no_traceback(proc)
    client, parent, children = runs_of(scenario, scenario.signals, "exception")
    assert parent.info.status == "FAILED"
    assert (
        parent.data.tags["error"] == "OSError: injected fault: no space left on the artifact store"
    )
    status = {c.info.run_name: c.info.status for c in children}
    assert status == {"plain-seed0": "FINISHED", "plain-seed1": "FAILED"}  # the rest never started
    with_model = model_runs(client, parent.info.experiment_id)
    assert [c.info.run_name for c in children if c.info.run_id in with_model] == ["plain-seed0"]
    assert model_versions(client, "boston") == ["1"]
    assert champion_version(client, "boston") == "1"


# --------------------------------------------------------------------------- 6. SIGKILL, then the next run


def test_sigkill_leaves_runs_running_and_the_next_run_ends_them_killed(scenario):
    assert "sigkill" in scenario.signalled, show(scenario, "sigkill")  # sent while training
    assert scenario.procs["sigkill"].returncode == -signal.SIGKILL, show(scenario, "sigkill")
    assert scenario.sigkill_parent_id is not None
    assert "boston/plain: trained on" not in scenario.procs["sigkill"].err  # killed mid-training
    assert set(scenario.after_sigkill.values()) == {"RUNNING"}  # the fault the next run repairs
    proc = scenario.procs["next"]
    assert proc.returncode == 1, show(scenario, "next")  # every seed diverges (section 4)
    stale = re.search(r"ended (\d+) run\(s\) a previous process left RUNNING: (.*)", proc.err)
    assert stale is not None, proc.summary()
    assert scenario.sigkill_parent_id in stale.group(2)
    client = client_for(scenario.signals)
    runs = {r.info.run_id: r for r in all_runs(client, "boston")}
    for run_id in scenario.after_sigkill:
        assert runs[run_id].info.status == "KILLED"
    assert [r.info.run_name for r in runs.values() if r.info.status == "RUNNING"] == []


# --------------------------------------------------------------------------- 4. divergence


def test_a_sigkilled_run_leaves_no_process_behind(scenario):
    assert scenario.sigkill_leftovers, "the run had started no helper process"
    assert scenario.sigkill_survivors == [], show(scenario, "sigkill")


def test_a_run_where_every_seed_diverges_fails_and_registers_nothing(scenario):
    """No finite model is a failure a scheduled retrain must show: exit 1, parent
    FAILED, nothing registered; no table of left-out seeds' metrics."""
    proc = scenario.procs["next"]
    assert proc.returncode == 1, show(scenario, "next")
    assert error_lines(proc.err) == [
        "bnpipe: error: boston: every seed diverged (non-finite loss): no finite model, "
        "nothing registered, champion unchanged"
    ]
    assert "± " not in proc.out  # no table printed
    assert "every seed diverged; nothing registered, champion unchanged" in proc.err
    no_traceback(proc)
    client, parent, children = runs_of(scenario, scenario.signals, "next")
    assert parent.info.status == "FAILED"
    assert parent.data.tags["promotion"] == "skipped: no finite model"
    assert parent.data.tags["diverged_seeds"] == "4"
    assert parent.data.tags["error"].startswith("NoFiniteModelError: boston: every seed diverged")
    assert len(children) == 4
    for child in children:
        assert child.info.status == "FAILED", child.info.run_name
        assert child.data.tags["diverged"] == "true"
        assert set(child.data.metrics) <= {"loss", "val_loss"}  # no NaN test metrics logged
    assert not {c.info.run_id for c in children} & model_runs(client, parent.info.experiment_id)
    assert model_versions(client, "boston") == ["1"]
    assert champion_version(client, "boston") == "1"


# --------------------------------------------------------------------------- 8. credentials


def test_mirror_credentials_are_sent_as_basic_auth_and_never_recorded(scenario, mirror):
    proc = scenario.procs["next"]
    assert proc.returncode == 1, show(scenario, "next")  # every seed diverges (section 4)
    token = "Basic " + base64.b64encode(b"user:secret").decode()
    assert ("/boston.csv", token) in mirror.requests
    assert "secret" not in proc.out and "secret" not in proc.err
    client, parent, children = runs_of(scenario, scenario.signals, "next")
    assert (
        parent.data.tags["source_url"]
        == f"{scenario.secret_url.replace('user:secret@', '')}/boston.csv"
    )
    for run in (parent, *children):
        values = [*run.data.params.values(), *run.data.tags.values()]
        assert not [v for v in values if "secret" in v or "user:" in v], run.info.run_name


# --------------------------------------------------------------------------- 5. concurrency


def test_two_concurrent_runs_of_one_dataset_leave_a_consistent_registry(scenario, tmp_path):
    for name in ("c1", "c2"):
        proc = scenario.procs[name]
        assert proc.returncode == 0, show(scenario, name)
        assert "database is locked" not in proc.err
    client = client_for(scenario.concurrent)
    assert model_versions(client, "iris") == ["1", "2"]
    decisions = {}
    for name in ("c1", "c2"):
        _, parent, children = runs_of(scenario, scenario.concurrent, name, "iris")
        assert parent.info.status == "FINISHED" and len(children) == 2
        path = client.download_artifacts(parent.info.run_id, "promotion.json", str(tmp_path))
        decision = json.loads(Path(path).read_text())
        assert parent.data.tags["registered_version"] == decision["version"]
        decisions[decision["version"]] = (decision, parent.data.tags)
    first, _ = decisions["1"]
    second, second_tags = decisions["2"]
    # the registry lock serialised them: the second saw the first as champion
    assert first["promoted"] is True and first["previous_champion"] is None
    assert first["reason"] == "first version: no champion yet"
    assert second["previous_champion"] == "1"
    assert second["interval"]["rows"] > 0
    expected = "2" if second["promoted"] else "1"
    assert champion_version(client, "iris") == expected
    assert second_tags["champion_version"] == expected
    for version, (decision, _) in decisions.items():
        tags = client.get_model_version("bnpipe-iris", version).tags
        assert tags["promoted"] == str(decision["promoted"]).lower()

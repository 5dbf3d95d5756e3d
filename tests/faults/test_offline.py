"""`bnpipe run` on a machine without network: the bundled copy, and a clean exit.

* upstream on a closed loopback port, no mirror, an empty cache: the first run
  trains on the copy bundled with bnpipe (``data_source=bundled``), the next on
  the last good cached copy (``cache``), each with one warning line;
  (on the session's shared Prefect server and Dask cluster);
* a mirror on a closed port: an error, never a fallback, three runs at once
  (failing while the Dask workers and the temporary Prefect server are still
  starting: the cold-start race that used to abort the process), and three runs
  interrupted by Ctrl-C during those same background imports. Every one exits
  with its documented code, prints no abort, and leaves no process behind.
"""

from __future__ import annotations

import re
import signal
import time
from pathlib import Path

import pytest
import yaml

from tests.faults.conftest import (
    all_runs,
    bnpipe,
    client_for,
    dead_port,
    error_lines,
    make_project,
    parent_of_pid,
)
from tests.servers import shared_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

ABORT = re.compile(r"terminate called|Aborted|core dumped|Fatal Python error")
RACES = 3
SWEEP_CELL = ["--epochs", "20", "--learning-rate", "0.001"]


def point_upstream_at(env: dict[str, str], dataset: str, url: str) -> None:
    path = Path(env["BNPIPE_CATALOG"])
    catalog = yaml.safe_load(path.read_text("utf-8"))
    catalog["datasets"][dataset]["url"] = url
    path.write_text(yaml.safe_dump(catalog, allow_unicode=True, sort_keys=False), "utf-8")


def leftovers(state_dir: str) -> list[str]:
    """Processes still running with this project's state folder in their environment
    (Dask workers, the temporary Prefect server: everything a run starts inherits it)."""
    marker = f"BNPIPE_STATE_DIR={state_dir}".encode()
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if marker in (proc / "environ").read_bytes().split(b"\0"):
                found.append(f"{proc.name}: {(proc / 'cmdline').read_bytes()[:120]!r}")
        except OSError:
            continue
    return found


def no_process_left(env: dict[str, str]) -> list[str]:
    deadline = time.monotonic() + 15  # a process may still be on its way out
    while (left := leftovers(env["BNPIPE_STATE_DIR"])) and time.monotonic() < deadline:
        time.sleep(0.2)
    return left


def test_without_network_a_run_trains_on_the_bundled_then_the_cached_copy(
    shared_stack, tmp_path, store_templates
):
    # (on the shared Prefect server and Dask cluster: not a test of their start-up)
    env = make_project(tmp_path / "offline", None, {"mlflow": store_templates["mlflow"]})
    env = shared_env(env, *shared_stack)
    upstream = f"http://127.0.0.1:{dead_port()}/iris.csv"
    point_upstream_at(env, "iris", upstream)
    client = client_for(env)
    for source, copy in (("bundled", "the bundled copy"), ("cache", "the last good cached copy")):
        proc = bnpipe(
            f"run-{source}",
            # the training loop of test_sweep_resume's first cell: compiled once for both
            ["run", "iris", *SWEEP_CELL, "--seeds", "1", "--force"],
            env,
            tmp_path,
        )
        assert proc.wait(600) == 0, proc.summary()
        warnings = [line for line in proc.err.splitlines() if "cannot be reached" in line]
        assert len(warnings) == 1, proc.summary()
        # one warning line about the download: the retry before it is a note, not a warning
        about = [ln for ln in proc.err.splitlines() if "| WARNING |" in ln and upstream in ln]
        assert about == warnings, proc.summary()
        assert f"iris: upstream {upstream} cannot be reached (" in warnings[0]
        assert "Connection refused" in warnings[0] and f"using {copy} c71eef0adf63" in warnings[0]
        assert f"data c71eef0adf63 from {source}" in proc.out
        parent = parent_of_pid(all_runs(client, "iris"), proc.pid)
        assert parent.info.status == "FINISHED"
        assert parent.data.tags["data_source"] == source
        assert parent.data.tags["data_sha256"].startswith("c71eef0adf63")
        assert not ABORT.search(proc.err), proc.summary()
        assert no_process_left(env) == []


@pytest.fixture(scope="module")
def dead_mirror_runs(tmp_path_factory, store_templates):
    """RACES runs that fail on a dead mirror and RACES that get a Ctrl-C, all at once,
    each on a fresh project (cold: nothing cached, the Dask workers loading TensorFlow)."""
    tmp = tmp_path_factory.mktemp("dead-mirror")
    mirror = f"http://127.0.0.1:{dead_port()}"
    procs = {}
    for kind in ("fails", "sigint"):
        for i in range(RACES):
            env = make_project(tmp / f"{kind}{i}", mirror, store_templates)
            name = f"{kind}{i}"
            procs[name] = (bnpipe(name, ["run", "iris"], env, tmp / "logs"), env)
    try:
        deadline = time.monotonic() + 300
        waiting = {n for n in procs if n.startswith("sigint")}
        for proc, _ in procs.values():
            proc.signalled = False
        while waiting and time.monotonic() < deadline:
            for name in list(waiting):
                proc, _ = procs[name]
                if proc.poll() is not None:  # ended before its Ctrl-C: the test says so
                    waiting.discard(name)
                # the CLI has started its helpers and is importing the flow's libraries
                elif "bnpipe: training plain and bn on iris" in proc.out:
                    proc.popen.send_signal(signal.SIGINT)
                    proc.signalled = True
                    waiting.discard(name)
            time.sleep(0.05)
        for proc, _ in procs.values():
            proc.wait(300)
    finally:
        for proc, _ in procs.values():
            if proc.poll() is None:
                proc.stop()
    return procs


@pytest.mark.parametrize("i", range(RACES))
def test_a_dead_mirror_is_an_error_in_one_line_and_a_clean_exit(dead_mirror_runs, i):
    proc, env = dead_mirror_runs[f"fails{i}"]
    assert proc.returncode == 1, proc.summary()
    lines = error_lines(proc.err)
    assert len(lines) == 1, proc.summary()
    assert re.fullmatch(
        r"bnpipe: error: iris: download failed after 2 attempts: "
        r"http://127\.0\.0\.1:\d+/iris\.csv: \[Errno 111\] Connection refused",
        lines[0],
    ), lines[0]
    assert "cannot be reached" not in proc.err  # a mirror never falls back
    assert not ABORT.search(proc.err + proc.out), proc.summary()
    assert "Traceback" not in proc.err, proc.summary()
    assert not (Path(env["BNPIPE_STATE_DIR"]) / "cache" / "iris").exists()
    assert no_process_left(env) == []


@pytest.mark.parametrize("i", range(RACES))
def test_ctrl_c_during_the_background_imports_is_a_clean_exit(dead_mirror_runs, i):
    proc, env = dead_mirror_runs[f"sigint{i}"]
    assert proc.signalled, f"not running with its helpers starting: no Ctrl-C\n{proc.summary()}"
    assert proc.returncode == 130, proc.summary()
    assert "bnpipe: SIGINT received: stopping" in proc.err.splitlines()
    assert "bnpipe: interrupted; open MLflow runs were ended KILLED" in proc.err.splitlines()
    assert not ABORT.search(proc.err + proc.out), proc.summary()
    assert "Traceback" not in proc.err, proc.summary()
    assert no_process_left(env) == []

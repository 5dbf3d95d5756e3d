"""A sweep killed after its first cells, started again, trains only what is missing."""

from __future__ import annotations

import re

import pytest

from tests.faults.conftest import all_runs, bnpipe, client_for, make_project, python
from tests.servers import shared_env

pytestmark = [pytest.mark.slow, pytest.mark.e2e]

GRID = ["--grid", "learning_rate=0.001,0.01", "--grid", "input_scaling=none,standard"]
SEEDS = 1  # what is checked is which cells train, not how many seeds a cell has
ARGS = ["sweep", "iris", *GRID, "--seeds", str(SEEDS), "--epochs", "20"]

# `bnpipe` SIGKILLed by itself as soon as its first cell is logged: a process killed
# halfway, at a known point (a signal from outside could land after every cell).
KILL_AFTER_FIRST_CELL = """
import functools, os, signal, sys
import bnpipe.tasks.sweeps as sweeps
real = sweeps.keep_cell.fn
@functools.wraps(real)  # Prefect binds the task's parameters by its signature
def keep_cell(*args, **kwargs):
    record = real(*args, **kwargs)  # the cell's run is complete (FINISHED) now
    print("injected: killed after the first cell", flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
sweeps.keep_cell.fn = keep_cell
from bnpipe.ops.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_an_interrupted_sweep_resumes_and_trains_only_the_missing_cells(
    shared_stack, tmp_path, mirror
):
    # The shared Prefect server and Dask cluster: the SIGKILL is a fault of the sweep's
    # bookkeeping here, not of its start-up (test_runs.py kills a run with its own).
    # The cells still training when it dies run on in the shared worker's threads
    # (20 epochs: a moment); shared_stack finds the worker idle for the next test.
    env = shared_env(make_project(tmp_path / "project", mirror.url), *shared_stack)
    logs = tmp_path / "logs"
    first = python("killed", KILL_AFTER_FIRST_CELL, ARGS, env, logs)
    assert first.wait(600) == -9, first.summary()
    assert "injected: killed after the first cell" in first.out + first.err, first.summary()

    again = bnpipe("resumed", ARGS, env, logs)
    assert again.wait(600) == 0, again.summary()
    said = again.out + again.err
    assert re.search(r"iris: 4 cells, 1 reused from earlier sweeps, 3 to train", said), said
    assert "3 cell(s) trained, 1 reused" in again.out

    client = client_for(env)
    runs = all_runs(client, "iris", experiment="bn-sweep-iris")
    tops = [r for r in runs if r.data.tags.get("kind") == "sweep"]
    assert len(tops) == 2
    killed, resumed = sorted(tops, key=lambda r: r.info.start_time)
    assert killed.info.status == "KILLED"  # ended by the next start: its process was dead
    assert resumed.info.status == "FINISHED"
    cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == resumed.info.run_id]
    assert len(cells) == 4
    [reused] = [c for c in cells if "reused_from" in c.data.tags]
    first_cells = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == killed.info.run_id]
    assert reused.data.tags["reused_from"] in {c.info.run_id for c in first_cells}
    # seed runs: 2 variants x SEEDS for each of the 3 cells trained again
    cell_ids = {c.info.run_id for c in cells if "reused_from" not in c.data.tags}
    trained = [r for r in runs if r.data.tags.get("mlflow.parentRunId") in cell_ids]
    assert len(trained) == 3 * 2 * SEEDS
    assert all(r.info.status != "RUNNING" for r in runs)

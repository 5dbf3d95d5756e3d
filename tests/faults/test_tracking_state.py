"""Nothing is left RUNNING and the champion never moves by mistake: the tracking
and registry code paths that the flow relies on, on a real (SQLite) MLflow store
in this process. The same faults as real processes are in test_runs.py."""

from __future__ import annotations

import math
import os
import re
import socket
import uuid

import numpy as np
import pytest

from bnpipe import registry, tracking
from bnpipe.comparison import SeedResult, best_result
from bnpipe.ops.interrupts import Terminated

pytestmark = pytest.mark.slow  # imports MLflow and creates a store (~10 s)


@pytest.fixture(scope="module")
def client(tmp_path_factory):
    uri = f"sqlite:///{tmp_path_factory.mktemp('tracking') / 'mlflow.db'}"
    return tracking.connect(uri)


@pytest.fixture
def experiment(client, tmp_path):
    return tracking.ensure_experiment(client, f"faults-{uuid.uuid4().hex[:8]}", tmp_path.as_uri())


def status(client, run_id: str) -> str:
    return client.get_run(run_id).info.status


def family(client, experiment_id: str, tags: dict | None = None, children: int = 2):
    parent = tracking.start_run(client, experiment_id, run_name="parent", tags=tags or {})
    kids = [
        tracking.start_run(client, experiment_id, run_name=f"child{i}", tags={}, parent_id=parent)
        for i in range(children)
    ]
    return parent, kids


# --------------------------------------------------------------------------- ending a failed flow


@pytest.mark.parametrize(
    ("exc", "expected"),
    [
        (RuntimeError("boom"), "FAILED"),
        (KeyboardInterrupt(), "KILLED"),  # Ctrl-C
        (Terminated("terminated by signal 15"), "KILLED"),  # SIGTERM via the CLI's handler
        (SystemExit(1), "KILLED"),
    ],
)
def test_ending_a_parent_on_an_error_ends_its_running_children_too(
    client, experiment, exc, expected
):
    parent, kids = family(client, experiment)
    other_parent, other_kids = family(client, experiment, children=1)  # a concurrent run's family
    client.set_terminated(kids[0], "FINISHED")  # a seed that was done before the fault

    tracking.ParentRun(client.tracking_uri, experiment, parent).end(exc)

    assert status(client, parent) == expected
    assert status(client, kids[0]) == "FINISHED"
    assert status(client, kids[1]) == ("FAILED" if expected == "FAILED" else "KILLED")
    assert client.get_run(parent).data.tags["error"].startswith(type(exc).__name__)
    assert status(client, other_parent) == status(client, other_kids[0]) == "RUNNING"


@pytest.mark.parametrize(
    ("fault", "expected"),
    [(OSError("disk full"), "FAILED"), (KeyboardInterrupt(), "KILLED")],
)
def test_a_fault_while_logging_a_seed_ends_its_child_run(
    client, experiment, monkeypatch, fault, expected
):
    from bnpipe import serving

    def log_model(*args, **kwargs):
        raise fault

    monkeypatch.setattr(serving, "log_model", log_model)
    parent, _ = family(client, experiment, children=0)
    with pytest.raises(type(fault)):
        tracking.log_child_run(
            client, experiment, parent, variant="bn", seed=0, params={"epochs": 2},
            history={"loss": [2.0, 1.0], "val_loss": [2.5, 1.5]}, metrics={"test_rmse": 3.0},
            model_path=None, preprocessor=None,
        )  # fmt: skip
    (child,) = client.search_runs([experiment], f"tags.`mlflow.parentRunId` = '{parent}'")
    assert child.info.status == expected
    assert child.data.metrics["test_rmse"] == 3.0  # what was logged before the fault stays


@pytest.mark.parametrize(
    ("history", "metrics"),
    [
        ({"loss": [1.0, math.nan], "val_loss": [1.0, math.nan]}, {"test_rmse": math.nan}),
        ({"loss": [1.0, math.inf], "val_loss": [1.0, 2.0]}, {"test_rmse": 3.0}),
        ({"loss": [1.0, 0.5], "val_loss": [1.0, 0.5]}, {"test_rmse": math.inf}),
    ],
    ids=["nan", "inf-loss", "inf-metric"],
)
def test_a_diverged_seed_ends_failed_without_a_model(
    client, experiment, monkeypatch, history, metrics
):
    from bnpipe import serving

    def log_model(*args, **kwargs):
        raise AssertionError("a diverged model must not be logged")

    monkeypatch.setattr(serving, "log_model", log_model)
    parent, _ = family(client, experiment, children=0)
    run_id, model_uri = tracking.log_child_run(
        client, experiment, parent, variant="plain", seed=1, params={}, history=history,
        metrics=metrics, model_path=None, preprocessor=None,
    )  # fmt: skip
    run = client.get_run(run_id)
    assert model_uri is None
    assert run.info.status == "FAILED" and run.data.tags["diverged"] == "true"
    logged = {
        k: v for k, v in run.data.metrics.items() if k not in history
    }  # curves keep their NaN
    assert logged == {k: v for k, v in metrics.items() if math.isfinite(v)}
    assert SeedResult("plain", 1, history, metrics, np.zeros(1), 0.0).diverged  # the same verdict


# --------------------------------------------------------------------------- stale runs


def test_only_runs_of_a_dead_process_on_this_host_are_stale(client, experiment):
    dead = _dead_pid()
    host = socket.gethostname()
    stale, stale_kids = family(client, experiment, {"bnpipe.host": host, "bnpipe.pid": dead})
    live, live_kids = family(client, experiment, {"bnpipe.host": host, "bnpipe.pid": os.getpid()})
    remote, _ = family(client, experiment, {"bnpipe.host": "another-host", "bnpipe.pid": dead})
    untagged, _ = family(client, experiment, children=0)

    closed = tracking.close_stale_runs(client, experiment)

    assert sorted(closed) == sorted([stale, *stale_kids])
    assert {status(client, r) for r in (stale, *stale_kids)} == {"KILLED"}
    for run in (live, *live_kids, remote, untagged):
        assert status(client, run) == "RUNNING"  # a concurrent run, another machine, unknown


def sweep_family(client, experiment_id: str, tags: dict) -> tuple[str, str, list[str]]:
    """A sweep run, one cell run under it and two seed runs under the cell, all RUNNING:
    what a sweep SIGKILLed while it logged a cell leaves behind."""
    top = tracking.start_run(client, experiment_id, run_name="sweep", tags=tags)
    cell = tracking.start_run(client, experiment_id, run_name="cell", tags={}, parent_id=top)
    seeds = [
        tracking.start_run(client, experiment_id, run_name=f"seed{i}", tags={}, parent_id=cell)
        for i in range(2)
    ]
    return top, cell, seeds


def test_a_killed_sweeps_seed_runs_two_levels_down_are_stale_too(client, experiment):
    host = socket.gethostname()
    top, cell, seeds = sweep_family(
        client, experiment, {"bnpipe.host": host, "bnpipe.pid": _dead_pid()}
    )
    live, live_cell, live_seeds = sweep_family(
        client, experiment, {"bnpipe.host": host, "bnpipe.pid": os.getpid()}
    )

    closed = tracking.close_stale_runs(client, experiment)

    assert sorted(closed) == sorted([top, cell, *seeds])
    assert {status(client, r) for r in (top, cell, *seeds)} == {"KILLED"}
    assert {status(client, r) for r in (live, live_cell, *live_seeds)} == {"RUNNING"}


def test_ending_a_failed_sweep_run_ends_its_cells_and_their_seed_runs(client, experiment):
    top, cell, seeds = sweep_family(client, experiment, {})
    tracking.ParentRun(client.tracking_uri, experiment, top).end(RuntimeError("boom"))
    assert {status(client, r) for r in (top, cell, *seeds)} == {"FAILED"}


def _dead_pid() -> int:
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


# --------------------------------------------------------------------------- the champion


class AliasFails:
    """A client whose alias move fails (the store went away at the last step)."""

    def __init__(self, client):
        self._client = client

    def __getattr__(self, name):
        return getattr(self._client, name)

    def set_registered_model_alias(self, *args, **kwargs):
        raise ConnectionError("tracking server went away")


def _model_with_a_champion(client, tmp_path) -> tuple[str, str]:
    """A registered model of its own whose v1 is @champion: (name, version)."""
    name = f"bnpipe-faults-{uuid.uuid4().hex[:8]}"
    client.create_registered_model(name)
    (tmp_path / "model").mkdir()
    first = client.create_model_version(name, source=str(tmp_path / "model"), run_id=None).version
    client.set_registered_model_alias(name, registry.CHAMPION, first)
    return name, str(first)


def _only_the_champion_is_left(client, name: str, first: str) -> None:
    versions = [v.version for v in client.search_model_versions(f"name='{name}'")]
    assert [str(v) for v in versions] == [first]
    assert str(client.get_model_version_by_alias(name, registry.CHAMPION).version) == first


def test_a_failed_promotion_deletes_the_new_version_and_keeps_the_champion(client, tmp_path):
    name, first = _model_with_a_champion(client, tmp_path)
    decision = registry.Decision(
        model_name=name, promoted=True, reason="better", metric="test_rmse",
        challenger_run_id="r", challenger_variant="bn", challenger_score=1.0,
        previous_champion=first,
    )  # fmt: skip

    with pytest.raises(ConnectionError):
        registry.register(AliasFails(client), decision, str(tmp_path / "model"), tags={})

    _only_the_champion_is_left(client, name, first)


def test_a_champion_that_moved_since_the_comparison_is_not_replaced(client, tmp_path):
    """Check and set: a run compared against no champion (or another one) while a
    run elsewhere promoted v1; it registers nothing and leaves @champion on v1."""
    name, first = _model_with_a_champion(client, tmp_path)
    decision = registry.Decision(
        model_name=name, promoted=True, reason="first version: no champion yet",
        metric="test_rmse", challenger_run_id="r", challenger_variant="bn",
        challenger_score=1.0, previous_champion=None,
    )  # fmt: skip

    with pytest.raises(registry.ChampionMoved, match=rf"{name}: @champion moved to v{first}"):
        registry.register(client, decision, str(tmp_path / "model"), tags={})

    _only_the_champion_is_left(client, name, first)


def test_a_nan_challenger_is_never_promoted():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    promote, reason, score, _, _ = registry.decide(
        task="regression", metric="test_rmse", y_true=y,
        challenger_pred=np.array([1.0, np.nan, 3.0, 4.0]), champion_pred=None,
    )  # fmt: skip
    assert promote is False and math.isnan(score)
    assert reason == "challenger's test_rmse is not finite"


def test_the_best_seed_is_never_a_diverged_one():
    ok = SeedResult("bn", 0, {"loss": [1.0]}, {"test_rmse": 4.0}, np.zeros(1), 0.0)
    nan = SeedResult("bn", 1, {"loss": [math.nan]}, {"test_rmse": math.nan}, np.zeros(1), 0.0)
    tiny = SeedResult("bn", 2, {"loss": [math.inf]}, {"test_rmse": 0.1}, np.zeros(1), 0.0)
    assert best_result([nan, tiny, ok], "test_rmse", higher_is_better=False) is ok
    assert best_result([nan, tiny], "test_rmse", higher_is_better=False) is None


# --------------------------------------------------------------------------- the store, up front


@pytest.fixture
def immutable(tmp_path):
    """``chattr +i`` on a path (read-only even for root), undone at teardown."""
    import shutil
    import subprocess

    if shutil.which("chattr") is None:
        pytest.fail("chattr (e2fsprogs) is needed to make a store read-only for root")
    made = []

    def make(path):
        subprocess.run(["chattr", "+i", str(path)], check=True)
        made.append(path)

    yield make
    for path in made:
        subprocess.run(["chattr", "-i", str(path)], check=False)


def test_a_read_only_store_fails_up_front_in_one_line_naming_it(tmp_path, immutable):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    client = tracking.connect(uri)
    tracking.check_writable(client, uri, None)  # writable: no error
    immutable(tmp_path / "mlflow.db")
    client = tracking.connect(uri)  # reading still works
    with pytest.raises(tracking.TrackingError) as err:
        tracking.check_writable(client, uri, None)
    # the cause as SQLite words it (a connection opened before the change sees an I/O error)
    assert re.fullmatch(
        rf"MLflow tracking store {re.escape(uri)} cannot be written: "
        r"(attempt to write a readonly database|disk I/O error)",
        str(err.value),
    ), str(err.value)


def test_an_artifact_folder_that_takes_no_files_fails_up_front(client, tmp_path, immutable):
    folder = tmp_path / "mlartifacts"
    folder.mkdir()
    immutable(folder)
    with pytest.raises(tracking.TrackingError, match=r"MLflow artifact store .*mlartifacts"):
        tracking.check_writable(client, "sqlite:///x.db", folder.as_uri())
    assert not any(folder.iterdir())

"""The bn-comparison flow in one Prefect test harness, against a throwaway MLflow store."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from mlflow import MlflowClient

from bnpipe.params import RunConfig
from tests.contract import (
    assert_comparison,
    assert_dataset_input,
    assert_model_predicts_raw_rows,
    flow_run_artifacts,
)

pytestmark = pytest.mark.slow


def test_flow_logs_the_contract_and_registers_a_champion(env):
    from bnpipe.flows.bn_comparison import bn_comparison

    state = bn_comparison(
        datasets=["iris"],
        config=RunConfig(epochs=4, seeds=2, learning_rate=0.003),
        return_state=True,
    )
    result = state.result()

    client = MlflowClient(env["uri"])
    parent, children = assert_comparison(client, "iris", "classification", epochs=4, seeds=2)
    assert {c.data.params["learning_rate"] for c in children} == {"0.003"}  # as given
    assert parent.data.params["learning_rate"] == "0.003"
    assert result["iris"].run_id == parent.info.run_id
    raw = pd.read_csv(env["mirror"] / "iris.csv")
    assert_model_predicts_raw_rows(env["uri"], children[0], raw, "classification", "품종")
    champion = client.get_model_version_by_alias("bnpipe-iris", "champion")
    assert str(champion.version) == "1"
    artifacts = {a.path for a in client.list_artifacts(parent.info.run_id)}
    assert {
        "validation.json",
        "promotion.json",
        "comparison.html",
        "learning_curves.png",
    } <= artifacts
    # On the flow run itself (not a task run): the comparison's table and its link.
    shown = flow_run_artifacts(state.state_details.flow_run_id)
    table, link = shown["bn-comparison-iris"], shown["mlflow-run-iris"]
    assert table.type == "markdown" and "iris: plain vs BatchNorm" in table.data
    assert table.task_run_id is None and link.task_run_id is None
    assert link.type == "markdown" and f"/runs/{parent.info.run_id}" in link.data
    # The dataset's chain is a subflow run of its own; evaluate is a step of its graph.
    names = chain_task_runs(state.state_details.flow_run_id, "compare-iris")
    assert sorted(names[6:8]) == ["train-iris/bn", "train-iris/plain"]  # at once, on Dask
    assert names[:6] + names[8:] == [
        "download", "find-unchanged", "open-parent-run", "validate", "drift", "encode",
        "evaluate-iris", "log-seed-runs", "summarize", "references", "leak-check", "register",
        "report", "keep-as-last-good",
    ]  # fmt: skip
    assert parent.data.tags["prefect_flow_run_id"] == str(state.state_details.flow_run_id)


def chain_task_runs(flow_run_id, name: str) -> list[str]:
    """The task runs of the subflow run ``name`` under ``flow_run_id``, by start."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import FlowRunFilter, FlowRunFilterName, TaskRunFilter
    from prefect.client.schemas.sorting import TaskRunSort

    with get_client(sync_client=True) as client:
        [sub] = [
            r
            for r in client.read_flow_runs(
                flow_run_filter=FlowRunFilter(name=FlowRunFilterName(any_=[name]))
            )
            if client.read_task_run(r.parent_task_run_id).flow_run_id == flow_run_id
        ]
        runs = client.read_task_runs(
            task_run_filter=TaskRunFilter(flow_run_id={"any_": [sub.id]}),
            sort=TaskRunSort.EXPECTED_START_TIME_ASC,
        )
    # "download-b90": a task's default run name ends with three hex digits
    return [re.sub(r"-[0-9a-f]{3}$", "", r.name) for r in runs]


def test_flow_stops_before_training_on_bad_data(env, tmp_path, monkeypatch):
    """A CSV that breaks the suite fails the flow with a message naming the column;
    the parent run ends FAILED with the validation report, no child runs, no model."""
    from bnpipe.flows.bn_comparison import bn_comparison

    bad = pd.read_csv(env["mirror"] / "boston.csv")
    bad.loc[[3, 7], "medv"] = -5.0
    bad.to_csv(tmp_path / "boston.csv", index=False)
    monkeypatch.setenv("BNPIPE_DATA_MIRROR", str(tmp_path))

    with pytest.raises(Exception, match="medv") as err:
        bn_comparison(datasets=["boston"], config=RunConfig(epochs=2, seeds=1))
    assert "boston" in str(err.value)

    client = MlflowClient(env["uri"])
    exp = client.get_experiment_by_name("bn-comparison-boston")
    runs = client.search_runs([exp.experiment_id])
    assert [r.info.status for r in runs] == ["FAILED"]
    assert runs[0].data.tags["validation"] == "failed"
    # the refused data is still named on the run: which bytes were refused
    assert_dataset_input(runs[0], "boston", runs[0].data.tags["data_sha256"])
    assert "validation.json" in {a.path for a in client.list_artifacts(runs[0].info.run_id)}
    assert client.search_model_versions("name='bnpipe-boston'") == []


def test_a_deployment_run_does_not_fall_back_when_upstream_is_unreachable(
    env, tmp_path, monkeypatch
):
    """Deployments run the flow with its defaults: an upstream that cannot be
    reached fails the run, even though a bundled copy exists (unlike `bnpipe run`)."""
    import socket

    import yaml

    from bnpipe.flows.bn_comparison import bn_comparison
    from tests.conftest import REPO

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    catalog = yaml.safe_load((REPO / "datasets.yaml").read_text("utf-8"))
    catalog["datasets"]["iris"]["url"] = f"http://127.0.0.1:{closed}/iris.csv"
    (tmp_path / "datasets.yaml").write_text(yaml.safe_dump(catalog, allow_unicode=True), "utf-8")
    monkeypatch.setenv("BNPIPE_CATALOG", str(tmp_path / "datasets.yaml"))
    monkeypatch.setenv("BNPIPE_STATE_DIR", str(tmp_path / "state"))  # an empty cache
    monkeypatch.setenv("BNPIPE_DOWNLOAD_RETRY_DELAY", "0")
    monkeypatch.delenv("BNPIPE_DATA_MIRROR")
    deployments = yaml.safe_load((REPO / "prefect.yaml").read_text("utf-8"))["deployments"]
    assert all("fallback" not in d.get("parameters", {}) for d in deployments)

    with pytest.raises(Exception, match="iris: download failed after 2 attempts: .*refused"):
        bn_comparison(datasets=["iris"], config=RunConfig(epochs=2, seeds=1))

    client = MlflowClient(env["uri"])
    exp = client.get_experiment_by_name("bn-comparison-iris")
    failed = client.search_runs([exp.experiment_id], "attributes.status = 'FAILED'")
    assert len(failed) == 1 and "data_source" not in failed[0].data.tags
    assert not (tmp_path / "state" / "cache" / "iris").exists()  # the bundled copy was not used


def test_promotions_of_one_dataset_from_two_hosts_take_turns(env, tmp_path):
    """Two hosts (two state folders, so two file locks that know nothing of each
    other) promote the same dataset at once: the Prefect global concurrency limit
    ``bnpipe-registry-<dataset>`` lets one in at a time. (The harness's Prefect API
    stands for the one both hosts share.)"""
    import threading
    import time
    from dataclasses import replace

    from prefect.client.orchestration import get_client

    from bnpipe.settings import load_settings
    from bnpipe.tasks.registry import promotion_lock

    inside: list[int] = []
    overlaps: list[int] = []
    entered: list[int] = []

    def host(i: int) -> None:
        settings = replace(load_settings(), state_dir=tmp_path / f"host-{i}")
        with promotion_lock("turns", settings):
            if inside:
                overlaps.append(i)
            inside.append(i)
            entered.append(i)
            time.sleep(1.5)
            inside.remove(i)

    threads = [threading.Thread(target=host, args=(i,)) for i in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert sorted(entered) == [0, 1, 2] and not overlaps, (entered, overlaps)
    with get_client(sync_client=True) as client:
        limit = client.read_global_concurrency_limit_by_name("bnpipe-registry-turns")
    assert limit.limit == 1 and limit.active_slots == 0

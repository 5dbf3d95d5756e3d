"""The gate in the flow: data that passes the schema but is wrong is refused before
training, data that changed is trained and held, and the champion stays.

One store with real champions (boston and iris, trained on the real data), then
each hostile snapshot, served as a mirror folder, at the flow level with few epochs.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from mlflow import MlflowClient
from mlflow.entities import ViewType

from bnpipe.params import RunConfig

pytestmark = pytest.mark.slow

FEW = {"config": RunConfig(epochs=20, seeds=2)}


def parents(client: MlflowClient, dataset: str) -> list:
    exp = client.get_experiment_by_name(f"bn-comparison-{dataset}")
    runs = client.search_runs(
        [exp.experiment_id], run_view_type=ViewType.ALL, order_by=["attributes.start_time DESC"]
    )
    return [r for r in runs if "mlflow.parentRunId" not in r.data.tags], runs


def champion(client: MlflowClient, dataset: str) -> str:
    return str(client.get_model_version_by_alias(f"bnpipe-{dataset}", "champion").version)


def latest_sha(state: Path, dataset: str) -> str:
    return json.loads((state / "cache" / dataset / "latest.json").read_text())["sha256"]


def bnpipe_events(name: str) -> list:
    """Events named ``name`` that the harness's Prefect server received."""
    from prefect.client.orchestration import get_client
    from prefect.events.filters import EventFilter, EventNameFilter
    from prefect.events.worker import EventsWorker

    EventsWorker.drain_all(timeout=10)
    deadline = time.monotonic() + 15
    while True:
        with get_client(sync_client=True) as client:
            page = client.read_events(EventFilter(event=EventNameFilter(name=[name])), limit=50)
        if page.events or time.monotonic() > deadline:
            return page.events
        time.sleep(0.5)


@pytest.fixture(scope="module")
def store(env, tmp_path_factory, data_mirror):
    """Champions for boston and iris from good runs on the real data, in a store of
    this module's own; yields the environment to run further flows against it."""
    from bnpipe.flows.bn_comparison import bn_comparison

    tmp = tmp_path_factory.mktemp("gate")
    mp = pytest.MonkeyPatch()
    mp.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp / 'mlflow.db'}")
    mp.setenv("BNPIPE_STATE_DIR", str(tmp / "state"))
    mp.setenv("BNPIPE_DATA_MIRROR", str(data_mirror))
    bn_comparison(datasets=["boston", "iris"], **FEW)
    client = MlflowClient(f"sqlite:///{tmp / 'mlflow.db'}")
    yield {
        "client": client,
        "state": tmp / "state",
        "tmp": tmp,
        "good": {d: pd.read_csv(data_mirror / f"{d}.csv") for d in ("boston", "iris")},
        "champions": {d: champion(client, d) for d in ("boston", "iris")},
        "good_sha": {d: latest_sha(tmp / "state", d) for d in ("boston", "iris")},
    }
    mp.undo()


def serve(store, monkeypatch, name: str, dataset: str, frame: pd.DataFrame) -> None:
    folder = store["tmp"] / name
    folder.mkdir(exist_ok=True)
    frame.to_csv(folder / f"{dataset}.csv", index=False)
    monkeypatch.setenv("BNPIPE_DATA_MIRROR", str(folder))


def assert_nothing_lost(store, dataset: str) -> None:
    client = store["client"]
    assert champion(client, dataset) == store["champions"][dataset]
    assert latest_sha(store["state"], dataset) == store["good_sha"][dataset]
    _, runs = parents(client, dataset)
    assert [r.info.run_name for r in runs if r.info.status == "RUNNING"] == []


# --------------------------------------------------------------------------- refused


def one_row_repeated(df):
    return pd.concat([df.iloc[[0]]] * len(df), ignore_index=True)


def with_value(column, value):
    def change(df):
        df = df.copy()
        df[column] = df[column].astype(float)
        df.loc[7, column] = value
        return df

    return change


def only_class(df):
    return df[df["품종"] == df["품종"].iloc[0]].reset_index(drop=True)


def without_class(df):
    return df[df["품종"] != df["품종"].iloc[-1]].reset_index(drop=True)


def constant(column, value):
    def change(df):
        return df.assign(**{column: value})

    return change


REFUSED = [
    ("identical-rows", "boston", one_row_repeated, "table", "expect_compound_columns_to_be_unique"),
    ("inf", "boston", with_value("crim", np.inf), "column 'crim'", "be_finite"),
    ("overflow", "boston", with_value("crim", 1e308), "column 'crim'", "be_finite"),
    ("one-class", "iris", only_class, "column '품종'", "value_counts_to_be_at_least"),
    ("missing-class", "iris", without_class, "column '품종'", "value_counts_to_be_at_least"),
    ("constant", "boston", constant("zn", 0.0), "column 'zn'", "unique_value_count"),
    # in range for the suite: only the target rule stops it
    ("constant-target", "boston", constant("medv", 22.0), "column 'medv'", "bnpipe_target_varies"),
]


@pytest.mark.parametrize(("case", "dataset", "change", "where", "rule"), REFUSED)
def test_data_that_passes_the_schema_but_is_wrong_is_refused_before_training(
    store, monkeypatch, case, dataset, change, where, rule
):
    from bnpipe.flows.bn_comparison import bn_comparison

    serve(store, monkeypatch, case, dataset, change(store["good"][dataset]))
    with pytest.raises(Exception, match=f"{dataset}: validation failed") as err:
        bn_comparison(datasets=[dataset], **FEW)
    failures = err.value.report.failures
    assert any(f"{where}: " in f.line() and rule in f.rule for f in failures), "\n".join(
        f.line() for f in failures
    )
    newest, runs = parents(store["client"], dataset)
    parent = newest[0]
    assert parent.info.status == "FAILED" and parent.data.tags["validation"] == "failed"
    assert not [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert_nothing_lost(store, dataset)


def test_a_refusal_emits_an_event_naming_the_dataset(store):
    # the refusals above ran in this session's harness
    events = bnpipe_events("bnpipe.data.refused")
    datasets = {e.resource.id for e in events}
    assert {"bnpipe.dataset.boston", "bnpipe.dataset.iris"} <= datasets
    assert all("validation failed" in e.payload["reason"] for e in events)


# --------------------------------------------------------------------------- drift and held


def test_a_rerun_of_the_same_data_shows_zero_drift(store, tmp_path):
    from bnpipe.flows.bn_comparison import bn_comparison

    out = bn_comparison(datasets=["iris"], **FEW, force=True)  # the same data again, on purpose
    assert out["iris"].drift == "ok" and out["iris"].outcome != "held"
    client = store["client"]
    parent = parents(client, "iris")[0][0]
    drift = json.loads(
        Path(client.download_artifacts(parent.info.run_id, "drift.json", str(tmp_path))).read_text()
    )
    assert drift["level"] == "ok"
    assert all(c["psi"] < 1e-9 for c in drift["columns"])
    assert all((c["relation_change"] or 0.0) < 1e-9 for c in drift["columns"])
    assert parent.data.metrics["drift_psi_max"] < 1e-9
    html = Path(client.download_artifacts(parent.info.run_id, "comparison.html", str(tmp_path)))
    assert "<h2>Drift against the champion" in html.read_text("utf-8")
    store["champions"]["iris"] = champion(client, "iris")  # a rerun may promote
    store["good_sha"]["iris"] = latest_sha(store["state"], "iris")


def test_a_changed_relation_to_the_target_holds_the_champion(store, monkeypatch, tmp_path):
    """Every column plausible on its own (the same values), the target shuffled across
    rows: trained, registered, not promoted, and the run says why."""
    from bnpipe.flows.bn_comparison import bn_comparison

    good = store["good"]["boston"]
    shuffled = good.assign(medv=good["medv"].sample(frac=1.0, random_state=3).to_numpy())
    serve(store, monkeypatch, "shuffled", "boston", shuffled)
    state = bn_comparison(datasets=["boston"], **FEW, return_state=True)
    assert state.is_completed() and state.name == "Held", state
    assert "boston: promotion held: drift above the block level" in state.message
    out = state.result()
    assert out["boston"].outcome == "held"

    client = store["client"]
    parent = parents(client, "boston")[0][0]
    assert parent.info.status == "FINISHED"
    assert parent.data.tags["promotion"].startswith("held: drift above the block level: column ")
    assert "relation to the target changed" in parent.data.tags["promotion"]
    assert parent.data.tags["drift"] == "block"
    version = parent.data.tags["registered_version"]
    tags = client.get_model_version("bnpipe-boston", version).tags
    assert tags["outcome"] == "held" and tags["promoted"] == "false"
    report = Path(client.download_artifacts(parent.info.run_id, "comparison.md", str(tmp_path)))
    assert "held: drift above the block level" in report.read_text()
    assert_nothing_lost(store, "boston")  # champion, last good copy, no RUNNING run
    held = bnpipe_events("bnpipe.promotion.held")
    assert any(e.resource.id == "bnpipe.dataset.boston" for e in held)

    # a person looks, and promotes it by hand: recorded on the version
    from bnpipe import registry

    record = registry.promote_by_hand(
        client, "bnpipe-boston", version, reason="checked: new survey", who="tester"
    )
    assert champion(client, "boston") == version
    tags = client.get_model_version("bnpipe-boston", version).tags
    assert tags["promoted_by"] == "tester" and tags["promotion_reason"] == "checked: new survey"
    assert tags["previous_champion"] == store["champions"]["boston"] == record["previous_champion"]
    assert tags["score_at_promotion"] == tags["score"]


def test_every_seed_diverging_fails_the_flow_and_keeps_the_champion(store, monkeypatch):
    from bnpipe.comparison import NoFiniteModelError
    from bnpipe.flows.bn_comparison import bn_comparison

    serve(store, monkeypatch, "diverge", "iris", store["good"]["iris"])
    with pytest.raises(NoFiniteModelError, match="iris: every seed diverged"):
        bn_comparison(datasets=["iris"], config=RunConfig(epochs=3, seeds=2, learning_rate=1e9))
    parent = parents(store["client"], "iris")[0][0]
    assert parent.info.status == "FAILED"
    assert parent.data.tags["promotion"] == "skipped: no finite model"
    assert_nothing_lost(store, "iris")

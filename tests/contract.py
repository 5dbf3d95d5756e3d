"""Checks of an MLflow store against the interface contract (docs/results.md).

Shared by the flow test and the end-to-end test, so both hold the store to
the same names.
"""

from __future__ import annotations

import math

import pandas as pd

CHILD_PARAMS = {
    "variant",
    "seed",
    "epochs",
    "batch_size",
    "optimizer",
    "learning_rate",
    "input_scaling",
    "target_scaling",
}
TEST_METRICS = {
    "regression": {"test_rmse", "test_mae", "test_r2"},
    "classification": {"test_accuracy", "test_log_loss", "test_macro_f1"},
}
VAL_METRICS = {  # the same on the validation rows: what the leader and its seed are chosen by
    task: {"val_" + m.removeprefix("test_") for m in names} for task, names in TEST_METRICS.items()
}
PARENT_TAGS = {
    "dataset",
    "data_sha256",
    "data_source",
    "source_url",
    "git_commit",
    "prefect_flow_run_id",
    "winner",
}


def parent_runs(client, dataset: str):
    exp = client.get_experiment_by_name(f"bn-comparison-{dataset}")
    assert exp is not None, f"experiment bn-comparison-{dataset} missing"
    runs = client.search_runs([exp.experiment_id], max_results=500)
    parents = [r for r in runs if "mlflow.parentRunId" not in r.data.tags]
    return exp, runs, parents


def assert_comparison(
    client, dataset: str, task: str, *, epochs: int, seeds: int, sha256: str | None = None
):
    """The newest parent run of ``dataset`` and its children satisfy the contract.

    Returns (parent run, child runs)."""
    exp, runs, parents = parent_runs(client, dataset)
    parent = max(parents, key=lambda r: r.info.start_time)
    assert parent.info.status == "FINISHED", parent.info.status
    tags = parent.data.tags
    assert set(tags) >= PARENT_TAGS, PARENT_TAGS - set(tags)
    assert tags["dataset"] == dataset
    assert tags["winner"] in {"bn", "plain", "tie"}
    assert tags["data_source"] in {"upstream", "mirror", "cache", "bundled"}
    if sha256:
        assert tags["data_sha256"] == sha256
    assert len(tags["data_sha256"]) == 64
    for variant in ("plain", "bn"):
        for metric in TEST_METRICS[task]:
            for stat in ("mean", "std"):
                assert f"{variant}_{metric}_{stat}" in parent.data.metrics
    for metric in TEST_METRICS[task]:
        lo = parent.data.metrics[f"bn_minus_plain_{metric}_ci_low"]
        hi = parent.data.metrics[f"bn_minus_plain_{metric}_ci_high"]
        mean = parent.data.metrics[f"bn_minus_plain_{metric}_mean"]
        assert lo <= mean <= hi, (metric, lo, mean, hi)
    # what the MLflow UI shows: the data as a dataset input, the comparison as the description
    assert exp.tags.get("mlflow.experimentKind") == "custom_model_development"
    assert_dataset_input(parent, dataset, tags["data_sha256"])
    description = tags["mlflow.note.content"]
    # the answer first: what the MLflow UI shows before "Show more"
    assert description.startswith(
        f"## {dataset}: plain vs BatchNorm\n\n**Winner on {tags['primary_metric']}: {tags['winner']}**"
    ), description[:300]
    assert "bn − plain" in description and "| plain |" in description and "| bn |" in description

    children = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent.info.run_id]
    assert len(children) == 2 * seeds, [c.info.run_name for c in children]
    seen = set()
    for child in children:
        assert child.info.status == "FINISHED", (child.info.run_name, child.info.status)
        p = child.data.params
        assert set(p) >= CHILD_PARAMS, CHILD_PARAMS - set(p)
        assert p["epochs"] == str(epochs)
        assert child.info.run_name == f"{p['variant']}-seed{p['seed']}"
        seen.add((p["variant"], int(p["seed"])))
        assert TEST_METRICS[task] <= set(child.data.metrics)
        assert VAL_METRICS[task] <= set(child.data.metrics), set(child.data.metrics)
        assert_dataset_input(child, dataset, tags["data_sha256"], splits=True)
        note = child.data.tags["mlflow.note.content"]
        assert note.startswith(f"**{p['variant']}**, seed {p['seed']} on {dataset}"), note
        for metric in TEST_METRICS[task]:
            value = child.data.metrics[metric]
            assert f"| {metric.removeprefix('test_')} | {value:.4g} |" in note, (metric, note)
        # as given or as Keras writes the default: never float32 noise (0.0010000000474974513)
        lr = p["learning_rate"]
        assert lr == f"{float(lr):.7g}" and float(lr) > 0, lr
        for key in ("loss", "val_loss"):
            history = client.get_metric_history(child.info.run_id, key)
            assert sorted(m.step for m in history) == list(range(epochs)), key
            assert all(math.isfinite(m.value) for m in history)
    assert seen == {(v, s) for v in ("plain", "bn") for s in range(seeds)}
    return parent, children


def assert_dataset_input(run, dataset: str, sha256: str, *, splits: bool = False) -> None:
    """The run has the snapshot as its MLflow dataset input (context ``training``):
    name, digest, source; with ``splits`` (a seed run) also its validation and test
    rows, ``<dataset>-validation`` and ``<dataset>-test``, which its logged model's
    metrics name; without, nothing else."""
    by_context: dict[str, list] = {}
    for e in run.inputs.dataset_inputs:
        [context] = [t.value for t in e.tags if t.key == "mlflow.data.context"]
        by_context.setdefault(context, []).append(e)
    [entry] = by_context.pop("training")
    parts = {c: [e.dataset.name for e in es] for c, es in by_context.items()}
    expected = {"validation": [f"{dataset}-validation"], "test": [f"{dataset}-test"]}
    assert parts == (expected if splits else {}), parts
    assert entry.dataset.name == dataset
    assert entry.dataset.digest == sha256[:12]
    assert entry.dataset.source_type in {"http", "local", "code"}, entry.dataset.source_type
    assert "?" not in entry.dataset.source and "@" not in entry.dataset.source  # redacted
    assert entry.dataset.schema  # the columns, inferred from the frame


def assert_model_predicts_raw_rows(
    tracking_uri: str, child_run, raw: pd.DataFrame, task: str, target: str
):
    """The child's logged model takes raw CSV rows (target column dropped) and predicts."""
    import mlflow

    mlflow.set_tracking_uri(tracking_uri)
    model = mlflow.pyfunc.load_model(f"runs:/{child_run.info.run_id}/{child_run.info.run_name}")
    features = raw.drop(columns=[target])
    out = model.predict(features)
    assert len(out) == len(raw)
    if task == "classification":
        assert "label" in out.columns
        assert set(out["label"]) <= set(raw[target].astype(str))
        proba = out[[c for c in out.columns if c.startswith("proba_")]].to_numpy()
        assert proba.shape[1] == raw[target].nunique()
        assert abs(proba.sum(axis=1) - 1).max() < 1e-4
    else:
        assert list(out.columns) == ["prediction"]
        assert out["prediction"].notna().all()
    return out


def flow_run_artifacts(flow_run_id) -> dict:
    """The artifacts of a Prefect flow run, by key (from the API the flow ran against)."""
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    with get_client(sync_client=True) as client:
        found = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    return {a.key: a for a in found}

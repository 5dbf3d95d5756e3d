"""tasks.training on a tiny dataset: encode (rows left out tagged on the parent
run), one job on the Dask cluster, and every variant through the flow's tasks."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from prefect.logging import disable_run_logger

from bnpipe import jobs
from bnpipe.models import VARIANTS
from bnpipe.params import RunConfig
from bnpipe.tasks import training

pytestmark = pytest.mark.slow  # trains Keras nets on a Dask worker

CONFIG = RunConfig(epochs=2, seeds=2, input_scaling="standard")


def test_encode_dataset_splits_and_tags_the_rows_it_left_out(tiny, parent):
    spec, frame = tiny
    with disable_run_logger():
        data = training.encode_dataset.fn(frame, spec, CONFIG, parent)
    assert data.dropped == {"blank_target": 1, "blank_features": 0}
    assert len(data.x_train) + len(data.x_val) + len(data.x_test) == len(frame) - 1
    assert data.pre.scaling == "standard"
    tags = parent.client.get_run(parent.run_id).data.tags
    assert (tags["dropped_rows_blank_target"], tags["dropped_rows_blank_features"]) == ("1", "0")


def test_train_variant_runs_one_job_on_a_worker(tiny, dask):
    spec, frame = tiny
    with disable_run_logger():
        data = training.encode_dataset.fn(frame, spec, CONFIG)
        out = training.train_variant.fn(dask, jobs.make_job(spec, data, CONFIG, "bn"))
    assert out.name == "tiny/bn" and out.worker.startswith("tls://127.0.0.1:")
    assert [s.seed for s in out.seeds] == [0, 1]
    assert all(len(s.history["loss"]) == 2 for s in out.seeds)
    assert all(s.test_output.shape == (len(data.x_test), 1) for s in out.seeds)


def test_train_then_evaluate_every_variant_of_two_comparisons_at_once_in_a_flow(
    tiny, dask, prefect_api, tmp_path
):
    """Two comparisons of one dataset (a sweep's cells) train on the cluster at once;
    evaluate scores each seed on its validation and test rows in the target's units."""
    import dataclasses

    from prefect import flow

    from bnpipe import stages
    from bnpipe.settings import load_settings
    from tests import comparisons

    spec, frame = tiny
    with disable_run_logger():
        data = training.encode_dataset.fn(frame, spec, CONFIG)

    def prepared(label: str) -> stages.Prepared:
        named = dataclasses.replace(spec, name=label)
        judged = comparisons.judged(None, named, data, [], None, load_settings())
        return dataclasses.replace(
            judged.prepared, request=dataclasses.replace(judged.prepared.request, config=CONFIG)
        )

    @flow(name="train-evaluate-test")
    def train_two():
        futures = [
            training.evaluate.submit(training.train(prepared(label), dask, str(tmp_path)))
            for label in ("one", "two")
        ]
        return [f.result() for f in futures]

    evaluated = train_two()
    assert [e.prepared.spec.name for e in evaluated] == ["one", "two"]
    for e in evaluated:
        assert math.isclose(e.learning_rate, 0.001)  # RMSprop's Keras default
        assert e.trained[0] < e.trained[1]  # when its jobs were submitted, and ended
        results = e.results
        assert [(r.variant, r.seed) for r in results] == [(v, s) for v in VARIANTS for s in (0, 1)]
        assert all(Path(r.model_path).is_file() and r.worker for r in results)
        assert all(set(r.metrics) == {"test_rmse", "test_mae", "test_r2"} for r in results)
        assert all(set(r.val_metrics) >= {"val_rmse"} for r in results)
        assert all(len(r.predictions) == len(data.x_test) for r in results)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{unit}-{v}-seed{s}.keras" for unit in ("one", "two") for v in VARIANTS for s in (0, 1)
    )

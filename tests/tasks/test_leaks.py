"""tasks.leaks.check_leaks on encoded rows and their fitted references: the
parent run's tag, and the reasons that hold a promotion."""

from __future__ import annotations

from prefect.logging import disable_run_logger

from bnpipe import features, references
from bnpipe.catalog import parse_entry
from tests.comparisons import iris
from tests.unit.test_leaks import NUMERIC, sums


def _refs(data, spec):
    return references.fit_references(
        spec.task, data.x_train, data.y_train_true, data.x_test, data.y_test_true,
        classes=data.pre.classes,
    )  # fmt: skip


def test_features_that_sum_to_the_target_are_reasons_and_a_tag(parent):
    from bnpipe.tasks.leaks import check_leaks

    entry = {"url": "https://example.com/fees.csv", "task": "regression", "target": "total"}
    spec = parse_entry("fees", entry | {"features": [*NUMERIC, "city"], "categorical": ["city"]})
    data = features.encode(sums(), spec, split_seed=0, scaling="standard")
    with disable_run_logger():  # again: the first MLflow import in a session configures logging
        [reason] = check_leaks.fn(parent, spec, data, _refs(data, spec))
    assert reason.startswith("possible target leak: ") and "least squares R² 1.0000" in reason
    assert {"base_fee", "extras"} == set(reason.split(" (")[0].split(": ")[1].split(", "))
    assert parent.client.get_run(parent.run_id).data.tags["leak_check"] == reason


def test_iris_has_none(parent, data_mirror):
    from bnpipe.tasks.leaks import check_leaks

    spec, _, data = iris(data_mirror)
    assert check_leaks.fn(parent, spec, data, _refs(data, spec)) == []
    assert parent.client.get_run(parent.run_id).data.tags["leak_check"] == "none"

"""tracking.writes._write: a write that SQLite refused with "database is locked" is tried again."""

from __future__ import annotations

import json

import pytest

from bnpipe import tracking
from bnpipe.tracking import writes


class Flaky:
    def __init__(
        self, failures: int, message: str = "(sqlite3.OperationalError) database is locked"
    ):
        self.failures, self.message, self.calls = failures, message, 0

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.calls <= self.failures:
            raise RuntimeError(self.message)
        return (args, kwargs)


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch):
    monkeypatch.setattr(writes.time, "sleep", lambda s: None)


def test_a_locked_database_is_retried_until_the_write_goes_through():
    call = Flaky(failures=3)
    assert writes._write(call, "run", status="KILLED") == (("run",), {"status": "KILLED"})
    assert call.calls == 4


def test_a_lock_that_does_not_clear_fails_after_the_retries():
    call = Flaky(failures=99)
    with pytest.raises(RuntimeError, match="database is locked"):
        writes._write(call)
    assert call.calls == tracking.LOCKED_RETRIES + 1


def test_other_errors_are_not_retried():
    call = Flaky(failures=1, message="attempt to write a readonly database")
    with pytest.raises(RuntimeError, match="readonly"):
        writes._write(call)
    assert call.calls == 1


def test_a_dataset_input_names_the_data_by_digest_and_redacted_source():
    import numpy as np
    import pandas as pd

    n = tracking.SCHEMA_SAMPLE_ROWS * 3
    frame = pd.DataFrame({"x": np.arange(n, dtype=float), "label": ["a", "b", "c"] * (n // 3)})
    entity = tracking.dataset_entity(
        "flats", frame, sha256="c71eef0adf63" + "0" * 52,
        url="https://user:secret@data.example.org/flats.csv?token=abc", target="label",
    )  # fmt: skip
    assert (entity.name, entity.digest, entity.source_type) == ("flats", "c71eef0adf63", "http")
    assert json.loads(entity.source) == {"url": "https://data.example.org/flats.csv"}
    assert json.loads(entity.profile) == {"num_rows": n, "num_elements": 2 * n}  # every row
    columns = json.loads(entity.schema)["mlflow_colspec"]
    assert [(c["name"], c["type"]) for c in columns] == [("x", "double"), ("label", "string")]
    local = tracking.dataset_entity(
        "iris", frame.head(5), sha256="f" * 64, url="file:///d/iris.csv"
    )
    assert local.source_type == "local" and local.digest == "f" * 12
    # MLflow has no resolver for the copy bnpipe ships: a code source naming it
    bundled = tracking.dataset_entity(
        "iris", frame.head(5), sha256="e" * 64, url="package:bnpipe/data/iris.csv"
    )
    assert bundled.source_type == "code"
    assert json.loads(bundled.source) == {"tags": {"uri": "package:bnpipe/data/iris.csv"}}

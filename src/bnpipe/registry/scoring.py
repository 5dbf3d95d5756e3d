"""Scoring the champion on today's rows: its model folder for a worker, the rows
cast to its input schema, and its prediction frame as evaluation takes it."""

from __future__ import annotations

import numpy as np

from bnpipe.registry.versions import CHAMPION


def prediction_array(frame, task: str, classes: list[str]) -> np.ndarray:
    """A served model's prediction frame as evaluation takes it."""
    if task == "classification":
        cols = [
            frame[f"proba_{c}"] if f"proba_{c}" in frame else np.zeros(len(frame)) for c in classes
        ]
        return np.column_stack([np.asarray(c, dtype=float) for c in cols])
    return np.asarray(frame["prediction"], dtype=float)


def conform(rows, schema):
    """Cast raw rows to a served model's input schema where that is lossless
    (an integer column where the signature says double), so a champion logged
    with other column types still scores today's rows."""
    if schema is None:
        return rows
    rows = rows.copy()
    for spec in schema.inputs:
        name, kind = spec.name, str(spec.type).lower()
        if name in rows and kind.endswith("double") and np.issubdtype(rows[name].dtype, np.integer):
            rows[name] = rows[name].astype("float64")
    return rows


def champion_model(name: str, rows):
    """The champion's MLflow model folder as files for a worker
    (:func:`bnpipe.jobs.predict_logged`), and ``rows`` cast to its input schema
    (:func:`conform`): what scoring it on today's rows needs."""
    import tempfile

    import mlflow
    from mlflow.models import Model

    from bnpipe.jobs import model_files

    with tempfile.TemporaryDirectory(prefix="bnpipe-champion-") as tmp:
        local = mlflow.artifacts.download_artifacts(
            artifact_uri=f"models:/{name}@{CHAMPION}", dst_path=tmp
        )
        rows = conform(rows, Model.load(local).get_input_schema())
        return model_files(local), rows

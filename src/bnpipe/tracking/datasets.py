"""A dataset snapshot as an MLflow dataset input of a run (the entity, not the data)."""

from __future__ import annotations

import json

from bnpipe.tracking.writes import _write

SCHEMA_SAMPLE_ROWS = 10_000  # rows a dataset input's schema is inferred from
DIGEST_CHARS = 12  # of the data's SHA-256: the dataset digest MLflow shows (it keeps 36 at most)


def dataset_entity(name: str, frame, *, sha256: str, url: str, target: str | None = None):
    """The snapshot as an MLflow dataset: ``name``, a digest from the content's
    SHA-256, the URL it came from (redacted: no user info, no query) as its source,
    and the frame's schema. The entity, not the data: nothing is uploaded.

    The schema is inferred from at most ``SCHEMA_SAMPLE_ROWS`` rows (MLflow's
    inference takes ~7 s on a million rows); the profile counts every row."""
    import warnings

    from mlflow.data.dataset_source_registry import resolve_dataset_source
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.entities import Dataset

    from bnpipe.ingest import redact

    sample = frame
    if len(frame) > SCHEMA_SAMPLE_ROWS:
        sample = frame.sample(n=SCHEMA_SAMPLE_ROWS, random_state=0).sort_index()
    with warnings.catch_warnings():  # "can be interpreted in multiple ways" for file: URLs,
        warnings.simplefilter("ignore")  # integer columns with missing cells, ...
        try:  # http(s): an HTTP source; file: a local artifact
            source = resolve_dataset_source(redact(url))
        except Exception:  # noqa: BLE001 - no resolver, e.g. package:bnpipe/data/iris.csv
            from mlflow.data.code_dataset_source import CodeDatasetSource

            source = CodeDatasetSource(tags={"uri": redact(url)})  # the copy bnpipe ships
        entity = PandasDataset(
            sample, source=source, targets=target, name=name, digest=sha256[:DIGEST_CHARS]
        )._to_mlflow_entity()
    profile = json.dumps({"num_rows": len(frame), "num_elements": int(frame.size)})
    return Dataset(
        name=entity.name,
        digest=entity.digest,
        source_type=entity.source_type,
        source=entity.source,
        schema=entity.schema,
        profile=profile,
    )


SPLIT_PARTS = {"val": "validation", "test": "test"}  # Split attribute -> MLflow context


def split_entities(snapshot, split) -> dict[str, object]:
    """The validation and test rows of ``split`` (a :class:`~bnpipe.features.Split`
    of the snapshot whose entity is ``snapshot``) as datasets of their own, by
    context (``validation``, ``test``): named ``<dataset>-validation`` and
    ``<dataset>-test``, each with MLflow's digest of its rows, the snapshot's
    source and the rows' schema. The metrics a logged model is scored by name them."""
    import warnings

    from mlflow.data.code_dataset_source import CodeDatasetSource
    from mlflow.data.pandas_dataset import PandasDataset
    from mlflow.entities import Dataset

    out = {}
    for attr, context in SPLIT_PARTS.items():
        frame = getattr(split, attr)
        with warnings.catch_warnings():  # integer columns with missing cells, ...
            warnings.simplefilter("ignore")
            rows = PandasDataset(
                frame, source=CodeDatasetSource(tags={}), name=f"{snapshot.name}-{context}"
            )._to_mlflow_entity()
        out[context] = Dataset(
            name=rows.name,
            digest=rows.digest,
            source_type=snapshot.source_type,
            source=snapshot.source,
            schema=rows.schema,
            profile=json.dumps({"num_rows": len(frame), "num_elements": int(frame.size)}),
        )
    return out


def log_dataset(client, run_id: str, entity, context: str = "training") -> None:
    """Record ``entity`` (:func:`dataset_entity`) as an input of the run."""
    from mlflow.entities import DatasetInput, InputTag
    from mlflow.utils.mlflow_tags import MLFLOW_DATASET_CONTEXT

    tags = [InputTag(MLFLOW_DATASET_CONTEXT, context)]
    _write(client.log_inputs, run_id, datasets=[DatasetInput(entity, tags=tags)])


def dataset_inputs(client, run_id: str) -> list:
    """The datasets a run has as inputs (their entities)."""
    return [d.dataset for d in client.get_run(run_id).inputs.dataset_inputs]

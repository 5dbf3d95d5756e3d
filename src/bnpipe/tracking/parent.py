"""A handle on one flow run's parent MLflow run, passed between tasks."""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

from bnpipe.tracking.datasets import dataset_inputs, log_dataset
from bnpipe.tracking.runs import close_open_runs, end_run, status_for
from bnpipe.tracking.writes import describe, log_json, log_metrics, log_params, set_tags


def parent_run_name(dataset: str, epochs: int, seeds: int, flow_run: str | None = None) -> str:
    """A comparison's parent run name: what it trained on and how much, then the
    flow run it belongs to, e.g. ``iris, 200 epochs, 2 seeds (crimson-beaver)``."""
    name = f"{dataset}, {epochs} epoch{'s' * (epochs != 1)}, {seeds} seed{'s' * (seeds != 1)}"
    return f"{name} ({flow_run or 'local'})"


class ParentRun:
    """A handle on one flow run's parent MLflow run, passed between tasks.

    It is plain data (URI and ids); the client is made on first use.
    """

    def __init__(self, tracking_uri: str, experiment_id: str, run_id: str):
        self.tracking_uri, self.experiment_id, self.run_id = tracking_uri, experiment_id, run_id
        self._client = None

    def __getstate__(self):
        return {**self.__dict__, "_client": None}

    def __repr__(self) -> str:
        return f"ParentRun(experiment_id={self.experiment_id!r}, run_id={self.run_id!r})"

    @property
    def client(self):
        if self._client is None:
            from mlflow import MlflowClient

            self._client = MlflowClient(self.tracking_uri)
        return self._client

    def tag(self, tags: Mapping[str, object]) -> None:
        set_tags(self.client, self.run_id, tags)

    def log_params(self, params: Mapping[str, object]) -> None:
        log_params(self.client, self.run_id, params)

    def log_metrics(self, values: Mapping[str, float]) -> None:
        log_metrics(
            self.client, self.run_id, {k: v for k, v in values.items() if not math.isnan(v)}
        )

    def log_json(self, obj: object, artifact_file: str) -> None:
        log_json(self.client, self.run_id, obj, artifact_file)

    def describe(self, markdown: str) -> None:
        describe(self.client, self.run_id, markdown)

    def log_dataset(self, entity) -> None:
        log_dataset(self.client, self.run_id, entity)

    def datasets(self) -> list:
        return dataset_inputs(self.client, self.run_id)

    def log_text(self, text: str, artifact_file: str) -> None:
        self.client.log_text(self.run_id, text, artifact_file)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        self.client.log_artifact(self.run_id, str(path), artifact_path)

    def artifact_location(self, artifact_file: str) -> str:
        """Where one of this run's artifacts is: a local path for a store on this
        machine's disk, else its URI (``mlflow-artifacts:/...`` on a tracking server)."""
        import urllib.parse

        uri = f"{self.client.get_run(self.run_id).info.artifact_uri.rstrip('/')}/{artifact_file}"
        parsed = urllib.parse.urlparse(uri)
        if parsed.scheme == "file":
            return urllib.parse.unquote(parsed.path)
        return uri if parsed.scheme else str(Path(uri))

    def end(self, exc: BaseException | None = None) -> None:
        """End this run and any child still RUNNING: FINISHED, FAILED or KILLED."""
        status = status_for(exc)
        if exc is not None:
            message = (
                str(exc).strip().splitlines()[0][:500] if str(exc).strip() else type(exc).__name__
            )
            self.tag({"error": f"{type(exc).__name__}: {message}"})
        close_open_runs(
            self.client,
            self.experiment_id,
            parent_id=self.run_id,
            status=status_for(exc or RuntimeError()),
        )
        end_run(self.client, self.run_id, status)

"""The bookkeeping of one ``bn-comparison`` flow run, in one place, so the flow
body reads as the pipeline's chain.

:class:`RunBook` holds every dataset's open MLflow parent run and:

* ``step(name)``: a failure inside ends that dataset's run FAILED (its error
  logged, a data refusal emitted as an event) and the other datasets go on; the
  flow then fails with the first error (:meth:`RunBook.outcome`);
* on any other way out (Ctrl-C, SIGTERM, training failed) cancels the Dask jobs
  still running, so waiting task threads return at once, and ends every open
  run (KILLED for a signal, FAILED otherwise);
* owns the speed plumbing: the temporary folder the trained models land in,
  and the thread that loads the finish stage's imports while workers train.
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import Iterator, Sequence

from prefect import get_run_logger
from prefect.states import Completed

from bnpipe import references, report, reuse
from bnpipe.catalog import DatasetSpec
from bnpipe.features import Encoded
from bnpipe.ingest import Snapshot
from bnpipe.ops import interrupts
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.params import RunConfig
from bnpipe.results import FAILURE_LOG_FIELD, ComparisonResult
from bnpipe.settings import Settings
from bnpipe.tasks import events
from bnpipe.tasks.tracking import open_parent_run
from bnpipe.tasks.training import train_variants
from bnpipe.tracking import ParentRun
from bnpipe.validation import DataValidationError

UNCHANGED_STATE = "Unchanged"  # a flow run whose every dataset was unchanged


class RunBook:
    """Open parent runs, failures and plumbing of one flow run (a context manager)."""

    def __init__(self, dask: TrainingCluster):
        self.dask = dask
        self.errors: list[tuple[str, BaseException]] = []  # (dataset, what ended its run)
        self._open: dict[str, ParentRun] = {}  # dataset -> its parent run, until it ends
        self._models: tempfile.TemporaryDirectory | None = None
        self._preload: threading.Thread | None = None

    def __enter__(self) -> RunBook:
        self._models = tempfile.TemporaryDirectory(prefix="bnpipe-models-")
        return self

    def __exit__(self, kind, exc, tb) -> None:
        try:
            if exc is not None:
                self.dask.cancel_pending()  # the other jobs too: their threads return at once
                for name in list(self._open):
                    self._end(name, exc)
        finally:
            # Joined on every way out: an interpreter that exits while a thread is
            # still importing matplotlib's C++ extensions can abort ("terminate called").
            if self._preload is not None:
                self._preload.join()
            self._models.cleanup()

    def open(
        self,
        spec: DatasetSpec,
        config: RunConfig,
        settings: Settings,
        snap: Snapshot | None = None,
        key: str | None = None,
    ) -> ParentRun:
        """The dataset's parent run, open until its last step (or a failure) ends it."""
        return self.adopt(spec.name, open_parent_run(spec, config, settings, snap, key))

    def before_open(self, spec: DatasetSpec, config: RunConfig, settings: Settings, fn, *args):
        """``fn(spec, settings, *args)``, run before the dataset's parent run opens
        (the download: unchanged data opens no run). When it fails, a run is opened
        all the same, so that the failure is on record in MLflow like any other."""
        try:
            return fn(spec, settings, *args)
        except Exception:
            self.open(spec, config, settings)
            raise

    def adopt(self, name: str, parent: ParentRun) -> ParentRun:
        """Keep a parent run opened elsewhere (a sweep run) like those of :meth:`open`."""
        self._open[name] = parent
        return parent

    @contextlib.contextmanager
    def step(self, name: str, *, last: bool = False) -> Iterator[None]:
        """A stage of one dataset: an Exception ends its run and is kept for the end;
        ``last``: completing it ends the run FINISHED. A Ctrl-C that some library
        swallowed before the step is raised here (``bnpipe.ops.interrupts.check``)."""
        interrupts.check()
        try:
            yield
        except Exception as exc:
            self._end(name, exc)
            self.errors.append((name, exc))
        else:
            if last:
                self._end(name)

    def train(
        self,
        datasets: Sequence[tuple[DatasetSpec, Encoded, RunConfig]],
        labels: Sequence[str] | None = None,
    ) -> list[tuple[list, float]]:
        """Every variant of every dataset at once on the cluster (see ``train_variants``).
        While the workers train, this process has a core to spare: it loads what the
        finish stage's plots and references need (~3 s of imports off the critical path)."""
        if not datasets:
            return []
        self._preload = threading.Thread(target=_preload_finish, name="bnpipe-preload")
        self._preload.start()
        return train_variants(self.dask, datasets, self._models.name, labels)

    def outcome(self, out: dict[str, ComparisonResult | dict]):
        """The flow's return: the first error raised; else the results (a comparison's,
        or a sweep's dict), in a Completed state named ``Held`` (and an event per
        dataset) when a promotion was held, ``Unchanged`` when no dataset trained."""
        if self.errors:
            first = self.errors[0][1]
            # the caller (bnpipe run) names every failed dataset, not only the first
            first.other_failures = self.errors[1:]  # type: ignore[attr-defined]
            raise first
        # the same fields either way: a comparison's result in its JSON form
        rows = {n: r.to_dict() if isinstance(r, ComparisonResult) else r for n, r in out.items()}
        held = {n: r["promotion"]["holds"] for n, r in rows.items() if r["outcome"] == "held"}
        for name, reasons in held.items():
            payload = {"reasons": reasons, "version": rows[name]["promotion"]["version"]}
            events.emit(events.HELD, name, payload | {"run_id": rows[name]["run_id"]})
        messages = [f"{n}: promotion held: {'; '.join(r)}" for n, r in held.items()]
        messages += [
            r["reused"]["message"] for r in rows.values() if r["outcome"] == reuse.UNCHANGED
        ]
        if held:
            return Completed(name="Held", message="; ".join(messages), data=out)
        if rows and all(r["outcome"] == reuse.UNCHANGED for r in rows.values()):
            # trained nothing: a state name the runs list and `--watch` show
            return Completed(name=UNCHANGED_STATE, message="; ".join(messages), data=out)
        if messages:  # some trained, some unchanged: the message names those reused
            return Completed(message="; ".join(messages), data=out)
        return out

    def _end(self, name: str, exc: BaseException | None = None) -> None:
        parent = self._open.pop(name, None)
        if exc is not None:
            get_run_logger().error(
                "%s: comparison failed: %s", name, exc, extra={FAILURE_LOG_FIELD: name}
            )
        if parent is None:  # failed before its run opened (looking for an earlier run)
            return
        if isinstance(exc, DataValidationError):
            events.emit(events.REFUSED, name, {"reason": str(exc), "run_id": parent.run_id})
        parent.end(exc)


def _preload_finish() -> None:
    report.preload()
    references.preload()

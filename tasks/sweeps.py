"""The Prefect tasks of a sweep's MLflow side; the work is in ``bnpipe.sweep.runs``
(the sweep run, cell runs and their seed runs, reuse, the verdicts, the report)."""

from __future__ import annotations

from collections.abc import Sequence

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import keys
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import SeedResult
from bnpipe.ingest import Snapshot
from bnpipe.params import RunConfig
from bnpipe.settings import Settings
from bnpipe.sweep import Cell, CellVerdict
from bnpipe.sweep import runs as sweep_runs
from bnpipe.tasks.tracking import open_experiment
from bnpipe.tracking import ParentRun


@task(name="open-sweep-run", cache_policy=NO_CACHE, retries=0)
def open_sweep_run(
    spec: DatasetSpec, grid: dict, config: RunConfig, correction: str, settings: Settings
) -> ParentRun:
    """The sweep run at the top: the grid, the seeds, the correction (the data's
    SHA-256 follows with the download)."""
    from prefect.runtime import flow_run

    client, exp_id = open_experiment(settings, sweep_runs.experiment_name(spec.name))
    return sweep_runs.open_sweep_run(
        client, settings.tracking_uri, exp_id, spec, grid, config, correction,
        flow_run_name=flow_run.get_name(), flow_run_id=flow_run.get_id(),
        git_commit=keys.git_commit(settings.project_dir),
    )  # fmt: skip


def cell_key(spec: DatasetSpec, snap: Snapshot, config: RunConfig, settings: Settings) -> str:
    """What makes a cell's result: data, catalog entry, suite, parameters, code."""
    return sweep_runs.cell_key(spec, snap.sha256, config, settings.expectations_dir)


@task(name="find-complete-cells", cache_policy=NO_CACHE)
def find_complete_cells(parent: ParentRun, cell_keys: dict[str, str]) -> dict[str, str]:
    """``cell key -> run id`` of FINISHED cell runs with those keys (any earlier sweep)."""
    return sweep_runs.find_complete_cells(parent, cell_keys)


@task(name="open-cell-run", cache_policy=NO_CACHE, task_run_name="open-cell-run-{cell.slug}")
def open_cell_run(
    sweep_run: ParentRun, cell: Cell, key: str, config: RunConfig, data_sha256: str
) -> ParentRun:
    """A cell's run under the sweep run (the cell's values, the shared parameters);
    the cell's seed runs go under it."""
    return sweep_runs.open_cell_run(sweep_run, cell, key, config, data_sha256)


@task(name="keep-cell", cache_policy=NO_CACHE, task_run_name="keep-cell-{cell.slug}")
def keep_cell(
    run: ParentRun, cell: Cell, key: str, results: Sequence[SeedResult], task_type: str
) -> dict:
    """The cell's per-seed values as ``cell.json`` (what a later sweep reuses);
    returns the cell's record."""
    return sweep_runs.keep_cell(run, cell, key, results, task_type)


@task(name="best-reused-cell", cache_policy=NO_CACHE)
def best_reused_cell(parent: ParentRun, spec: DatasetSpec, done: dict[str, str]) -> str | None:
    """The key of the best cell among those complete in earlier sweeps (``done``:
    key -> run id). ``--register-best`` trains it again: registering takes a
    model's predictions on today's test rows, and a reused cell has only its metrics."""
    return sweep_runs.best_reused_cell(parent, spec.task, done)


@task(name="reuse-cell", cache_policy=NO_CACHE, task_run_name="reuse-cell-{cell.slug}")
def reuse_cell(parent: ParentRun, cell: Cell, key: str, source_run_id: str) -> dict:
    """A cell complete in an earlier sweep, copied under this sweep run."""
    return sweep_runs.copy_cell(parent, cell, key, source_run_id)


@task(name="judge-cells", cache_policy=NO_CACHE)
def finish_cells(
    parent: ParentRun,
    spec: DatasetSpec,
    cells: Sequence[Cell],
    records: Sequence[dict],
    correction: str,
) -> list[CellVerdict]:
    """The paired comparison per cell, adjusted across the cells: metrics
    ``bn_minus_plain_<primary>_p_value``/``_p_adjusted``, tag ``winner`` and a
    description on each cell run."""
    return sweep_runs.judge_cells(parent, spec, cells, records, correction)


@task(name="sweep-report", cache_policy=NO_CACHE)
def publish_sweep_report(
    parent: ParentRun,
    spec: DatasetSpec,
    grid: dict,
    verdicts: Sequence[CellVerdict],
    snap: Snapshot,
    config: RunConfig,
    correction: str,
    reused: int,
    heatmap: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """Forest plot, heatmap, ``sweep.md``, ``sweep.html`` on the sweep run and its
    description. Returns the terminal summary line and the markdown table (which
    the flow shows on its flow run)."""
    summary, text = sweep_runs.publish_report(
        parent, spec.name, grid, verdicts, data_sha256=snap.sha256, seeds=config.seeds,
        correction=correction, reused=reused, heatmap=heatmap,
    )  # fmt: skip
    get_run_logger().info("%s", summary)
    return summary, text

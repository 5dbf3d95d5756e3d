"""The MLflow side of a sweep: the sweep run, its cell runs and their seed runs,
reuse of cells already complete, the judgement across cells and the report.

Layout (experiment ``bn-sweep-<dataset>``): one sweep run, one cell run per grid
cell nested under it (params = the cell's values), and under each trained cell
its 2 x K seed runs with the per-seed contract of ``bn-comparison`` (models for
each variant's best seed only). A cell complete in an earlier sweep (same key:
data, catalog entry, suite, parameters, code) is not trained again: its cell run
is copied under the new sweep run, tagged ``reused_from``.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Sequence
from pathlib import Path

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import keys, sweep, sweep_report, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import SeedResult, by_variant, summarize_results
from bnpipe.evaluation import primary_metric
from bnpipe.features import Encoded
from bnpipe.ingest import Snapshot
from bnpipe.params import RunConfig
from bnpipe.settings import Settings
from bnpipe.sweep import Cell, CellVerdict
from bnpipe.tracking import ParentRun
from tasks.tracking import _git_commit, open_experiment

CELL_KEY_TAG = "cell_key"
CELL_FILE = "cell.json"  # the cell's per-seed metrics, read back when it is reused


def experiment_name(dataset: str) -> str:
    return f"bn-sweep-{dataset}"


@task(name="open-sweep-run", cache_policy=NO_CACHE, retries=0)
def open_sweep_run(
    spec: DatasetSpec, grid: dict, config: RunConfig, correction: str, settings: Settings
) -> ParentRun:
    """The sweep run at the top: the grid, the seeds, the correction (the data's
    SHA-256 follows with the download)."""
    from prefect.runtime import flow_run

    client, exp_id = open_experiment(settings, experiment_name(spec.name))
    run_id = tracking.start_run(
        client,
        exp_id,
        run_name=f"{spec.name}-sweep-{flow_run.get_name() or 'local'}",
        tags={
            "dataset": spec.name,
            "task_type": spec.task,
            "kind": "sweep",
            "git_commit": _git_commit(settings),
            "code_version": keys.code_version(),
            "prefect_flow_run_id": flow_run.get_id() or "none",
            **tracking.owner_tags(),
        },
    )
    parent = ParentRun(settings.tracking_uri, exp_id, run_id)
    parent.log_params(
        {
            "grid": json.dumps(grid),
            "cells": len(sweep.cells(grid)),
            "seeds": config.seeds,
            "epochs": config.epochs,
            "correction": correction,
            "primary_metric": primary_metric(spec.task),
        }
    )
    return parent


def cell_key(spec: DatasetSpec, snap: Snapshot, config: RunConfig, settings: Settings) -> str:
    """What makes a cell's result: data, catalog entry, suite, parameters, code."""
    return keys.dataset_key("sweep-cell", spec, snap.sha256, config, settings.expectations_dir)


@task(name="find-complete-cells", cache_policy=NO_CACHE)
def find_complete_cells(parent: ParentRun, cell_keys: dict[str, str]) -> dict[str, str]:
    """``cell key -> run id`` of FINISHED cell runs with those keys (any earlier sweep)."""
    wanted = set(cell_keys.values())
    if not wanted:
        return {}
    runs = parent.client.search_runs(
        [parent.experiment_id],
        "attributes.status = 'FINISHED' and tags.kind = 'cell'",
        max_results=10_000,
    )
    found: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):  # the newest wins
        key = run.data.tags.get(CELL_KEY_TAG)
        if key in wanted and CELL_FILE in {
            a.path for a in parent.client.list_artifacts(run.info.run_id)
        }:
            found[key] = run.info.run_id
    return found


@task(name="log-cell", cache_policy=NO_CACHE, task_run_name="log-cell-{cell.slug}")
def log_cell(
    parent: ParentRun,
    spec: DatasetSpec,
    cell: Cell,
    key: str,
    results: Sequence[SeedResult],
    data: Encoded,
    config: RunConfig,
    learning_rate: float,
    data_sha256: str,
) -> tuple[dict, list[SeedResult]]:
    """A trained cell: its cell run (params, means, intervals, per-seed values as
    ``cell.json``) and its seed runs under it. Returns the cell's record and the
    seed results with their MLflow run ids and model URIs."""
    client = parent.client
    summary = summarize_results(spec.name, spec.task, results, n_boot=2_000)
    run_id = tracking.start_run(
        client,
        parent.experiment_id,
        run_name=cell.label,
        tags={CELL_KEY_TAG: key, "kind": "cell", "cell": cell.label},
        parent_id=parent.run_id,
    )
    try:
        params = {
            **cell.params(),
            "seeds": config.seeds,
            "epochs": config.epochs,
            "batch_size": config.batch_size,
            "optimizer": config.optimizer,
            "learning_rate": learning_rate,
            "input_scaling": config.input_scaling,
            "target_scaling": config.target_scaling,
            "split_seed": config.split_seed,
            "data_sha256": data_sha256,
        }
        tracking.log_params(client, run_id, params)
        tracking.log_metrics(
            client, run_id, {k: v for k, v in summary.parent_metrics().items() if math.isfinite(v)}
        )
        record = {
            "cell": cell.label,
            "key": key,
            "per_seed": sweep.per_seed_values(results, spec.task),
        }
        tracking.log_json(client, run_id, record, CELL_FILE)
        datasets = parent.datasets()  # the snapshot, as validate logged it on the sweep run
        best = {v: summary.best(rs) for v, rs in by_variant(results).items()}
        seed_params = {k: v for k, v in params.items() if k != "seeds"}
        for r in results:
            r.run_id, r.model_uri = tracking.log_child_run(
                client, parent.experiment_id, run_id,
                variant=r.variant, seed=r.seed, params=seed_params, history=r.history,
                metrics=r.metrics, model_path=r.model_path, preprocessor=data.pre,
                log_model=best.get(r.variant) is r, datasets=datasets, dataset_name=spec.name,
                tags={"dask_worker": r.worker} if r.worker else None,
            )  # fmt: skip
    except BaseException as exc:
        tracking.close_open_runs(
            client, parent.experiment_id, parent_id=run_id, status=tracking.status_for(exc)
        )
        tracking.end_run(client, run_id, tracking.status_for(exc))
        raise
    tracking.end_run(client, run_id)  # complete: an interrupted sweep reuses it
    record["run_id"] = run_id
    return record, list(results)  # the results carry their run ids and model URIs now


def _read_record(client, run_id: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(
            Path(client.download_artifacts(run_id, CELL_FILE, tmp)).read_text("utf-8")
        )


@task(name="best-reused-cell", cache_policy=NO_CACHE)
def best_reused_cell(parent: ParentRun, spec: DatasetSpec, done: dict[str, str]) -> str | None:
    """The key of the best cell among those complete in earlier sweeps (``done``:
    key -> run id). ``--register-best`` trains it again: registering takes a
    model's predictions on today's test rows, and a reused cell has only its metrics."""
    records = {key: _read_record(parent.client, run_id) for key, run_id in done.items()}
    return sweep.best_cell(spec.task, records)


@task(name="reuse-cell", cache_policy=NO_CACHE, task_run_name="reuse-cell-{cell.slug}")
def reuse_cell(parent: ParentRun, cell: Cell, key: str, source_run_id: str) -> dict:
    """A cell complete in an earlier sweep, copied under this sweep run."""
    client = parent.client
    source = client.get_run(source_run_id)
    record = _read_record(client, source_run_id)
    run_id = tracking.start_run(
        client,
        parent.experiment_id,
        run_name=cell.label,
        tags={CELL_KEY_TAG: key, "kind": "cell", "cell": cell.label, "reused_from": source_run_id},
        parent_id=parent.run_id,
    )
    tracking.log_params(client, run_id, source.data.params)
    tracking.log_metrics(
        client, run_id, {k: v for k, v in source.data.metrics.items() if "p_adjusted" not in k}
    )
    tracking.log_json(client, run_id, record, CELL_FILE)
    tracking.end_run(client, run_id)
    record["run_id"] = run_id
    return record


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
    verdicts = sweep.adjust_verdicts(
        [sweep.judge_record(c, spec.task, r) for c, r in zip(cells, records, strict=True)],
        correction,
    )
    client = parent.client
    for v, r in zip(verdicts, records, strict=True):
        tracking.log_metrics(
            client, r["run_id"], {k: x for k, x in v.metrics().items() if math.isfinite(x)}
        )
        tracking.set_tags(client, r["run_id"], {"winner": v.winner})
        tracking.describe(client, r["run_id"], sweep.cell_description(spec.name, v))
    return verdicts


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
) -> str:
    """Forest plot, heatmap, ``sweep.md``, ``sweep.html`` on the sweep run; the
    table as a Prefect artifact and the sweep run's description. Returns the
    terminal summary line."""
    summary = sweep.summary_line(spec.name, verdicts, correction)
    text = sweep_report.markdown(
        spec.name, verdicts, correction=correction, seeds=config.seeds,
        data_sha256=snap.sha256, reused=reused, summary=summary,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plots = {
            "Forest plot": sweep_report.plot_forest(
                verdicts, out / "forest.png", title=f"{spec.name}: bn − plain per cell"
            )
        }
        axes = tuple(heatmap) if heatmap else sweep_report.heatmap_axes(grid)
        if axes:
            plots[f"Heatmap: {axes[0]} x {axes[1]}"] = sweep_report.plot_heatmap(
                verdicts, grid, axes, out / "heatmap.png",
                title=f"{spec.name}: bn − plain over {axes[0]} x {axes[1]}",
            )  # fmt: skip
        (out / "sweep.md").write_text(text, "utf-8")
        page = sweep_report.render_html(
            f"{spec.name}: when does BatchNorm help?", sweep_report.rows(verdicts), plots, summary
        )
        (out / "sweep.html").write_text(page, "utf-8")
        for f in out.iterdir():
            parent.log_artifact(f)
    parent.describe(f"**{summary}**\n\n{text}")
    parent.tag({"data_sha256": snap.sha256, "cells_reused": reused, "summary": summary})
    try:
        from prefect.artifacts import create_markdown_artifact

        create_markdown_artifact(
            markdown=text, key=f"bn-sweep-{spec.name}", description=f"sweep on {spec.name}"
        )
    except Exception as exc:  # noqa: BLE001 - the UI artifact is a convenience
        get_run_logger().warning("could not create the Prefect artifact: %s", exc)
    get_run_logger().info("%s", summary)
    return summary

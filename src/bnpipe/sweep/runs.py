"""The MLflow runs of a sweep: the sweep run, its cell runs and their seed runs,
cells found complete in an earlier sweep and copied, the verdicts and the report.

Layout (experiment ``bn-sweep-<dataset>``): one sweep run, one cell run per grid
cell nested under it (params = the cell's values), and under each trained cell
its 2 x K seed runs with the per-seed contract of ``bn-comparison`` (models for
each variant's best seed only). A cell complete in an earlier sweep (same key:
data, catalog entry, suite, parameters, code) is not trained again: its cell run
is copied under the new sweep run, tagged ``reused_from``.

MLflow is reached through the client a :class:`~bnpipe.tracking.ParentRun` holds;
nothing here imports MLflow, matplotlib or Prefect at import time.
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from bnpipe import keys, sweep, tracking
from bnpipe.catalog import DatasetSpec
from bnpipe.comparison import SeedResult
from bnpipe.evaluation import primary_metric
from bnpipe.params import RunConfig
from bnpipe.sweep import Cell, CellVerdict
from bnpipe.sweep import report as sweep_report
from bnpipe.tracking import ParentRun

CELL_KEY_TAG = "cell_key"
CELL_FILE = "cell.json"  # the cell's per-seed metrics, read back when it is reused


def experiment_name(dataset: str) -> str:
    return f"bn-sweep-{dataset}"


def cell_key(spec: DatasetSpec, data_sha256: str, config: RunConfig, expectations_dir: Path) -> str:
    """What makes a cell's result: data, catalog entry, suite, parameters, code."""
    return keys.dataset_key("sweep-cell", spec, data_sha256, config, expectations_dir)


def open_sweep_run(
    client,
    tracking_uri: str,
    experiment_id: str,
    spec: DatasetSpec,
    grid: Mapping[str, Sequence[object]],
    config: RunConfig,
    correction: str,
    *,
    flow_run_name: str | None,
    flow_run_id: str | None,
    git_commit: str,
) -> ParentRun:
    """The sweep run at the top: the grid, the seeds, the correction (the data's
    SHA-256 follows with the download)."""
    run_id = tracking.start_run(
        client,
        experiment_id,
        run_name=f"{spec.name}-sweep-{flow_run_name or 'local'}",
        tags={
            "dataset": spec.name,
            "task_type": spec.task,
            "kind": "sweep",
            "git_commit": git_commit,
            "code_version": keys.code_version(),
            "prefect_flow_run_id": flow_run_id or "none",
            **tracking.owner_tags(),
        },
    )
    parent = ParentRun(tracking_uri, experiment_id, run_id)
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


def find_complete_cells(parent: ParentRun, cell_keys: Mapping[str, str]) -> dict[str, str]:
    """``cell key -> run id`` of FINISHED cell runs with those keys (any earlier sweep)
    that kept their ``cell.json``; the newest wins."""
    wanted = set(cell_keys.values())
    if not wanted:
        return {}
    runs = parent.client.search_runs(
        [parent.experiment_id],
        "attributes.status = 'FINISHED' and tags.kind = 'cell'",
        max_results=10_000,
    )
    found: dict[str, str] = {}
    for run in sorted(runs, key=lambda r: r.info.start_time):
        key = run.data.tags.get(CELL_KEY_TAG)
        if key in wanted and CELL_FILE in {
            a.path for a in parent.client.list_artifacts(run.info.run_id)
        }:
            found[key] = run.info.run_id
    return found


def cell_params(config: RunConfig, cell: Cell, learning_rate: float, data_sha256: str) -> dict:
    """A cell run's params: the cell's values, the shared training parameters, the data."""
    return {
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


def open_cell_run(
    parent: ParentRun, cell: Cell, key: str, config: RunConfig, data_sha256: str
) -> ParentRun:
    """A cell's run under the sweep run: the cell's values and the shared training
    parameters (``learning_rate`` joins them once the training job reports the
    optimizer's effective value). Its seed runs go under it."""
    run_id = tracking.start_run(
        parent.client,
        parent.experiment_id,
        run_name=cell.label,
        tags={CELL_KEY_TAG: key, "kind": "cell", "cell": cell.label},
        parent_id=parent.run_id,
    )
    run = ParentRun(parent.tracking_uri, parent.experiment_id, run_id)
    params = cell_params(config, cell, config.learning_rate, data_sha256)
    run.log_params({k: v for k, v in params.items() if k != "learning_rate"})
    return run


def keep_cell(
    run: ParentRun, cell: Cell, key: str, results: Sequence[SeedResult], task: str
) -> dict:
    """A trained cell's record (per-seed values) as ``cell.json`` on its run, read
    back when a later sweep reuses the cell, and the run ended FINISHED: complete,
    an interrupted sweep reuses it. Returns the record, with the run's id."""
    record = {"cell": cell.label, "key": key, "per_seed": sweep.per_seed_values(results, task)}
    tracking.log_json(run.client, run.run_id, record, CELL_FILE)
    run.end()
    return {**record, "run_id": run.run_id}


def read_record(client, run_id: str) -> dict:
    """The ``cell.json`` of a cell run."""
    with tempfile.TemporaryDirectory() as tmp:
        return json.loads(
            Path(client.download_artifacts(run_id, CELL_FILE, tmp)).read_text("utf-8")
        )


def best_reused_cell(parent: ParentRun, task: str, done: Mapping[str, str]) -> str | None:
    """The key of the best cell among those complete in earlier sweeps (``done``:
    key -> run id)."""
    records = {key: read_record(parent.client, run_id) for key, run_id in done.items()}
    return sweep.best_cell(task, records)


def copy_cell(parent: ParentRun, cell: Cell, key: str, source_run_id: str) -> dict:
    """A cell complete in an earlier sweep, copied under this sweep run (params,
    metrics but the earlier adjustment, ``cell.json``; tag ``reused_from``)."""
    client = parent.client
    source = client.get_run(source_run_id)
    record = read_record(client, source_run_id)
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
    return {**record, "run_id": run_id}


def judge_cells(
    parent: ParentRun,
    spec: DatasetSpec,
    cells: Sequence[Cell],
    records: Sequence[Mapping],
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


def publish_report(
    parent: ParentRun,
    dataset: str,
    grid: Mapping[str, Sequence[object]],
    verdicts: Sequence[CellVerdict],
    *,
    data_sha256: str,
    seeds: int,
    correction: str,
    reused: int,
    heatmap: tuple[str, str] | None = None,
) -> tuple[str, str]:
    """Forest plot, heatmap, ``sweep.md`` and ``sweep.html`` on the sweep run, its
    description and its tags ``data_sha256``, ``cells_reused``, ``summary``.
    Returns ``(summary line, sweep.md's text)``."""
    summary = sweep.summary_line(dataset, verdicts, correction)
    text = sweep_report.markdown(
        dataset, verdicts, correction=correction, seeds=seeds,
        data_sha256=data_sha256, reused=reused, summary=summary,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        plots = {
            "Forest plot": sweep_report.plot_forest(
                verdicts, out / "forest.png", title=f"{dataset}: bn − plain per cell"
            )
        }
        axes = tuple(heatmap) if heatmap else sweep_report.heatmap_axes(grid)
        if axes:
            plots[f"Heatmap: {axes[0]} x {axes[1]}"] = sweep_report.plot_heatmap(
                verdicts, grid, axes, out / "heatmap.png",
                title=f"{dataset}: bn − plain over {axes[0]} x {axes[1]}",
            )  # fmt: skip
        else:  # a one-axis grid
            (axis,) = grid
            plots[f"bn − plain along {axis}"] = sweep_report.plot_effect_along(
                verdicts, axis, out / "effect.png", title=f"{dataset}: bn − plain by {axis}"
            )
            text += f"\n{sweep_report.NO_HEATMAP}.\n"
        (out / "sweep.md").write_text(text, "utf-8")
        page = sweep_report.render_html(
            f"{dataset}: when does BatchNorm help?", sweep_report.rows(verdicts), plots, summary,
            metric=verdicts[0].metric if verdicts else "",
        )  # fmt: skip
        (out / "sweep.html").write_text(page, "utf-8")
        for f in out.iterdir():
            parent.log_artifact(f)
    parent.describe(f"**{summary}**\n\n{text}")
    parent.tag({"data_sha256": data_sha256, "cells_reused": reused, "summary": summary})
    return summary, text

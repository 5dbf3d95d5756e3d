"""The ``bn-sweep`` flow: composition only; the work is in ``tasks/`` and ``bnpipe``."""

from __future__ import annotations

import time
from typing import Literal, NamedTuple

from prefect import flow

from bnpipe import links, sweep
from bnpipe.catalog import DatasetSpec, get_spec, load_catalog
from bnpipe.comparison import NoFiniteModelError, SeedResult, summarize_results
from bnpipe.features import Encoded
from bnpipe.gate import DriftCheck
from bnpipe.ingest import Snapshot
from bnpipe.ops import cluster
from bnpipe.params import RunConfig
from bnpipe.registry import Decision
from bnpipe.settings import Settings, load_settings
from bnpipe.tasks.artifacts import show_sweep
from bnpipe.tasks.data import download_dataset, tag_snapshot, validate_dataset
from bnpipe.tasks.drift import assess_drift
from bnpipe.tasks.leaks import check_leaks
from bnpipe.tasks.references import compare_with_references
from bnpipe.tasks.registry import register_best as register_leader
from bnpipe.tasks.runs import RunBook
from bnpipe.tasks.sweeps import (
    best_reused_cell,
    cell_key,
    find_complete_cells,
    finish_cells,
    log_cell,
    open_sweep_run,
    publish_sweep_report,
    reuse_cell,
)
from bnpipe.tasks.training import encode_dataset
from bnpipe.tracking import ParentRun


@flow(name="bn-sweep", log_prints=True)
def bn_sweep(
    datasets: list[str],
    grid: dict[str, list],
    config: RunConfig = RunConfig(seeds=10),  # noqa: B008 - immutable; Prefect renders its fields
    correction: Literal["holm", "bh"] = "holm",
    register_best: bool = False,
    heatmap: list[str] | None = None,
    offline: bool = False,
    fallback: bool = False,
) -> dict[str, dict]:
    """When does BatchNormalization help? Plain vs bn in every cell of a grid of
    run parameters, per dataset: download -> validate -> one Dask job per (cell,
    variant) carrying the seeds, for every cell of every dataset at once -> per
    cell: a cell run with its seed runs (experiment bn-sweep-<dataset>) -> the
    paired bn - plain comparison per cell, adjusted across the cells -> report
    (forest plot, heatmap, sweep.md, sweep.html). Cells complete in an earlier
    sweep (same data, catalog entry, suite, parameters and code) are reused, not
    trained. Sweeps do not touch the model registry unless `register_best`.

    Args:
        datasets: Names from the catalog (datasets.yaml).
        grid: Run parameter -> the values to try, e.g. {"learning_rate": [0.001, 0.01]};
            parameters: learning_rate, batch_size, optimizer, input_scaling, epochs.
        config: The other training parameters, the same for every cell.
        correction: Across cells: holm (family-wise error) or bh (false discovery rate).
        register_best: Register the best cell's leading model under the champion rule
            of bn-comparison (drift, the baseline, the current champion); the best
            cell is trained again when it was reused from an earlier sweep.
        heatmap: The heatmap's two grid axes, e.g. ["learning_rate", "batch_size"];
            empty: the two with the most values.
        offline: Train on the last good download; never reach the upstream.
        fallback: When the upstream cannot be reached, use the last good download
            or the copy bundled with bnpipe.
    """
    settings = load_settings()
    catalog = load_catalog(settings.catalog_path)
    specs = [get_spec(catalog, name) for name in datasets]  # fail fast on an unknown name
    grid = sweep.check_grid(grid)
    axes = sweep.check_heatmap(grid, heatmap)
    cells = sweep.cells(grid)
    out: dict[str, dict] = {}
    with cluster.opened() as dask, RunBook(dask) as book:
        plans: list[Plan] = []
        for spec in specs:
            run = book.adopt(spec.name, open_sweep_run(spec, grid, config, correction, settings))
            with book.step(spec.name):
                snap = download_dataset(spec, settings, offline, fallback)
                tag_snapshot(run, snap)
                frame, _ = validate_dataset(spec, snap, settings, run)
                drift = assess_drift(spec, snap, frame, run) if register_best else None
                configs = {c: c.config(config).resolve(spec) for c in cells}
                cell_keys = {c.label: cell_key(spec, snap, configs[c], settings) for c in cells}
                done = find_complete_cells(run, cell_keys)
                if register_best and done:  # the best reused cell is trained again
                    done.pop(best_reused_cell(run, spec, done), None)
                todo = [c for c in cells if cell_keys[c.label] not in done]
                encoded = {}  # one encoding per input/target scaling, shared by its cells
                for c in todo:
                    scaling = (configs[c].input_scaling, configs[c].target_scaling)
                    if scaling not in encoded:
                        encoded[scaling] = encode_dataset(frame, spec, configs[c])
                units = [
                    (c, encoded[configs[c].input_scaling, configs[c].target_scaling]) for c in todo
                ]
                print(
                    f"{spec.name}: {len(cells)} cells, {len(cells) - len(todo)} reused "
                    f"from earlier sweeps, {len(todo)} to train"
                )
                plans.append(Plan(spec, run, snap, configs, cell_keys, done, units, drift))

        began = time.perf_counter()
        trained = book.train(
            [(p.spec, data, p.configs[c]) for p in plans for c, data in p.units],
            labels=[f"{p.spec.name}/{c.slug}" for p in plans for c, _ in p.units],
        )
        training_seconds = time.perf_counter() - began
        # With a tracking server the cells log at once (a pool of threads here: the
        # flow stays the only MLflow client); a SQLite store takes one writer.
        concurrent = links.served(settings.tracking_uri)
        trained = iter(trained)
        for spec, run, snap, configs, cell_keys, done, units, drift in plans:
            with book.step(spec.name, last=True):
                began = time.perf_counter()
                calls = []  # log_cell's arguments, per trained cell
                for c, data in units:
                    results, lr = next(trained)
                    key = cell_keys[c.label]
                    calls.append(
                        (c, (run, spec, c, key, results, data, configs[c], lr, snap.sha256))
                    )
                if concurrent:
                    futures = {c.label: log_cell.submit(*args) for c, args in calls}
                    logged = {label: f.result() for label, f in futures.items()}
                else:
                    logged = {c.label: log_cell(*args) for c, args in calls}
                records = {label: record for label, (record, _) in logged.items()}
                logging_seconds = time.perf_counter() - began
                for c in cells:
                    if c.label not in records:
                        records[c.label] = reuse_cell(
                            run, c, cell_keys[c.label], done[cell_keys[c.label]]
                        )
                verdicts = finish_cells(
                    run, spec, cells, [records[c.label] for c in cells], correction
                )
                reused = len(cells) - len(units)
                decision, best = None, None
                if register_best:
                    trained_cells = {  # label -> (results, encoded data)
                        c.label: (logged[c.label][1], data) for c, data in units
                    }
                    best = sweep.best_cell(spec.task, {k: records[k] for k in trained_cells})
                    if best is None:
                        print(f"{spec.name}: every seed of every cell diverged: nothing registered")
                    else:
                        cell_run = ParentRun(
                            settings.tracking_uri, run.experiment_id, records[best]["run_id"]
                        )
                        decision = register_cell(
                            run, cell_run, spec, *trained_cells[best], drift, settings
                        )
                summary, table = publish_sweep_report(
                    run, spec, grid, verdicts, snap, config, correction, reused, axes
                )
                show_sweep(spec.name, table)  # on the flow run, not the task run
                if all(v.all_diverged for v in verdicts):  # as bn-comparison: the run fails
                    raise NoFiniteModelError(
                        f"{spec.name}: every seed of every cell diverged (non-finite loss): "
                        "no finite model; see the sweep report"
                    )
                out[spec.name] = {
                    "dataset": spec.name,
                    "task": spec.task,
                    "run_id": run.run_id,
                    "experiment_id": run.experiment_id,
                    "link": links.run_page(links.ui_base(settings), run.experiment_id, run.run_id),
                    "report": run.artifact_location("sweep.html"),
                    "metric": verdicts[0].metric,
                    "seeds": config.seeds,
                    "summary": summary,
                    "cells": [
                        {
                            "cell": v.cell.label,
                            "winner": v.winner,
                            "mean": v.mean,
                            "ci_low": v.ci_low,
                            "ci_high": v.ci_high,
                            "p_adjusted": v.p_adjusted,
                        }
                        for v in verdicts
                    ],  # fmt: skip
                    "reused": reused,
                    "trained": len(units),
                    "seed_runs": sum(len(args[4]) for _, args in calls),
                    "training_seconds": training_seconds,
                    "logging_seconds": logging_seconds,
                    "store": "server" if concurrent else "sqlite",
                    "best_cell": best,
                    "promotion": decision.to_dict() if decision else None,
                    "outcome": decision.outcome if decision else "swept",
                }
    return book.outcome(out)


class Plan(NamedTuple):
    """A dataset's sweep once prepared, before training."""

    spec: DatasetSpec
    run: ParentRun  # the sweep run
    snap: Snapshot
    configs: dict[sweep.Cell, RunConfig]  # each cell's resolved parameters
    cell_keys: dict[str, str]  # cell label -> cell key
    done: dict[str, str]  # cell key -> run id of a complete cell to reuse
    units: list[tuple[sweep.Cell, Encoded]]  # the cells to train, with their encoding
    drift: DriftCheck | None  # with register_best only


def register_cell(
    sweep_run: ParentRun,
    cell_run: ParentRun,
    spec: DatasetSpec,
    results: list[SeedResult],
    data: Encoded,
    drift: DriftCheck | None,
    settings: Settings,
) -> Decision | None:
    """The best cell's leader through bn-comparison's champion rule: its baseline,
    linear model and leak check on the cell run, the registration and promotion on
    the sweep run (which holds the data profile that the drift check of the next
    run reads)."""
    summary = summarize_results(spec.name, spec.task, results)
    refs, verdicts, headline = compare_with_references(cell_run, spec, data, results, summary)
    leaks = check_leaks(cell_run, spec, data, refs)  # each one holds
    return register_leader(
        sweep_run, spec, data, results, summary, settings, drift, verdicts, headline, leaks
    )

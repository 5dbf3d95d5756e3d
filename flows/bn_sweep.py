"""The ``bn-sweep`` flow: composition only. Each cell of the grid is one
comparison by the chain of ``bn-comparison`` (``bnpipe.flows.compare``); the
sweep adds what is across cells: the adjustment, the report, the best cell."""

from __future__ import annotations

import time
from typing import Literal

from prefect import flow
from prefect.runtime import flow_run

from bnpipe import links, sweep
from bnpipe.catalog import DatasetSpec, get_spec, load_catalog
from bnpipe.comparison import NoFiniteModelError
from bnpipe.flows.compare import check, compare_all
from bnpipe.ops.cluster import TrainingCluster
from bnpipe.params import RunConfig
from bnpipe.settings import Settings, load_settings
from bnpipe.stages import Compared, Origin, Request, SweepCell
from bnpipe.tasks.artifacts import show_sweep
from bnpipe.tasks.data import download_dataset, tag_snapshot
from bnpipe.tasks.registry import register_best as register_leader
from bnpipe.tasks.runs import closing, failed, outcome
from bnpipe.tasks.sweeps import (
    best_reused_cell,
    cell_key,
    find_complete_cells,
    finish_cells,
    open_sweep_run,
    publish_sweep_report,
)


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
    run parameters, per dataset: download -> validate -> per cell, at once for
    every cell of every dataset: the comparison chain of bn-comparison (a cell
    run with its seed runs in experiment bn-sweep-<dataset>, one Dask job per
    variant carrying the seeds) -> the paired bn - plain comparison per cell,
    adjusted across the cells -> report (forest plot, heatmap, sweep.md,
    sweep.html). Cells complete in an earlier sweep (same data, catalog entry,
    suite, parameters and code) are reused, not trained. Sweeps do not touch the
    model registry unless `register_best`.

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
    plan = Plan(grid, sweep.cells(grid), config, correction, register_best, settings)
    axes = sweep.check_heatmap(grid, heatmap)
    origin = Origin(flow_run.get_id(), flow_run.get_name())
    errors: dict[str, BaseException] = {}
    requests: dict[str, list[Request]] = {}
    for spec in specs:  # each dataset downloaded, validated (and checked for drift) once
        try:
            requests[spec.name] = plan.requests(spec, origin, offline, fallback)
        except Exception as exc:  # noqa: BLE001 - the others go on; the flow fails at the end
            errors[spec.name] = exc
    out: dict[str, dict] = {}
    with TrainingCluster() as dask:
        began = time.perf_counter()
        try:
            done, failures = compare_all([r for rs in requests.values() for r in rs], dask)
        except BaseException as exc:  # a stop: the sweep runs end KILLED with their cells
            for name, rs in requests.items():
                failed(name, exc, rs[0].cell.sweep_run)
            raise
        seconds = time.perf_counter() - began
        for name, mine in requests.items():
            try:
                out[name] = plan.finish(mine, done, failures, dask, axes, seconds)
            except Exception as exc:  # noqa: BLE001 - ended its sweep run FAILED; the others go on
                errors[name] = exc
    return outcome(out, errors)


class Plan:
    """A sweep's grid and settings: each dataset's cells as comparison requests,
    and what the sweep makes of their comparisons."""

    def __init__(self, grid, cells, config, correction, register_best, settings: Settings):
        self.grid, self.cells, self.config = grid, cells, config
        self.correction, self.register_best, self.settings = correction, register_best, settings

    def requests(self, spec: DatasetSpec, origin: Origin, offline: bool, fallback: bool):
        """The sweep run, the download and the validation (once per dataset); a
        request per cell. With --register-best the best cell complete in an earlier
        sweep is trained again: registering needs its model's predictions."""
        settings = self.settings
        run = open_sweep_run(spec, self.grid, self.config, self.correction, settings)
        with closing(spec.name, end=False) as guard:  # the sweep run ends once its cells are judged
            guard.open(run)
            snap = download_dataset(spec, settings, offline, fallback)
            tag_snapshot(run, snap)
            checked = check(spec, settings, snap, run, drift=self.register_best)
            configs = {c: c.config(self.config).resolve(spec) for c in self.cells}
            keys = {c.label: cell_key(spec, snap, configs[c], settings) for c in self.cells}
            complete = find_complete_cells(run, keys)  # each cell's chain finds its own again
            again = None
            if self.register_best:
                best = best_reused_cell(run, spec, complete)
                again = next((label for label, k in keys.items() if k == best), None)
            reused = sum(k in complete and label != again for label, k in keys.items())
            print(
                f"{spec.name}: {len(keys)} cells, {reused} reused from earlier sweeps, "
                f"{len(keys) - reused} to train"
            )
            return [
                Request(spec, configs[c], settings, origin, register=False, report=False,
                        force=c.label == again, cell=SweepCell(c, run, checked))
                for c in self.cells
            ]  # fmt: skip

    def finish(self, mine: list[Request], done: dict[str, Compared], failures, dask, axes, seconds):
        """Judge the cells (adjusted across them), register the best with
        --register-best, report; the dataset's row of the flow's result."""
        spec, run = mine[0].spec, mine[0].cell.sweep_run
        with closing(spec.name) as guard:
            guard.open(run)
            lost = [failures[r.label] for r in mine if r.label in failures]
            if lost:
                raise lost[0]
            cells = {r.cell.cell.label: done[r.label] for r in mine}
            records = [cells[c.label].cell_record for c in self.cells]
            verdicts = finish_cells(run, spec, self.cells, records, self.correction)
            trained = {label: c for label, c in cells.items() if c.judged is not None}
            decision, best = None, None
            if self.register_best:
                best = sweep.best_cell(spec.task, {k: c.cell_record for k, c in trained.items()})
                if best is None:
                    print(f"{spec.name}: every seed of every cell diverged: nothing registered")
                else:
                    decision = register_leader(trained[best].judged, dask, on=run)
            reused = len(self.cells) - len(trained)
            summary, table = publish_sweep_report(
                run, spec, self.grid, verdicts, mine[0].cell.checked.snap, self.config,
                self.correction, reused, axes,
            )  # fmt: skip
            show_sweep(spec.name, table)  # on the flow run, not the task run
            if all(v.all_diverged for v in verdicts):  # as bn-comparison: the run fails
                raise NoFiniteModelError(
                    f"{spec.name}: every seed of every cell diverged (non-finite loss): "
                    "no finite model; see the sweep report"
                )
        concurrent = links.served(self.settings.tracking_uri)
        evaluated = [c.judged.evaluated for c in trained.values()]
        return {
            "dataset": spec.name,
            "task": spec.task,
            "run_id": run.run_id,
            "experiment_id": run.experiment_id,
            "link": links.run_page(links.ui_base(self.settings), run.experiment_id, run.run_id),
            "report": run.artifact_location("sweep.html"),
            "metric": verdicts[0].metric,
            "seeds": self.config.seeds,
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
            "trained": len(trained),
            "seed_runs": sum(len(e.results) for e in evaluated),
            "training_seconds": _span(evaluated) or seconds,
            "logging_seconds": sum(e.log_seconds for e in evaluated),
            "store": "server" if concurrent else "sqlite",
            "best_cell": best,
            "promotion": decision.to_dict() if decision else None,
            "outcome": decision.outcome if decision else "swept",
        }


def _span(evaluated) -> float:
    """From the first cell's jobs submitted to the last cell's trained."""
    spans = [e.trained for e in evaluated if e.trained != (0.0, 0.0)]
    return max(b for _, b in spans) - min(a for a, _ in spans) if spans else 0.0

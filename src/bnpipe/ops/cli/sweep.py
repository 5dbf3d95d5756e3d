"""``bnpipe sweep``: when does BN help? plain vs bn over a grid of run parameters
(the bn-sweep flow), with a table of the cells per dataset."""

from __future__ import annotations

import time
from pathlib import Path

from bnpipe.ops.cli.datasets import spec_of
from bnpipe.ops.cli.errors import UsageError
from bnpipe.ops.cli.orchestration import orchestrated
from bnpipe.ops.cli.run import warn_held
from bnpipe.settings import Settings


def cmd_sweep(args, settings: Settings) -> int:
    """A grid of configurations on one or more datasets (the ``bn-sweep`` flow)."""
    datasets, grid, config, correction, heatmap = _plan(args)
    for name in datasets:
        spec_of(settings, name)
    from bnpipe import sweep

    cells = sweep.cells(grid)
    started = time.perf_counter()
    print(
        f"bnpipe: sweep on {', '.join(datasets)}: {len(cells)} cells x 2 variants x "
        f"{config.seeds} seeds x {config.epochs} epochs",
        flush=True,
    )

    def load():
        from bnpipe.flows.bn_sweep import bn_sweep

        return bn_sweep

    with orchestrated(settings, args.dask_address, args.debug, load) as bn_sweep:
        results = bn_sweep(
            datasets=datasets, grid=grid, config=config, correction=correction,
            register_best=args.register_best, heatmap=list(heatmap) if heatmap else None,
            offline=args.offline, fallback=not args.no_fallback,
        )  # fmt: skip
    print()
    for result in results.values():
        print(format_sweep(result))
        print()
    from bnpipe.results import decision_from_dict

    for result in results.values():
        if result.get("outcome") == "held":
            warn_held(result["dataset"], decision_from_dict(result["promotion"]))
    print(f"done in {time.perf_counter() - started:.1f} s.")
    print(format_sweep_links(results.values(), settings))
    return 0


def _plan(args):
    """Datasets, grid, run parameters, correction and heatmap axes from the flags and
    the sweep file (a flag wins over the file); what is wrong is a usage error."""
    from bnpipe import sweep
    from bnpipe.params import ConfigError, RunConfig

    try:
        plan = sweep.load_sweep_file(Path(args.file)) if args.file else None
        datasets = list(args.datasets) or (plan.datasets if plan else [])
        if not datasets:
            raise UsageError("name one or more datasets, or give --file with datasets:")
        grid = sweep.parse_grid(args.grid) if args.grid else (plan.grid if plan else {})
        if args.grid and plan:
            raise UsageError("give the grid with --grid or in --file, not both")
        if not grid:
            raise UsageError("give at least one --grid NAME=V1,V2 (or --file)")
        correction = args.correction or (plan.correction if plan else "holm")
        heatmap = args.heatmap.split(",") if args.heatmap else (plan.heatmap if plan else None)
        heatmap = sweep.check_heatmap(grid, heatmap)
        values = {}  # a flag wins over the file; 0 is a value (refused), not "absent"
        for name, flag in (("seeds", args.seeds), ("epochs", args.epochs)):
            value = flag if flag is not None else getattr(plan, name, None)
            if value is not None:
                values[name] = value
        config = RunConfig(**{"seeds": 10, **values})
    except (sweep.SweepError, ConfigError) as exc:
        raise UsageError(str(exc)) from None
    return datasets, grid, config, correction, heatmap


def format_sweep(result: dict) -> str:
    """A dataset's sweep, named once at its head: the cells' bn - plain (of the named
    metric) with adjusted p, the counts, timings, the best cell."""
    from bnpipe import report
    from bnpipe.results import decision_from_dict, registry_line

    dataset, metric = result["dataset"], result["metric"]
    rows = [
        [c["cell"], _num(c["mean"], "+.4g"), f"{_num(c['ci_low'], '+.4g')} to "
         f"{_num(c['ci_high'], '+.4g')}", _num(c["p_adjusted"], ".3g"), c["winner"]]
        for c in result["cells"]
    ]  # fmt: skip
    headers = ["cell", f"bn - plain {metric}", "95% CI", "p adjusted", "winner"]
    lines = [
        f"{dataset} ({result['task']}, {len(result['cells'])} cells x 2 variants x "
        f"{result['seeds']} seeds, primary metric {metric})",
        report.format_table(rows, headers),
        f"{result['summary'].removeprefix(f'{dataset}: ')}; {result['trained']} cell(s) "
        f"trained, {result['reused']} reused",
    ]
    if result["seed_runs"]:
        lines.append(
            f"training {result['training_seconds']:.1f} s (every dataset at once); logging "
            f"{result['seed_runs']} seed runs {result['logging_seconds']:.1f} s "
            f"({result['logging_seconds'] / result['seed_runs']:.2f} s each, "
            f"MLflow {result['store']})"
        )
    if result.get("promotion"):
        decision = decision_from_dict(result["promotion"])
        lines.append(f"best cell: {result['best_cell']}; {registry_line(decision)}")
    return "\n".join(lines)


def _num(x: float, spec: str) -> str:
    return format(x, spec) if x == x else "n/a"  # NaN: a cell with nothing to compare


def format_sweep_links(results, settings: Settings) -> str:
    """Where to look: each dataset's sweep run in the MLflow UI and its report."""
    from bnpipe import links

    if links.served(settings.tracking_uri) or links.ui_answering(settings):
        lines = [f"MLflow UI: {links.ui_base(settings)}"]
    else:
        lines = [f"MLflow UI: start it with  {links.ui_command(settings)}  then open:"]
    for result in results:
        lines.append(f"  {result['dataset']} sweep:   {result['link']}")
        lines.append(f"  {result['dataset']} report:  {result['report']}")
    return "\n".join(lines)

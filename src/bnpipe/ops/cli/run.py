"""``bnpipe run``: the bn-comparison flow on one or more datasets, its table per
dataset (:func:`bnpipe.results.format_result`) and the links into the MLflow UI."""

from __future__ import annotations

import sys
import time

from bnpipe.ops.cli.datasets import spec_of
from bnpipe.ops.cli.errors import UsageError
from bnpipe.ops.cli.orchestration import orchestrated
from bnpipe.settings import Settings


def cmd_run(args, settings: Settings) -> int:
    from bnpipe.params import ConfigError, RunConfig, cli_options
    from bnpipe.results import format_result

    for name in args.datasets:
        spec_of(settings, name)  # unknown names are usage errors, before anything starts
    try:  # out-of-range values are usage errors, before anything starts
        config = RunConfig(**{o.field: getattr(args, o.field) for o in cli_options()})
    except ConfigError as exc:
        raise UsageError(str(exc)) from None
    started = time.perf_counter()
    print(
        f"bnpipe: training plain and bn on {', '.join(args.datasets)}: "
        f"{config.seeds} seed(s) x {config.epochs} epochs, engine {config.engine}",
        flush=True,
    )

    def load():
        from bnpipe.flows.bn_comparison import bn_comparison

        return bn_comparison

    with orchestrated(settings, args.dask_address, args.debug, load) as bn_comparison:
        results = bn_comparison(
            datasets=list(args.datasets),
            config=config,
            register_model=not args.no_register,
            offline=args.offline,
            fallback=not args.no_fallback,
            force=args.force,
        )
    print()
    for result in results.values():
        print(format_result(result))
        if result.reused:  # the table above is that earlier run's
            print(result.reused.line)
            print("  (the table is that run's; bnpipe run --force retrains)")
        print()
    for result in results.values():
        if result.outcome == "held":
            warn_held(result.dataset, result.promotion)
    print(f"done in {time.perf_counter() - started:.1f} s.")
    print(format_links(results.values(), settings))
    return 0


def format_links(results, settings: Settings) -> str:
    """Where to look in the MLflow UI: each dataset's runs, parent run and a
    compare-runs page of its seed runs (with SQLite: after starting ``mlflow ui``)."""
    from bnpipe import links

    if links.served(settings.tracking_uri) or links.ui_answering(settings):
        lines = [f"MLflow UI: {links.ui_base(settings)}"]
    else:
        lines = [f"MLflow UI: start it with  {links.ui_command(settings)}  then open:"]
    for result in results:
        for what, url in result.links.items():
            lines.append(f"  {result.dataset} {what + ':':9s}{url}")
    return "\n".join(lines)


def warn_held(dataset: str, decision) -> None:
    """On stderr: a promotion held for review, and how to promote it after a look."""
    print(
        f"bnpipe: warning: {dataset}: promotion held for review: "
        f"{'; '.join(decision.holds)}. {decision.model_name} v{decision.version} is registered; "
        f"after a look, promote it by hand: bnpipe promote {dataset} "
        f"{decision.version} --reason TEXT",
        file=sys.stderr,
    )

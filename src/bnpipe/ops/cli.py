"""``bnpipe``: the command line.

Heavy libraries (TensorFlow, MLflow, Great Expectations, Prefect) are imported
inside the commands that need them: ``bnpipe datasets`` answers at once.
Exit codes: 0 success, 1 data or runtime failure, 2 usage error. Errors are one
clear line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
import sys
import time
from pathlib import Path

from bnpipe.ops import interrupts
from bnpipe.settings import Settings, load_settings


class UsageError(Exception):
    """Bad command-line input: exit code 2."""


def _offline_env(settings: Settings) -> None:
    """Hygiene for everything this process starts, and Prefect's home in the project."""
    for key, value in {
        "DO_NOT_TRACK": "true",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "GX_ANALYTICS_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "3",  # also hides the XLA cache loader's harmless ERROR lines
        "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        # "View run ... at" per logged model against a server: the links come at the end
        "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true",
        "PREFECT_HOME": str(settings.state_dir / "prefect"),
        "PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS": "90",
        "BNPIPE_XLA_CACHE_DIR": str(settings.state_dir / "xla-cache"),
    }.items():
        os.environ.setdefault(key, value)
    Path(os.environ["PREFECT_HOME"]).mkdir(parents=True, exist_ok=True)


def _catalog(settings: Settings):
    from bnpipe.catalog import load_catalog

    return load_catalog(settings.catalog_path)


def _spec(settings: Settings, name: str):
    from bnpipe.catalog import UnknownDatasetError, get_spec

    try:
        return get_spec(_catalog(settings), name)
    except UnknownDatasetError as exc:
        raise UsageError(str(exc)) from None


# ----------------------------------------------------------------------------- commands


def cmd_datasets(args, settings: Settings) -> int:
    catalog = _catalog(settings)
    width = max((len(n) for n in catalog), default=4)
    for name, spec in catalog.items():
        print(
            f"{name:<{width}}  {spec.task:<14}  target={spec.target:<8}  {len(spec.features)} features  {spec.description}"
        )
    return 0


def cmd_validate(args, settings: Settings) -> int:
    from bnpipe import ingest, validation

    spec = _spec(settings, args.dataset)
    cache = ingest.DataCache(settings.cache_dir)
    snap = ingest.download(
        spec,
        cache,
        **settings.download_options(),
        offline=args.offline,
        promote=False,
        log=lambda m: print(m, file=sys.stderr),
    )
    print(f"{spec.name}: {snap.url} sha256 {snap.sha256} ({snap.size} bytes)")
    last_good = cache.latest(spec.name)
    report = validation.validate(
        ingest.read_csv(snap.path, sep=spec.sep),
        settings.expectations_dir / f"{spec.suite}.json",
        spec.name,
        reference_rows=len(ingest.read_csv(last_good.path, sep=spec.sep)) if last_good else None,
    )
    print(report.summary())
    # Validating alone does not make the last good copy: only a completed run does.
    return 0 if report.success else 1


def cmd_run(args, settings: Settings) -> int:
    from bnpipe.params import ConfigError, RunConfig, cli_options

    for name in args.datasets:
        _spec(settings, name)  # unknown names are usage errors, before anything starts
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
        from flows.bn_comparison import bn_comparison

        return bn_comparison

    with _orchestrated(settings, args.dask_address, args.debug, load) as bn_comparison:
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
        if result.get("outcome") == "unchanged":  # the table above is that earlier run's
            print(result["line"])
            print("  (the table is that run's; bnpipe run --force retrains)")
        print()
    _warn_held(results.values())
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
        for what, url in (result.get("links") or {}).items():
            lines.append(f"  {result['dataset']} {what + ':':9s}{url}")
    return "\n".join(lines)


@contextlib.contextmanager
def _orchestrated(settings: Settings, dask_address: str | None, debug: bool, load):
    """What a flow called from the terminal runs in: the Dask cluster, the Prefect
    API (a temporary server when none is configured) and a checked MLflow store;
    yields the flow ``load()`` returns, with the API connected."""
    from bnpipe import tracking, validation
    from bnpipe.ops import cluster
    from flows.local_api import prefect_api

    # Three things start at once: the Dask cluster (local workers load TensorFlow,
    # ~7 CPU-s each), a temporary Prefect server (when no Prefect API is configured,
    # ~8 CPU-s), and this process loads Prefect, MLflow and GX (~12 CPU-s).
    with cluster.opened(dask_address) as dask:
        if dask.address:  # unreachable: one line within seconds, before anything starts
            dask.client()
        with prefect_api(Path(os.environ["PREFECT_HOME"]), settings.state_dir / "logs") as api:
            print(
                f"bnpipe: orchestrated by {api.describe()}, training on {dask.describe()}",
                flush=True,
            )
            # an unreachable or read-only store fails here, in the first seconds
            client = tracking.connect(settings.tracking_uri)
            tracking.check_writable(
                client,
                settings.tracking_uri,
                tracking.artifact_root_for(settings.tracking_uri, settings.artifact_root),
            )
            flow_fn = load()
            # GX too, while the server boots: inside the flow its import would hold
            # up the data the (by then idle) Dask workers wait for.
            validation.preload()
            # A Ctrl-C that landed in an import's clean-up callback was swallowed
            # there ("Exception ignored in ... _get_module_lock"): raise it now.
            interrupts.check()
            if not debug:
                _console_without_tracebacks()
            with api.connected():
                interrupts.check()
                yield flow_fn


def cmd_sweep(args, settings: Settings) -> int:
    """A grid of configurations on one or more datasets (the ``bn-sweep`` flow)."""
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
    for name in datasets:
        _spec(settings, name)
    cells = sweep.cells(grid)
    started = time.perf_counter()
    print(
        f"bnpipe: sweep on {', '.join(datasets)}: {len(cells)} cells x 2 variants x "
        f"{config.seeds} seeds x {config.epochs} epochs",
        flush=True,
    )

    def load():
        from flows.bn_sweep import bn_sweep

        return bn_sweep

    with _orchestrated(settings, args.dask_address, args.debug, load) as bn_sweep:
        results = bn_sweep(
            datasets=datasets, grid=grid, config=config, correction=correction,
            register_best=args.register_best, heatmap=list(heatmap) if heatmap else None,
            offline=args.offline, fallback=not args.no_fallback,
        )  # fmt: skip
    from bnpipe import report

    print()
    for result in results.values():
        rows = [
            [c["cell"], f"{c['mean']:+.4g}", f"{c['ci_low']:+.4g} to {c['ci_high']:+.4g}",
             f"{c['p_adjusted']:.3g}", c["winner"]]
            for c in result["cells"]
        ]  # fmt: skip
        print(report.format_table(rows, ["cell", "bn - plain", "95% CI", "p adjusted", "winner"]))
        print(
            f"{result['summary']}; {result['trained']} cell(s) trained, {result['reused']} reused"
        )
        if result["seed_runs"]:
            print(
                f"training {result['training_seconds']:.1f} s (every dataset at once); logging "
                f"{result['seed_runs']} seed runs {result['logging_seconds']:.1f} s "
                f"({result['logging_seconds'] / result['seed_runs']:.2f} s each, "
                f"MLflow {result['store']})"
            )
        if result.get("promotion"):
            print(f"best cell: {result['best_cell']}; {registry_line(result['promotion'])}")
        print(f"MLflow sweep run {result['run_id']} (experiment bn-sweep-{result['dataset']})")
        print()
    _warn_held(results.values())
    print(f"done in {time.perf_counter() - started:.1f} s.")
    return 0


def _warn_held(results) -> None:
    for result in results:
        if result.get("outcome") == "held":
            p = result["promotion"]
            print(
                f"bnpipe: warning: {result['dataset']}: promotion held for review: "
                f"{'; '.join(p['holds'])}. {p['model_name']} v{p['version']} is registered; "
                f"after a look, promote it by hand: bnpipe promote {result['dataset']} "
                f"{p['version']} --reason TEXT",
                file=sys.stderr,
            )


def _console_without_tracebacks() -> None:
    """Prefect logs every failed task and flow with its traceback on the console;
    the error is already one clear line at the end, so keep tracebacks out of the
    terminal unless ``--debug`` (the Prefect API log keeps them: its handler runs first)."""
    import logging

    class NoTraceback(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            record.exc_info = record.exc_text = record.stack_info = None
            return True

    for handler in logging.getLogger().handlers:
        if type(handler).__name__ == "PrefectConsoleHandler":  # the core does not import Prefect
            handler.addFilter(NoTraceback())


def error_line(exc: BaseException, settings: Settings | None = None) -> str:
    """One line for the terminal. A failed validation names the dataset, the
    column and the rule of its first failure (column rules before table rules),
    lists the rest, and says where the full report is (its summary has a line
    per failure)."""
    report = getattr(exc, "report", None)
    failures = getattr(report, "failures", None)
    if failures:
        # a column's own failure first: "column 'lstat' is missing" says more than the column list
        failures = sorted(failures, key=lambda f: f.column is None)
        line = f"{report.dataset}: validation failed against suite '{report.suite}': {failures[0].line()}"
        rest = failures[1:]
        if rest:
            where = ", ".join(
                f"{'table' if f.column is None else f'column {f.column!r}'} {f.rule}" for f in rest
            )
            line += f" (and {len(rest)} more: {where})"
        if settings is not None:
            line += f"; full report under {settings.reports_dir}"
        return line
    if refused := _prefect_refused(exc):
        return refused
    return str(exc).strip() or type(exc).__name__


def _prefect_refused(exc: BaseException) -> str | None:
    """A Prefect API's 401/403 (httpx's HTTPStatusError) in words, without the
    secret. The API is read off the refused request (PREFECT_API_URL or the
    prefect.toml that `stack up` writes: the core does not import Prefect)."""
    status = getattr(getattr(exc, "response", None), "status_code", None)
    url = str(getattr(getattr(exc, "request", None), "url", "") or "")
    if status not in (401, 403) or "/api/" not in url:
        return None
    api = url.split("/api/", 1)[0] + "/api"
    sent = "its auth string" if os.environ.get("PREFECT_API_AUTH_STRING") else "no auth string"
    return (
        f"the Prefect API at {api} refused {sent} (HTTP {status}): set PREFECT_API_AUTH_STRING "
        "(`bnpipe stack env` prints it)"
    )


def format_result(result: dict) -> str:
    """The terminal table: the same numbers as the parent run and the report."""
    from bnpipe import report
    from bnpipe.evaluation import metric_names
    from bnpipe.models import VARIANTS
    from bnpipe.stats import Summary

    m = result["metrics"]
    metrics = metric_names(result["task"])
    diverged = result.get("diverged") or []
    # diverged seeds are left out of the means: say so, as the report does
    bad = {v: sum(1 for d in diverged if re.match(rf"{v}\b", d)) for v in VARIANTS}
    summaries = {
        v: {
            k: Summary(m[f"{v}_{k}_mean"], m[f"{v}_{k}_std"], result["seeds"] - bad[v], bad[v])
            for k in metrics
        }
        for v in VARIANTS
    }
    lines = [
        f"{result['dataset']} ({result['task']}, {result['seeds']} seeds, data {result['data_sha256'][:12]} from {result['data_source']}, MLflow run {result['run_id']})"
    ]
    rows = report.comparison_table(summaries, metrics)
    if result.get("references"):  # the baseline and the linear model, on the same rows
        rows += report.reference_rows(result["references"], metrics)
    lines.append(report.format_table(rows, report.comparison_headers(metrics)))
    primary = result["primary_metric"]
    lo, hi = m[f"bn_minus_plain_{primary}_ci_low"], m[f"bn_minus_plain_{primary}_ci_high"]
    mean = m[f"bn_minus_plain_{primary}_mean"]
    if mean == mean and lo == lo:  # not NaN
        lines.append(
            f"bn - plain {primary}: {mean:+.4g} (95% CI {lo:+.4g} to {hi:+.4g})  winner: {result['winner']}"
        )
    elif mean == mean:  # one seed pair: a difference, no interval, no winner
        lines.append(
            f"bn - plain {primary}: {mean:+.4g} (95% CI n/a: one seed; use --seeds 2 or more)  winner: n/a"
        )
    else:
        lines.append(
            f"bn - plain {primary}: n/a (no seed with both variants finite)  winner: {result['winner']}"
        )
    if result.get("verdicts"):
        lines.append(
            "against the references: "
            + ", ".join(f"{k.replace('_vs_', ' vs ')} {v}" for k, v in result["verdicts"].items())
        )
    if result.get("headline"):
        lines.append(result["headline"])
    if diverged:
        lines.append(f"diverged and left out: {', '.join(diverged)}")
    if all(bad[v] >= result["seeds"] for v in VARIANTS):
        lines.append(
            "every seed diverged (non-finite loss): no finite model, nothing registered, champion unchanged"
        )
    if result.get("promotion"):
        lines.append(registry_line(result["promotion"]))
        lines += [f"  held: {h}" for h in result["promotion"].get("holds") or []]
    if result.get("drift"):
        lines.append(f"drift against the champion's data: {result['drift']}")
    return "\n".join(lines)


def registry_line(p: dict) -> str:
    """``registry: bnpipe-iris v3 promoted to @champion (...)`` from a decision's dict."""
    what = {
        "promoted": "promoted to @champion",
        "kept": "registered; champion kept",
        "held": "registered; promotion HELD for review",
    }[p["outcome"]]
    return f"registry: {p['model_name']} v{p['version']} {what} ({p['reason']})"


def cmd_dataset_init(args, settings: Settings) -> int:
    """Draft a catalog entry and a suite from a CSV: each column's role decided from
    the data (:mod:`bnpipe.profiling`), with the reasons as comments in the entry."""
    import io

    from bnpipe import drafting, ingest, profiling, validation
    from bnpipe.catalog import DatasetSpec, append_entry, load_catalog, parse_entry
    from bnpipe.drift import DEFAULT_LEVELS

    catalog = load_catalog(settings.catalog_path) if settings.catalog_path.exists() else {}
    if args.name in catalog:
        raise UsageError(f"dataset {args.name!r} is already in {settings.catalog_path}")
    suite_path = settings.expectations_dir / f"{args.name}.json"
    if suite_path.exists():
        raise UsageError(f"{suite_path} exists already; remove it or choose another name")
    url = args.url if "://" in args.url else Path(args.url).resolve().as_uri()
    data = ingest.fetch(
        url, timeout=settings.download_timeout, max_bytes=settings.max_download_bytes
    )
    sep = profiling.detect_separator(data)
    ingest.check_csv(data, dataset=args.name, url=url, sep=sep)
    df = ingest.read_csv(io.BytesIO(data), sep=sep)
    try:
        profile = profiling.profile_frame(
            df, target=args.target, task=args.task, exclude=args.exclude
        )
    except profiling.ColumnError as exc:
        raise UsageError(f"{exc} (in {ingest.redact(url)})") from None
    if not profile.features:
        raise UsageError(
            f"no column of {ingest.redact(url)} is left to train on: "
            f"{profile.left_out_note() or 'only the target'}"
        )
    defaults = profiling.choose_defaults(df, profile)
    entry = {
        "description": args.description
        or f"added by bnpipe dataset init from {ingest.redact(url)}",
        "url": url,
        "sep": sep,
        "task": profile.task,
        "target": args.target,
        "features": profile.features,
        "categorical": profile.categorical,
        "dates": profile.dates,
        "missing": profile.missing,
        "min_frequency": profile.min_frequency,
        "defaults": dict(defaults.values),  # training defaults that make the network learnable
        "suite": args.name,
        "sha256": None,
        "drift": dict(DEFAULT_LEVELS),  # written out, so a reviewer sees what holds a promotion
    }
    spec: DatasetSpec = parse_entry(args.name, entry, str(settings.catalog_path))
    suite = drafting.draft_for(df, spec)
    report = validation.validate(df, _write_suite(validation, suite, suite_path), args.name)
    if not report.success:
        suite_path.unlink(missing_ok=True)
        raise RuntimeError(f"the drafted suite does not pass on its own data:\n{report.summary()}")
    try:  # expectations/flats.json, relative to the catalog: no machine's path in it
        shown = str(suite_path.resolve().relative_to(settings.catalog_path.parent.resolve()))
    except ValueError:
        shown = f"{settings.expectations_dir.name}/{suite_path.name}"
    comments, notes = profiling.entry_comments(
        profile, sep=sep, suite_path=shown, defaults=defaults
    )
    append_entry(settings.catalog_path, spec, comments=comments, notes=notes)
    print(f"{args.name}: {profile.rows} rows, {len(profile.columns)} columns")
    for line in profile.summary():
        print(line)
    print(f"defaults: {defaults.summary()} (bnpipe run's flags override them)")
    categorical = profile.categorical
    print(
        f"added {args.name!r} to {settings.catalog_path}: {spec.task}, target {args.target!r}, {len(spec.features)} features ({len(categorical)} categorical: {', '.join(categorical) or 'none'})"
    )
    print(
        f"drafted {suite_path} with {report.evaluated} expectations; review its ranges and value sets, then: bnpipe run {args.name}"
    )
    return 0


def _write_suite(validation, suite: dict, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    validation.write_suite(suite, path)
    return path


def infer_task(target) -> str:
    """Text, true/false, or a few whole-number codes is a class label; anything else a
    quantity (:func:`bnpipe.profiling.infer_task`)."""
    from bnpipe.profiling import infer_task as infer

    return infer(target)


def cmd_promote(args, settings: Settings) -> int:
    import getpass

    from bnpipe import registry, tracking

    spec = _spec(settings, args.dataset)
    client = tracking.connect(settings.tracking_uri)
    name = tracking.registered_model_name(spec.name)
    try:
        who = getpass.getuser()
    except (KeyError, OSError):
        who = "unknown"
    try:
        record = registry.promote_by_hand(client, name, args.version, reason=args.reason, who=who)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    before = record["previous_champion"]
    print(
        f"{name} v{args.version} is @champion now"
        f"{f' (was v{before})' if before else ''}; recorded on the version: "
        f"by {record['promoted_by']} at {record['promoted_at']}, reason: {record['promotion_reason']}"
    )
    return 0


def cmd_predict(args, settings: Settings) -> int:
    import numpy as np
    import pandas as pd

    from bnpipe import tracking

    spec = _spec(settings, args.dataset)
    # categorical and date cells stay text: the signature types them "string"
    text = dict.fromkeys([*spec.categorical, *spec.dates], str)
    try:
        rows = pd.read_csv(args.input, encoding="utf-8-sig", sep=spec.sep, dtype=text)
    except pd.errors.EmptyDataError:
        raise DataError(f"{args.input}: an empty file, without even a header") from None
    missing = [c for c in spec.features if c not in rows.columns]
    if missing:
        hint = (
            f" (its header is one column: is the file separated by {spec.sep!r}?)"
            if len(rows.columns) == 1 and len(spec.features) > 1
            else ""
        )
        raise DataError(
            f"{args.input}: missing required column(s) for {spec.name}: {', '.join(missing)}{hint}"
        )
    if rows.empty:
        raise DataError(f"{args.input}: a header and no rows")
    _offline_env(settings)
    tracking.connect(settings.tracking_uri)
    import mlflow

    from bnpipe import serving

    name = tracking.registered_model_name(spec.name)
    try:
        model = mlflow.pyfunc.load_model(f"models:/{name}@champion")
    except Exception as exc:  # noqa: BLE001
        raise DataError(
            f"no champion for {spec.name}: models:/{name}@champion cannot be loaded ({str(exc).splitlines()[0]}); run `bnpipe run {spec.name}` first"
        ) from None
    features = rows[list(spec.features)]
    features.index = pd.RangeIndex(2, len(features) + 2)  # messages name rows by file line
    try:
        # the champion's own policy: impute fills blanks, error refuses them by row
        features = serving.prepare_rows(model, features)
    except ValueError as exc:
        raise DataError(
            f"{args.input}: {exc} (rows are line numbers of the file; the header is line 1)"
        ) from None
    predictions = model.predict(features)
    numbers = predictions.select_dtypes("number").to_numpy(dtype=np.float64)
    unscored = features.index[~np.isfinite(numbers).all(axis=1)] if numbers.size else []
    if len(unscored):
        shown = ", ".join(map(str, unscored[:5])) + (" ..." if len(unscored) > 5 else "")
        print(
            f"bnpipe: warning: {args.input}: {len(unscored)} row(s) scored as non-finite "
            f"numbers (an inf cell?): lines {shown}",
            file=sys.stderr,
        )
    out = pd.concat([rows.reset_index(drop=True), predictions.reset_index(drop=True)], axis=1)
    if args.output:
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} rows to {args.output} ({name}@champion)")
    else:
        out.to_csv(sys.stdout, index=False)
    return 0


class DataError(Exception):
    """Bad data or a missing prerequisite: exit code 1."""


# ----------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    from bnpipe.params import cli_options  # pydantic, ~0.3 s: not at import

    p = argparse.ArgumentParser(
        prog="bnpipe", description="Plain vs BatchNormalization MLP comparison pipeline."
    )
    p.add_argument("--debug", action="store_true", help="show tracebacks on errors")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    s = sub.add_parser("datasets", help="list the catalog's datasets (fast)")
    s.set_defaults(func=cmd_datasets)

    s = sub.add_parser(
        "validate", help="download a dataset and check it against its GX suite (exit 0 or 1)"
    )
    s.add_argument("dataset")
    s.add_argument("--offline", action="store_true", help="use the last good cached download")
    s.set_defaults(func=cmd_validate)

    s = sub.add_parser("run", help="run the bn-comparison flow on one or more datasets")
    s.add_argument("datasets", nargs="+", metavar="DATASET")
    s.add_argument(
        "--dask-address",
        metavar="tcp://HOST:PORT",
        default=None,
        help="train on this Dask scheduler (default: $BNPIPE_DASK_ADDRESS, else a local cluster)",
    )
    for option in cli_options():  # one per field of bnpipe.params.RunConfig
        s.add_argument(
            option.flag,
            dest=option.field,
            type=option.type,
            choices=option.choices,
            default=option.default,
            help=option.help,
        )
    s.add_argument("--no-register", action="store_true", help="do not register or promote a model")
    s.add_argument("--offline", action="store_true", help="train on the last good cached download")
    s.add_argument(
        "--no-fallback",
        action="store_true",
        help="fail when the upstream cannot be reached, instead of training on the last good "
        "download or the copy bundled with bnpipe",
    )
    s.add_argument(
        "--force",
        action="store_true",
        help="retrain even when an earlier finished run had the same data, catalog entry, "
        "suite, parameters and code (without it, such a run prints that run's result)",
    )
    s.set_defaults(func=cmd_run)

    s = sub.add_parser("sweep", help="when does BN help? plain vs bn over a grid of run parameters")
    s.add_argument("datasets", nargs="*", metavar="DATASET")
    s.add_argument(
        "--grid",
        action="append",
        metavar="NAME=V1,V2",
        help="an axis of the grid (repeat): learning_rate, batch_size, optimizer, "
        "input_scaling, epochs",
    )
    s.add_argument("--file", metavar="SWEEP.yaml", help="datasets and grid from a sweep file")
    s.add_argument("--seeds", type=int, default=None, help="seeds per variant and cell (10)")
    s.add_argument("--epochs", type=int, default=None, help="epochs per seed (1000)")
    s.add_argument(
        "--correction", choices=("holm", "bh"), default=None,
        help="across cells: holm (family-wise error, default) or bh (false discovery rate)",
    )  # fmt: skip
    s.add_argument(
        "--heatmap", metavar="X,Y", default=None,
        help="the heatmap's two grid axes (default: the two with the most values)",
    )  # fmt: skip
    s.add_argument(
        "--register-best", action="store_true",
        help="register the best cell's leading model (champion rule of bnpipe run)",
    )  # fmt: skip
    s.add_argument("--dask-address", metavar="tcp://HOST:PORT", default=None)
    s.add_argument("--offline", action="store_true", help="train on the last good cached download")
    s.add_argument("--no-fallback", action="store_true", help="never train on an older copy")
    s.set_defaults(func=cmd_sweep)

    s = sub.add_parser("dataset", help="manage catalog entries")
    dsub = s.add_subparsers(dest="dataset_command", required=True, metavar="ACTION")
    i = dsub.add_parser("init", help="draft a catalog entry and an expectation suite from a CSV")
    i.add_argument("name")
    i.add_argument("--url", required=True, help="http(s) or file URL, or a local path")
    i.add_argument("--target", required=True)
    i.add_argument(
        "--task",
        choices=("regression", "classification"),
        default=None,
        help="default: inferred from the target",
    )
    i.add_argument(
        "--exclude",
        nargs="+",
        action="extend",
        default=[],
        metavar="COLUMN",
        help="columns to leave out (leaky ones: known only after the fact)",
    )
    i.add_argument("--description", default="")
    i.set_defaults(func=cmd_dataset_init)

    s = sub.add_parser(
        "promote", help="make a registered version @champion after a review (a held promotion)"
    )
    s.add_argument("dataset")
    s.add_argument("version")
    s.add_argument("--reason", required=True, help="why: recorded on the version")
    s.set_defaults(func=cmd_promote)

    s = sub.add_parser("predict", help="score raw CSV rows with the dataset's @champion model")
    s.add_argument("dataset")
    s.add_argument("--input", required=True, type=Path)
    s.add_argument(
        "--output", type=Path, default=None, help="CSV to write (default: standard output)"
    )
    s.set_defaults(func=cmd_predict)

    s = sub.add_parser("stack", help="the local Prefect + MLflow stack: up, down, status, env")
    s.add_argument(
        "action",
        choices=("up", "down", "status", "env"),
        help="env: the export lines a shell or a second host needs (URLs and credentials)",
    )
    s.add_argument(
        "--backend",
        choices=("sqlite", "postgres"),
        default="sqlite",
        help="up: where Prefect and MLflow keep their data: SQLite files (default), or "
        "PostgreSQL ($BNPIPE_POSTGRES_URL, else a server of the stack's own) with "
        "artifacts served by the MLflow server",
    )
    s.add_argument(
        "--dask-workers",
        type=int,
        default=None,
        metavar="N",
        help="up: Dask workers the stack runs beside its scheduler (default one per core; "
        "0: none, each flow run starts a local cluster of its own)",
    )
    s.add_argument(
        "--auth",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="up: credentials on every service (MLflow basic auth, the Prefect auth string, "
        "Dask mutual TLS); default on for --backend postgres and beyond loopback, off otherwise",
    )
    s.add_argument(
        "--listen",
        default="127.0.0.1",
        metavar="ADDRESS",
        help="up: the address the Prefect, MLflow and Dask servers bind to (default "
        "127.0.0.1); any other address requires --auth",
    )
    s.set_defaults(func=cmd_stack)
    return p


def cmd_stack(args, settings: Settings) -> int:
    from bnpipe.ops import stack

    if args.action == "up":
        if args.dask_workers is not None and args.dask_workers < 0:
            raise UsageError("--dask-workers must be 0 or more")
        return stack.up(
            settings,
            backend=args.backend,
            dask_workers=args.dask_workers,
            auth=args.auth,
            listen=args.listen,
        )
    if args.action == "env":
        print("\n".join(stack.env_lines(settings)))
        return 0
    return {"down": stack.down, "status": stack.status}[args.action](settings)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"bnpipe: error: {exc}", file=sys.stderr)
        return 2
    _offline_env(settings)
    interrupts.install()  # Ctrl-C, SIGTERM, SIGHUP: open runs end KILLED, helpers stop
    try:
        return args.func(args, settings)
    except UsageError as exc:
        print(f"bnpipe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        print(
            f"bnpipe: {str(exc) or 'interrupted'}; open MLflow runs were ended KILLED",
            file=sys.stderr,
        )
        return getattr(exc, "exit_code", 130)
    except Exception as exc:  # noqa: BLE001 - one clear line unless --debug
        if args.debug:
            raise
        from bnpipe.catalog import CatalogError

        code = 2 if isinstance(exc, CatalogError) else 1
        message = error_line(exc, settings)
        print(f"bnpipe: error: {message}", file=sys.stderr)
        if "\n" not in message:
            print("(run with --debug for the traceback)", file=sys.stderr)
        return code


def entry() -> None:
    """The ``bnpipe`` console script."""
    code = main()
    # A run leaves millions of objects (MLflow, Prefect, GX, pandas); the garbage
    # collections of interpreter shutdown walked them for ~1.2 s after the result
    # was printed. Frozen objects are skipped; atexit handlers still run.
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    entry()

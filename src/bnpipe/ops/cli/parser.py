"""The ``bnpipe`` command line's arguments: a sub-command per job, each bound to
the function that runs it."""

from __future__ import annotations

import argparse
from pathlib import Path

from bnpipe.ops.cli.datasets import cmd_dataset_init, cmd_datasets, cmd_validate
from bnpipe.ops.cli.models import cmd_predict, cmd_promote
from bnpipe.ops.cli.run import cmd_run
from bnpipe.ops.cli.stack import cmd_stack
from bnpipe.ops.cli.sweep import cmd_sweep


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

"""``bnpipe stack``: the local Prefect + MLflow stack (:mod:`bnpipe.ops.stack`)
brought up, down, shown, and its environment printed."""

from __future__ import annotations

from bnpipe.ops.cli.errors import UsageError
from bnpipe.settings import Settings


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

"""``bnpipe``'s entry: parse the command line, run the command, turn what it
raised into an exit code and one clear line (``--debug``: the traceback).

Exit codes: 0 success, 1 data or runtime failure, 2 usage error.
"""

from __future__ import annotations

import gc
import sys

from bnpipe.ops import interrupts
from bnpipe.ops.cli.environment import offline_env
from bnpipe.ops.cli.errors import UsageError, error_line
from bnpipe.ops.cli.parser import build_parser
from bnpipe.settings import load_settings


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except ValueError as exc:
        print(f"bnpipe: error: {exc}", file=sys.stderr)
        return 2
    offline_env(settings)
    interrupts.install()  # Ctrl-C, SIGTERM, SIGHUP: open runs end KILLED, helpers stop
    try:
        return args.func(args, settings)
    except UsageError as exc:
        print(f"bnpipe: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt as exc:
        after = getattr(exc, "aftermath", None) or "open MLflow runs were ended KILLED"
        print(f"bnpipe: {str(exc) or 'interrupted'}; {after}", file=sys.stderr)
        return getattr(exc, "exit_code", 130)
    except Exception as exc:  # noqa: BLE001 - one clear line unless --debug
        if args.debug:
            raise
        from bnpipe.catalog import CatalogError

        code = 2 if isinstance(exc, CatalogError) else 1
        message = error_line(exc, settings)
        print(f"bnpipe: error: {message}", file=sys.stderr)
        for _dataset, other in getattr(exc, "other_failures", ()):  # one line per dataset
            print(f"bnpipe: error: {error_line(other, settings)}", file=sys.stderr)
        if "\n" not in message:
            print("(run with --debug for the traceback)", file=sys.stderr)
        return code
    except BaseException as exc:  # a signal Prefect's engine raised as its own exception
        signum = interrupts.signal_of(exc)
        if signum is None:
            raise
        stop = interrupts.exception_for(signum)
        print(f"bnpipe: {stop}; open MLflow runs were ended KILLED", file=sys.stderr)
        return stop.exit_code


def entry() -> None:
    """The ``bnpipe`` console script."""
    code = main()
    # A run leaves millions of objects (MLflow, Prefect, GX, pandas); the garbage
    # collections of interpreter shutdown walked them for ~1.2 s after the result
    # was printed. Frozen objects are skipped; atexit handlers still run.
    gc.freeze()
    sys.exit(code)

"""``bnpipe``: the command line.

One module per job: :mod:`~bnpipe.ops.cli.parser` (the arguments),
:mod:`~bnpipe.ops.cli.main` (the entry and its exit codes), a module per group of
commands (:mod:`~bnpipe.ops.cli.datasets`, :mod:`~bnpipe.ops.cli.run`,
:mod:`~bnpipe.ops.cli.sweep`, :mod:`~bnpipe.ops.cli.models`,
:mod:`~bnpipe.ops.cli.stack`) and what they share. The work is in the core; a
command reads its arguments, calls it and prints.

Heavy libraries (TensorFlow, MLflow, Great Expectations, Prefect) are imported
inside the commands that need them: ``bnpipe datasets`` answers at once.
Exit codes: 0 success, 1 data or runtime failure, 2 usage error. Errors are one
clear line; ``--debug`` shows the traceback.
"""

from __future__ import annotations

from bnpipe.ops.cli.errors import DataError, UsageError, error_line
from bnpipe.ops.cli.main import entry, main
from bnpipe.ops.cli.parser import build_parser

__all__ = ["DataError", "UsageError", "build_parser", "entry", "error_line", "main"]

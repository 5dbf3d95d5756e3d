"""Operations: the ``bnpipe`` command and what it starts and stops.

The command line (:mod:`bnpipe.ops.cli`), the local and team stack
(:mod:`bnpipe.ops.stack`), the servers it runs (:mod:`bnpipe.ops.tempserver`,
:mod:`bnpipe.ops.pgserver`), the stack's credentials, the Dask cluster and the
process and signal handling they share. The core (every other ``bnpipe`` module)
never imports this package: an import-linter contract in ``pyproject.toml``
keeps it so (docs/architecture.md).
"""

"""``python -m bnpipe.ops.cli``: the ``bnpipe`` command."""

from bnpipe.ops.cli.main import entry

entry()

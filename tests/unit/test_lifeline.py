"""A helper started through ``bnpipe.ops.lifeline`` dies with its parent, even a SIGKILLed one."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from bnpipe.processes import is_alive


def test_the_helper_dies_with_its_sigkilled_parent(tmp_path):
    script = textwrap.dedent(
        """
        import subprocess, sys, time
        from bnpipe.ops import lifeline
        argv, read_fd, keep = lifeline.tied([sys.executable, "-c", "import time; time.sleep(600)"])
        proc = subprocess.Popen(argv, pass_fds=(read_fd,), process_group=0)
        print(proc.pid, flush=True)
        time.sleep(600)
        """
    )
    (tmp_path / "parent.py").write_text(script)
    parent = subprocess.Popen(
        [sys.executable, str(tmp_path / "parent.py")], stdout=subprocess.PIPE, text=True
    )
    supervisor = int(parent.stdout.readline())
    deadline = time.monotonic() + 10
    helpers: list[int] = []
    while not helpers and time.monotonic() < deadline:  # the supervisor's child
        children = Path(f"/proc/{supervisor}/task/{supervisor}/children")
        helpers = [int(p) for p in children.read_text().split()] if children.exists() else []
        time.sleep(0.05)
    assert helpers, "the supervisor did not start its helper"
    try:
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait(timeout=10)
        deadline = time.monotonic() + 10
        while (is_alive(supervisor) or is_alive(helpers[0])) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not is_alive(helpers[0]), "the helper outlived its SIGKILLed parent"
        assert not is_alive(supervisor)
    finally:
        for pid in (supervisor, *helpers):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def test_the_supervisor_passes_the_exit_code_on():
    from bnpipe.ops import lifeline

    argv, read_fd, keep = lifeline.tied([sys.executable, "-c", "raise SystemExit(7)"])
    try:
        code = subprocess.run(argv, pass_fds=(read_fd,), timeout=30).returncode
    finally:
        os.close(read_fd)
        os.close(keep)
    assert code == 7

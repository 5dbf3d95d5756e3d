"""Tie a helper process's life to this one's, also when this one is SIGKILLed.

``tied(argv)`` returns the argv to start instead, and the file descriptor to
pass to it (``pass_fds``). The started process is a small supervisor
(``python -m bnpipe.ops.lifeline FD -- ARGV...``): it runs ``argv`` in its own
process group and reads from FD, a pipe whose write end only this process
holds. The kernel closes that end when this process ends, however it ends; the
supervisor reads EOF and stops its process group (SIGTERM, then SIGKILL after
``GRACE`` seconds). It is the mechanism Dask's nanny uses for its workers.

``prctl(PR_SET_PDEATHSIG)`` would not do: it fires when the *thread* that
started the child exits, and bnpipe starts its helpers from short-lived threads.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time

GRACE = 5.0


def tied(argv: list[str]) -> tuple[list[str], int, int]:
    """``(supervisor argv, read fd for pass_fds, write fd to keep open)``. After the
    start, close the read fd here; close the write fd to stop the helper."""
    read_fd, write_fd = os.pipe()  # both not inheritable: only pass_fds hands one on
    return (
        [sys.executable, "-m", "bnpipe.ops.lifeline", str(read_fd), "--", *argv],
        read_fd,
        write_fd,
    )


def _supervise(fd: int, argv: list[str]) -> int:
    child = subprocess.Popen(argv)  # in this process's group (the caller started a new one)

    def watch() -> None:
        try:
            while os.read(fd, 1024):
                pass
        except OSError:
            pass
        if child.poll() is None:  # the parent is gone: stop the group, this process included
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGTERM)
            deadline = time.monotonic() + GRACE
            while child.poll() is None and time.monotonic() < deadline:
                time.sleep(0.1)
            with contextlib.suppress(OSError):
                os.killpg(0, signal.SIGKILL)

    threading.Thread(target=watch, daemon=True).start()
    code = child.wait()
    return code if code >= 0 else 128 - code


if __name__ == "__main__":
    if len(sys.argv) < 4 or sys.argv[2] != "--":
        sys.exit("usage: python -m bnpipe.ops.lifeline FD -- ARGV...")
    sys.exit(_supervise(int(sys.argv[1]), sys.argv[3:]))

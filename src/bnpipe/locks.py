"""Exclusive file locks (``flock``) between processes and threads on this machine.

:func:`file_lock` waits for the lock (as long as it takes, up to ``timeout``
seconds, or until ``stop`` is set); :func:`try_file_lock` takes it only if it
is free. Both make the lock file's folder, and the lock goes with the open file:
it is released when the block ends, and by the kernel when the process dies.
Each call opens the file anew, so two threads of one process exclude each
other too.
"""

from __future__ import annotations

import contextlib
import fcntl
import threading
import time
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.1  # between attempts, when waiting with a timeout or a stop event


class LockTimeout(TimeoutError):
    """The lock was not taken: its timeout passed, or the ``stop`` event was set."""


@contextlib.contextmanager
def _opened(path: Path) -> Iterator:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as fh:
        yield fh


def _try(fh) -> bool:
    try:
        fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    timeout: float | None = None,
    stop: threading.Event | None = None,
    poll: float = POLL_SECONDS,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block.

    Without ``timeout`` and ``stop`` it waits in the kernel as long as another
    holder keeps the lock. Otherwise it tries every ``poll`` seconds and raises
    :class:`LockTimeout` once ``timeout`` seconds have passed or ``stop`` is set.
    """
    with _opened(path) as fh:
        if timeout is None and stop is None:
            fcntl.flock(fh, fcntl.LOCK_EX)
        else:
            deadline = None if timeout is None else time.monotonic() + timeout
            while not _try(fh):
                left = poll if deadline is None else min(poll, deadline - time.monotonic())
                if left <= 0:
                    raise LockTimeout(f"{path} is locked by another process ({timeout:g} s)")
                if stop is not None and stop.wait(left):
                    raise LockTimeout(f"stopped while waiting for the lock on {path}")
                if stop is None:
                    time.sleep(left)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


@contextlib.contextmanager
def try_file_lock(path: Path) -> Iterator[bool]:
    """The lock on ``path`` if it is free: yields True holding it for the block,
    or False at once (holding nothing) when another holder has it."""
    with _opened(path) as fh:
        if not _try(fh):
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)

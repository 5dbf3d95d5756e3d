"""Exclusive file locks between processes and threads on this machine
(``filelock``, an ``flock`` on Linux).

:func:`file_lock` waits for the lock (as long as it takes, up to ``timeout``
seconds, or until ``stop`` is set); :func:`try_file_lock` takes it only if it
is free. Both make the lock file's folder; the lock is released when the block
ends, and by the kernel when the process dies. Each call takes a lock object of
its own, so two threads of one process exclude each other too.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path

POLL_SECONDS = 0.1  # between attempts, when waiting with a timeout or a stop event


class LockTimeout(TimeoutError):
    """The lock was not taken: its timeout passed, or the ``stop`` event was set."""


def _lock(path: Path):
    from filelock import FileLock

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The file stays: removing it on release lets a waiter lock a file already unlinked.
    return FileLock(path, thread_local=False, preserve_lock_file=True)


@contextlib.contextmanager
def file_lock(
    path: Path,
    *,
    timeout: float | None = None,
    stop: threading.Event | None = None,
    poll: float = POLL_SECONDS,
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` for the block; :class:`LockTimeout` once
    ``timeout`` seconds have passed or ``stop`` is set while another holder has it."""
    from filelock import Timeout

    lock = _lock(path)
    try:
        lock.acquire(
            timeout=-1 if timeout is None else timeout,
            poll_interval=poll,
            cancel_check=stop.is_set if stop is not None else None,
        )
    except Timeout:
        if stop is not None and stop.is_set():
            raise LockTimeout(f"stopped while waiting for the lock on {path}") from None
        raise LockTimeout(f"{path} is locked by another process ({timeout:g} s)") from None
    try:
        yield
    finally:
        lock.release()


@contextlib.contextmanager
def try_file_lock(path: Path) -> Iterator[bool]:
    """The lock on ``path`` if it is free: yields True holding it for the block,
    or False at once (holding nothing) when another holder has it."""
    from filelock import Timeout

    lock = _lock(path)
    try:
        lock.acquire(blocking=False)
    except Timeout:
        yield False
        return
    try:
        yield True
    finally:
        lock.release()

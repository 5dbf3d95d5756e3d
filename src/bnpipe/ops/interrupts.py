"""Ctrl-C, SIGTERM and SIGHUP that a run cannot miss.

``bnpipe`` turns each of them into an exception in the main thread, so that the
flow ends its open MLflow runs KILLED and stops its helpers on the way out
(:func:`install`, called once by the CLI). Two ways a signal used to be lost:

* **An inherited "ignore".** A shell without job control starts background
  commands with SIGINT ignored, and Python keeps an ignored SIGINT as it is: a
  ``bnpipe run`` started from such a script (or CI) trained on through a
  ``kill -INT``. :func:`install` sets the handlers whatever was inherited.
* **A swallowed exception.** The handler's exception is raised wherever the main
  thread is at that moment, which can be library code that catches
  ``BaseException`` (a finalizer, a log handler, a future). The signal is also
  recorded, and code that waits for long can call :func:`check`, which raises
  it again.

The handler writes one line to stderr at once (``bnpipe: SIGINT received:
stopping``), so a user, and a test, sees that the signal arrived.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator


class Interrupted(KeyboardInterrupt):
    """Ctrl-C (SIGINT): exit code 130."""

    exit_code = 130


class Terminated(Interrupted):
    """SIGTERM or SIGHUP: exit code 128 + the signal's number, as a shell reports a
    process the signal killed (143 for SIGTERM, 129 for SIGHUP)."""

    exit_code = 128 + signal.SIGTERM

    def __init__(self, message: str, signum: int = signal.SIGTERM) -> None:
        super().__init__(message)
        self.exit_code = 128 + int(signum)


HANDLED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)
_pending: int | None = None  # the first signal received, until reset()
_deferring = 0  # inside deferred(): record, raise on the way out
_stopped: BaseException | None = None  # a stop that came as an exception (see stop())


def exception_for(signum: int) -> Interrupted:
    if signum == signal.SIGINT:
        return Interrupted("interrupted")
    return Terminated(f"terminated by signal {signum}", signum)


def _received(signum: int) -> None:
    global _pending
    if _pending is None:
        _pending = signum
        # os.write: print() here could re-enter a buffered write the main thread was in
        os.write(2, f"bnpipe: {signal.Signals(signum).name} received: stopping\n".encode())


def signal_of(exc: BaseException) -> int | None:
    """The signal behind ``exc`` when it is a signal's own exception under another
    name: while a flow runs, Prefect's engine replaces the SIGTERM handler with
    one raising its ``TerminationSignal`` (a BaseException with ``.signal``).
    Recognised by shape, so that this module needs no Prefect."""
    if isinstance(exc, (Interrupted, Exception)):
        return None
    signum = getattr(exc, "signal", None)
    return signum if isinstance(signum, int) and signum in HANDLED else None


def _handler(signum: int, frame) -> None:
    _received(signum)
    if _deferring:
        return
    raise exception_for(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold a signal's exception until the block is done (then raise it).

    For steps that must not stop halfway: starting a child process, whose
    interpreter reads its start-up data from a pipe that a half-done parent
    would close (the child then prints ``EOFError: Ran out of input``). Blocking
    the signal in this thread is not enough: with other threads alive, one of
    them takes it and the main thread still raises at its next bytecode."""
    with held():
        yield
    if not _deferring:
        check()


@contextlib.contextmanager
def held() -> Iterator[None]:
    """Hold a signal's exception while the block runs, and then drop it: for
    clean-up on the way out of an interrupted step (an exception is already on
    its way), which a second Ctrl-C must not cut short. The signal stays
    recorded (:func:`pending`)."""
    global _deferring
    _deferring += 1
    try:
        yield
    finally:
        _deferring -= 1


def install() -> None:
    """Handle SIGINT, SIGTERM and SIGHUP in this process (main thread only)."""
    reset()
    for signum in HANDLED:
        signal.signal(signum, _handler)


def pending() -> int | None:
    """The signal received so far, if any."""
    return _pending


def check() -> None:
    """Raise the received signal's exception again, if a signal came, or
    :class:`Interrupted` while a stop is under way (a no-op otherwise).

    Call it between steps and where a thread waits for long, never in clean-up
    code. The flow's other threads (one dataset's comparison each) call it too:
    a signal reaches the main thread only."""
    if _pending is not None:
        raise exception_for(_pending)
    if _stopped is not None:
        raise Interrupted(f"stopped: {type(_stopped).__name__}")


@contextlib.contextmanager
def stopping_others(exc: BaseException) -> Iterator[None]:
    """While the block runs, every other thread's :func:`check` raises: the main
    thread got ``exc`` (Ctrl-C, SIGTERM, a cancelled flow run) and waits in the
    block for the datasets' threads to end their runs KILLED."""
    global _stopped
    signum = signal_of(exc)
    if signum is not None:  # SIGTERM through Prefect's handler: as if ours had got it
        _received(signum)
    _stopped = exc
    try:
        with held():
            yield
    finally:
        _stopped = None


def stop_reason(exc: BaseException) -> BaseException:
    """What ended a run that ``exc`` ended: ``exc`` itself, unless it is an error
    raised because the run stops (a Dask job cancelled by the stop): then the stop,
    so that the run ends KILLED, not FAILED."""
    if not isinstance(exc, Exception):
        return exc
    if _pending is not None:
        return exception_for(_pending)
    return _stopped or exc


def reset() -> None:
    """Forget a received signal (tests; a process that goes on after handling one)."""
    global _pending, _stopped
    _pending = _stopped = None

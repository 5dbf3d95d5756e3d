"""Signals reach a run: an inherited "ignore" and a swallowed exception lose none.

Each case runs in a child process started the way a shell without job control
starts a background command (SIGINT ignored), so the tests prove delivery in the
worst case rather than hope for a terminal's defaults.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time

import pytest

# The child: install bnpipe's handlers, say it is ready, then wait as the flow does.
# Mode "swallow": the first exception is eaten by "library code" (as a finalizer or
# a future would); the wait loop's interrupts.check() must raise it again.
CHILD = r"""
import sys, time
from bnpipe.ops import interrupts
interrupts.install()
mode = sys.argv[1]
print("ready", flush=True)
try:
    swallowed = False
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            time.sleep(0.05)
        except BaseException:
            if mode != "swallow" or swallowed:
                raise
            swallowed = True  # library code that catches BaseException
            print("swallowed", flush=True)
        interrupts.check()
    print("not interrupted", flush=True)
    sys.exit(0)
except KeyboardInterrupt as exc:
    print(f"caught {type(exc).__name__}: {exc}", flush=True)
    sys.exit(exc.exit_code)
"""


def run_child(mode: str, signum: int) -> tuple[int, str, str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CHILD, mode],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # what `cmd &` in a non-interactive shell does to its children
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        assert proc.stdout.readline().strip() == "ready"
        time.sleep(0.2)
        proc.send_signal(signum)
        out, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc.returncode, "ready\n" + out, err


@pytest.mark.parametrize(
    ("signum", "code", "caught"),
    [
        (signal.SIGINT, 130, "caught Interrupted: interrupted"),
        (signal.SIGTERM, 143, "caught Terminated: terminated by signal 15"),
        (signal.SIGHUP, 129, "caught Terminated: terminated by signal 1"),
    ],
)
def test_a_signal_is_delivered_even_when_the_parent_ignored_sigint(signum, code, caught):
    rc, out, err = run_child("plain", signum)
    assert rc == code, out + err
    assert caught in out
    assert f"bnpipe: {signal.Signals(signum).name} received: stopping" in err


def test_a_swallowed_interrupt_is_raised_again_by_check():
    rc, out, err = run_child("swallow", signal.SIGINT)
    assert "swallowed" in out, out + err
    assert rc == 130 and "caught Interrupted" in out, out + err
    assert err.count("received: stopping") == 1  # one line, however often it is raised


def test_check_is_a_no_op_without_a_signal():
    from bnpipe.ops import interrupts

    interrupts.reset()
    interrupts.check()
    assert interrupts.pending() is None


def test_a_sigterm_that_prefect_raised_stops_the_other_threads_as_a_sigterm(capfd):
    """While a flow runs, Prefect's engine owns SIGTERM and raises its own
    TerminationSignal: the datasets' threads must still stop as for SIGTERM
    (exit 143, runs KILLED), not as for an unnamed stop."""
    from prefect.exceptions import TerminationSignal

    from bnpipe.ops import interrupts
    from bnpipe.tracking.runs import status_for

    interrupts.reset()
    prefects = TerminationSignal(signal.SIGTERM)
    assert interrupts.signal_of(prefects) == signal.SIGTERM
    assert interrupts.signal_of(KeyboardInterrupt()) is None
    assert interrupts.signal_of(RuntimeError("signal")) is None
    try:
        with interrupts.stopping_others(prefects):
            with pytest.raises(interrupts.Terminated) as raised:
                interrupts.check()  # what a dataset's thread calls
            assert raised.value.exit_code == 143
            assert status_for(interrupts.stop_reason(RuntimeError("job cancelled"))) == "KILLED"
        assert "bnpipe: SIGTERM received: stopping" in capfd.readouterr().err
    finally:
        interrupts.reset()


DEFERRED = r"""
import sys, time
from bnpipe.ops import interrupts
interrupts.install()
print("ready", flush=True)
try:
    with interrupts.deferred():
        time.sleep(1.0)  # the signal comes in here
        print("block finished", flush=True)
    print("not interrupted", flush=True)
except KeyboardInterrupt as exc:
    print(f"caught {type(exc).__name__}", flush=True)
    sys.exit(exc.exit_code)
"""


def test_a_deferred_block_finishes_before_the_signal_is_raised():
    proc = subprocess.Popen(
        [sys.executable, "-c", DEFERRED], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    assert out.splitlines() == ["block finished", "caught Interrupted"]
    assert "SIGINT received: stopping" in err


HELD = """
import sys, time
from bnpipe.ops import interrupts
interrupts.install()
try:
    print("ready", flush=True)
    time.sleep(5)  # the first signal comes in here
except KeyboardInterrupt as exc:
    with interrupts.held():
        print("cleaning up", flush=True)
        time.sleep(1.0)  # the second signal comes in here
        print("clean-up finished", flush=True)
    print(f"pending {interrupts.pending()}", flush=True)
    sys.exit(exc.exit_code)
"""


def test_a_second_signal_does_not_cut_a_held_clean_up_short():
    proc = subprocess.Popen(
        [sys.executable, "-c", HELD], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "ready"
    proc.send_signal(signal.SIGINT)
    assert proc.stdout.readline().strip() == "cleaning up"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130, out + err
    assert out.splitlines() == ["clean-up finished", f"pending {int(signal.SIGINT)}"]
    assert "Traceback" not in err, err

"""bnpipe.locks: one holder at a time, between threads and between processes; the
try-lock answers at once; a wait ends on its timeout or its stop event."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
import time

import pytest

from bnpipe.locks import LockTimeout, file_lock, try_file_lock


def test_the_lock_files_folder_is_made_and_the_lock_released(tmp_path):
    path = tmp_path / "deep" / "er" / "x.lock"
    with file_lock(path):
        assert path.is_file()
        with try_file_lock(path) as got:
            assert not got
    with try_file_lock(path) as got:
        assert got


def test_a_second_thread_waits_until_the_first_lets_go(tmp_path):
    path = tmp_path / "x.lock"
    events: list[str] = []

    def second() -> None:
        with file_lock(path):
            events.append("second in")

    with file_lock(path):
        events.append("first in")
        waiter = threading.Thread(target=second)
        waiter.start()
        time.sleep(0.5)  # time for the second thread to reach the lock
        assert waiter.is_alive() and events == ["first in"]
        events.append("first out")
    waiter.join(10)
    assert events == ["first in", "first out", "second in"]


HOLDER = textwrap.dedent(
    """\
    import sys, time
    from bnpipe.locks import file_lock
    with file_lock(sys.argv[1]):
        print("held", flush=True)
        time.sleep(float(sys.argv[2]))
    """
)


def _holder(path, seconds: float) -> subprocess.Popen:
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(path), str(seconds)], stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_another_process_waits_for_the_lock_and_the_try_lock_says_no(tmp_path):
    path = tmp_path / "x.lock"
    proc = _holder(path, 1.0)
    try:
        with try_file_lock(path) as got:
            assert got is False
        started = time.monotonic()
        with file_lock(path):
            waited = time.monotonic() - started
        assert waited > 0.3  # the holder kept it ~1 s
    finally:
        proc.wait(10)


def test_a_lock_held_by_a_killed_process_is_free(tmp_path):
    path = tmp_path / "x.lock"
    proc = _holder(path, 60.0)
    proc.kill()
    proc.wait(10)
    with try_file_lock(path) as got:
        assert got


def test_a_wait_gives_up_at_its_timeout(tmp_path):
    path = tmp_path / "x.lock"
    with file_lock(path):
        started = time.monotonic()
        with pytest.raises(LockTimeout, match="locked"), file_lock(path, timeout=0.3):
            pass
        assert 0.25 < time.monotonic() - started < 3


def test_a_wait_gives_up_when_its_stop_event_is_set(tmp_path):
    path = tmp_path / "x.lock"
    stop = threading.Event()
    outcome: list[BaseException] = []

    def waiter() -> None:
        try:
            with file_lock(path, stop=stop):
                pass
        except LockTimeout as exc:
            outcome.append(exc)

    with file_lock(path):
        thread = threading.Thread(target=waiter)
        thread.start()
        time.sleep(0.3)
        assert thread.is_alive()
        stop.set()
        thread.join(5)
    assert len(outcome) == 1 and "stopped" in str(outcome[0])


def test_a_polling_wait_gets_the_lock_once_it_is_free(tmp_path):
    path = tmp_path / "x.lock"
    proc = _holder(path, 0.5)
    try:
        with file_lock(path, timeout=20, stop=threading.Event()):
            assert proc.wait(10) == 0
    finally:
        proc.wait(10)

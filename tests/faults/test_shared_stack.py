"""The session's shared Prefect server and Dask cluster (tests/servers.py) recover
from what a killed run leaves in them, so that it cannot reach the next test."""

from __future__ import annotations

import time
import uuid

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.e2e]


def test_a_job_its_client_left_running_is_cleared_before_the_next_test(shared_stack):
    """A run killed mid-training leaves its job running in a worker thread (Dask cannot
    stop a thread): ``ensure_usable`` waits a moment for it, then restarts the worker."""
    from distributed import Client

    _, dask = shared_stack
    assert dask.state() == (1, [])

    def train_forever(seconds):  # defined here: sent by value, the worker imports no tests
        import time

        time.sleep(seconds)
        return seconds

    key = f"left-behind-{uuid.uuid4().hex[:8]}"
    with Client(dask.address, timeout=10, set_as_default=False) as killed_run:
        future = killed_run.submit(train_forever, 600, key=key, pure=False)
        deadline = time.monotonic() + 60
        while key not in dask.state()[1]:
            assert time.monotonic() < deadline, dask.state()
            time.sleep(0.1)
    del future
    time.sleep(1)
    assert dask.state()[1] == [key]  # the client is gone, its job runs on

    restarts = len(dask.restarts)
    dask.ensure_usable(drain=1)
    assert len(dask.restarts) == restarts + 1
    assert key in dask.restarts[-1]
    assert dask.state() == (1, [])
    with Client(dask.address, timeout=10, set_as_default=False) as next_run:
        assert next_run.submit(train_forever, 0, pure=False).result(timeout=60) == 0


def test_a_job_that_returns_soon_is_waited_for_not_restarted(shared_stack):
    from distributed import Client

    _, dask = shared_stack

    def short(seconds):
        import time

        time.sleep(seconds)
        return seconds

    with Client(dask.address, timeout=10, set_as_default=False) as run:
        run.submit(short, 2, pure=False)
        deadline = time.monotonic() + 60
        while not dask.state()[1]:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    restarts = len(dask.restarts)
    dask.ensure_usable(drain=30)
    assert len(dask.restarts) == restarts
    assert dask.state() == (1, [])


def test_a_concurrency_slot_a_killed_run_held_is_released(shared_stack):
    """bnpipe's registry lock is a global concurrency limit: one a killed run still
    holds would keep the next test's run of that dataset waiting for its lease."""
    from tests.servers import api_call

    prefect, _ = shared_stack
    api = f"{prefect.api_url}/v2/concurrency_limits"
    held, free = (f"bnpipe-registry-{uuid.uuid4().hex[:8]}" for _ in range(2))
    for name in (held, free):
        api_call("POST", f"{api}/", {"name": name, "limit": 1})
    api_call("POST", f"{api}/increment-with-lease", {"slots": 1, "names": [held]})

    assert prefect.release_leaked_slots() == [held]
    names = {
        limit["name"]: limit["active_slots"] for limit in api_call("POST", f"{api}/filter", {})
    }
    assert held not in names
    assert names[free] == 0

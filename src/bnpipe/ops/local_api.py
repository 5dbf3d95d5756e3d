"""The Prefect API a flow run started in this process (``bnpipe run``) talks to.

The configured one (``PREFECT_API_URL``, as ``bnpipe stack env`` sets it for the
stack), or else a temporary server started for the run
(:mod:`bnpipe.ops.tempserver`: what Prefect's ephemeral mode does, but booting in
the background while the caller imports MLflow, in its own process group)::

    with prefect_api(prefect_home, log_dir) as api:   # a temporary server starts booting
        ...  # slow imports
        with api.connected():                           # waits for it; Prefect uses it
            bn_comparison(...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from bnpipe.ops.tempserver import TemporaryServer


class LocalApi:
    def __init__(self, url: str | None, server: TemporaryServer | None):
        self.url, self.server = url, server

    def describe(self) -> str:
        if self.server is None:
            return f"Prefect API {self.url}"
        return f"a temporary Prefect server (no PREFECT_API_URL; log {self.server.log_path})"

    @contextlib.contextmanager
    def connected(self) -> Iterator[str]:
        """Prefect calls inside go to this API; a temporary server's queued logs and
        events are delivered before the block ends, while it still answers."""
        if self.server is None:
            yield self.url
            return
        from prefect.settings import PREFECT_API_URL, PREFECT_UI_URL, temporary_settings

        url = self.server.wait_ready()
        # No UI URL: Prefect's "View at <url>" line would link to a server that is
        # gone when the run ends (and it runs without its UI).
        with temporary_settings(updates={PREFECT_API_URL: url, PREFECT_UI_URL: ""}):
            try:
                yield url
            finally:
                _drain()


def _drain() -> None:
    from prefect.events.worker import EventsWorker
    from prefect.logging.handlers import APILogHandler

    with contextlib.suppress(Exception):
        APILogHandler.flush()
    with contextlib.suppress(Exception):
        EventsWorker.drain_all(timeout=5)


@contextlib.contextmanager
def prefect_api(prefect_home: Path, log_dir: Path) -> Iterator[LocalApi]:
    """The configured Prefect API, or a temporary server (stopped on the way out)."""
    from prefect.settings import get_current_settings

    url = get_current_settings().api.url
    if url:
        yield LocalApi(url, None)
        return
    server = TemporaryServer(prefect_home, log_dir).start()
    try:
        yield LocalApi(None, server)
    finally:
        server.stop()

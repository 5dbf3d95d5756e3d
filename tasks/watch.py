"""The watch's one task: look at a dataset's upstream, announce a change."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import watch
from bnpipe.catalog import DatasetSpec
from bnpipe.settings import Settings
from bnpipe.tasks import events


@task(name="check-upstream", cache_policy=NO_CACHE, timeout_seconds=300)
def check_upstream(spec: DatasetSpec, settings: Settings) -> dict:
    """A conditional request and the SHA-256; on new content, the event
    ``bnpipe.data.changed`` (old and new SHA-256 in its payload), once. The first
    look at a dataset records what it saw (see ``bnpipe.watch``)."""
    logger = get_run_logger()
    result = watch.check(spec, settings, log=logger.info)
    logger.info("%s", result.line())
    if result.first:  # a new stack: what it serves now is the reference, not news
        watch.announce(settings, result)
    elif result.changed:
        payload = {"old_sha256": result.old_sha256, "new_sha256": result.new_sha256}
        if events.emit(events.CHANGED, spec.name, payload | {"url": result.url}):
            watch.announce(settings, result)  # else the next check announces it again
    return result.to_dict()

"""Does the data leak the target? The leak check of a run's training rows."""

from __future__ import annotations

from prefect import get_run_logger, task
from prefect.cache_policies import NO_CACHE

from bnpipe import leaks
from bnpipe.catalog import DatasetSpec
from bnpipe.features import Encoded
from bnpipe.references import References
from bnpipe.tracking import ParentRun


@task(name="leak-check", cache_policy=NO_CACHE)
def check_leaks(parent: ParentRun, spec: DatasetSpec, data: Encoded, refs: References) -> list[str]:
    """Features that may reproduce the target (``bnpipe.leaks.in_run``: the
    training rows, and the linear reference's test score); tag ``leak_check`` on
    the parent run (``none``, or the findings); each finding is a reason to hold
    the promotion for review."""
    found = leaks.in_run(spec, data, refs.linear_metrics)
    reasons = [leak.line(spec.target) for leak in found]
    parent.tag({"leak_check": "; ".join(reasons)[:5000] if reasons else "none"})
    logger = get_run_logger()
    for reason in reasons:
        logger.warning("%s: %s", spec.name, reason)
    if found:
        logger.warning("%s: %s", spec.name, leaks.drop_hint(found))
    return reasons

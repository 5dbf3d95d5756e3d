"""How a comparison's MLflow run ends, and what the flow's state says at the end.

* :func:`closing` wraps the stages of one dataset: an exception ends its open
  run FAILED (its error logged, a data refusal emitted as an event) and is
  raised again, so the dataset's subflow fails and the others go on; a stop
  (Ctrl-C, SIGTERM, a cancelled flow run) ends it KILLED; the end of the block
  ends it FINISHED.
* :func:`outcome` is a flow's return: the first failure raised (naming the
  others), else a Completed state named ``Held`` or ``Unchanged`` when that is
  what happened.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping

from prefect import get_run_logger
from prefect.states import Completed

from bnpipe import reuse
from bnpipe.ops import interrupts
from bnpipe.results import FAILURE_LOG_FIELD, ComparisonResult
from bnpipe.tasks import events
from bnpipe.tracking import ParentRun
from bnpipe.validation import DataValidationError

UNCHANGED_STATE = "Unchanged"  # a flow run whose every dataset was unchanged


class Guard:
    """The MLflow run a comparison has open, for :func:`closing` to end."""

    def __init__(self) -> None:
        self.run: ParentRun | None = None

    def open(self, run: ParentRun) -> ParentRun:
        self.run = run
        return run


@contextlib.contextmanager
def closing(name: str, *, end: bool = True) -> Iterator[Guard]:
    """The run ``guard.open(run)`` names ends as the block ends: FINISHED (unless
    ``end`` is False), FAILED on an exception (named in the log, a data refusal
    emitted as an event), KILLED on a stop; the exception goes on. A signal some
    library swallowed is raised on the way in (``interrupts.check``)."""
    guard = Guard()
    try:
        interrupts.check()
        yield guard
    except BaseException as exc:
        with interrupts.held():  # a second Ctrl-C must not cut the clean-up short
            failed(name, exc, guard.run)
        raise
    if end and guard.run is not None:
        guard.run.end()


def failed(name: str, exc: BaseException, run: ParentRun | None = None) -> None:
    """Say that ``name``'s comparison failed, and end its run (when one is open)."""
    stopped = interrupts.stop_reason(exc)  # a job cancelled because the run stops
    if not isinstance(stopped, KeyboardInterrupt | SystemExit):
        get_run_logger().error(
            "%s: comparison failed: %s", name, exc, extra={FAILURE_LOG_FIELD: name}
        )
    if run is None:
        return
    if isinstance(exc, DataValidationError):
        events.emit(events.REFUSED, name, {"reason": str(exc), "run_id": run.run_id})
    run.end(stopped)


def outcome(out: Mapping[str, ComparisonResult | dict], errors: Mapping[str, BaseException]):
    """A flow's return: the first error raised (the others named on it for the
    terminal); else the results (a comparison's, or a sweep's dict), in a
    Completed state named ``Held`` (and an event per dataset) when a promotion
    was held, ``Unchanged`` when no dataset trained."""
    if errors:
        first, *others = errors.items()
        # the caller (bnpipe run) names every failed dataset, not only the first
        first[1].other_failures = others  # type: ignore[attr-defined]
        raise first[1]
    rows = {n: r.to_dict() if isinstance(r, ComparisonResult) else r for n, r in out.items()}
    held = {n: r["promotion"]["holds"] for n, r in rows.items() if r["outcome"] == "held"}
    for name, reasons in held.items():
        payload = {"reasons": reasons, "version": rows[name]["promotion"]["version"]}
        events.emit(events.HELD, name, payload | {"run_id": rows[name]["run_id"]})
    messages = [f"{n}: promotion held: {'; '.join(r)}" for n, r in held.items()]
    messages += [r["reused"]["message"] for r in rows.values() if r["outcome"] == reuse.UNCHANGED]
    if held:
        return Completed(name="Held", message="; ".join(messages), data=dict(out))
    if rows and all(r["outcome"] == reuse.UNCHANGED for r in rows.values()):
        # trained nothing: a state name the runs list and `--watch` show
        return Completed(name=UNCHANGED_STATE, message="; ".join(messages), data=dict(out))
    if messages:  # some trained, some unchanged: the message names those reused
        return Completed(message="; ".join(messages), data=dict(out))
    return dict(out)

"""Prefect events for outcomes a person should hear about (an automation can notify).

``bnpipe.promotion.held`` (a run judged its challenger but held it for review),
``bnpipe.data.refused`` (the data failed a check before training) and
``bnpipe.data.changed`` (the ``bn-watch`` deployment saw new content upstream;
the ``bn-comparison`` deployments are triggered by it), each with the dataset as
its resource ``bnpipe.dataset.<name>``. A scheduled run that nobody sees fail is
no gate.
"""

from __future__ import annotations

from prefect import get_run_logger

HELD = "bnpipe.promotion.held"
REFUSED = "bnpipe.data.refused"
CHANGED = "bnpipe.data.changed"  # the watch saw new content; bn-comparison's trigger


def resource(dataset: str) -> dict[str, str]:
    return {"prefect.resource.id": f"bnpipe.dataset.{dataset}", "prefect.resource.name": dataset}


def emit(event: str, dataset: str, payload: dict) -> bool:
    """Emit ``event`` about ``dataset``; an event that cannot be sent is a warning
    (and False)."""
    from prefect.events import emit_event

    try:
        sent = emit_event(event=event, resource=resource(dataset), payload=payload)
    except Exception as exc:  # noqa: BLE001 - the outcome stands without its event
        get_run_logger().warning("%s: could not emit %s: %s", dataset, event, exc)
        return False
    if sent is None:  # Prefect emits nothing when no events client is configured
        get_run_logger().warning("%s: %s not emitted: no Prefect events client", dataset, event)
        return False
    return True

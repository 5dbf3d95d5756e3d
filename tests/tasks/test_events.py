"""tasks.events: a Prefect event about a dataset, or a warning and False."""

from __future__ import annotations

from bnpipe.tasks import events as task_events


def test_an_event_names_its_dataset_as_the_resource(events):
    assert task_events.emit(task_events.HELD, "iris", {"reasons": ["drift"], "version": "3"})
    [event] = events()
    assert event.event == "bnpipe.promotion.held"
    assert event.resource.id == "bnpipe.dataset.iris" and event.resource.name == "iris"
    assert event.payload == {"reasons": ["drift"], "version": "3"}


def test_an_event_that_cannot_be_sent_is_false(no_events_client):
    assert task_events.emit(task_events.CHANGED, "iris", {}) is False

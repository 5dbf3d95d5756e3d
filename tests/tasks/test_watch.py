"""tasks.watch.check_upstream: a look at a served dataset, an event on new content."""

from __future__ import annotations

import hashlib

from bnpipe.tasks.watch import check_upstream


def one_row_fewer(path) -> bytes:
    """The CSV's bytes without its last row: new content, still a good CSV."""
    return path.read_bytes().rstrip(b"\r\n").rsplit(b"\n", 1)[0] + b"\n"


def test_the_first_look_records_and_new_content_is_announced_once(upstream, events):
    server, settings, spec = upstream
    first = check_upstream.fn(spec, settings)
    assert first["first"] and not first["changed"]
    assert events() == []  # a new stack's first look is not news

    again = check_upstream.fn(spec, settings)
    assert again["not_modified"] and not again["changed"]
    assert server.answers[-1] == ("/iris.csv", 304)

    changed = one_row_fewer(server.root / "iris.csv")
    server.put("iris.csv", changed)
    news = check_upstream.fn(spec, settings)
    assert news["changed"] and news["new_sha256"] == hashlib.sha256(changed).hexdigest()
    [event] = events()
    assert event.event == "bnpipe.data.changed" and event.resource.id == "bnpipe.dataset.iris"
    assert event.payload["old_sha256"] == first["new_sha256"]
    assert event.payload["new_sha256"] == news["new_sha256"]

    after = check_upstream.fn(spec, settings)  # announced: not news again
    assert not after["changed"] and events() == [event]


def test_a_change_whose_event_is_not_sent_is_announced_again(upstream, no_events_client):
    server, settings, spec = upstream
    check_upstream.fn(spec, settings)
    server.put("iris.csv", one_row_fewer(server.root / "iris.csv"))
    assert check_upstream.fn(spec, settings)["changed"]
    assert check_upstream.fn(spec, settings)["changed"]  # the next check tries again

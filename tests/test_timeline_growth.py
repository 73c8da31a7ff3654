"""Adding events to a long timeline sorts only the events added (``add_code`` in a loop was
quadratic: 4,000 beats took 12 s, 16 M sort-key calls; review: technical animator, finding 5),
and gives the very timeline a full sort gives."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

import facs_rig.core.timeline as timeline_module
from facs_rig import Channel, load_vocabulary
from facs_rig.core.timeline import AUEvent, CodeMark, Timeline


def _counting_keys(monkeypatch) -> list[int]:
    calls = [0]
    original = timeline_module._event_order

    def counted(event):
        calls[0] += 1
        return original(event)

    monkeypatch.setattr(timeline_module, "_event_order", counted)
    return calls


def test_adding_an_event_to_a_long_timeline_sorts_only_it(monkeypatch):
    events = tuple(AUEvent(Channel(12), 0.5, 0.1 * k) for k in range(2000))
    timeline = Timeline(events)
    calls = _counting_keys(monkeypatch)
    first = timeline.with_events(timeline.events + (AUEvent(Channel(6), 0.5, 3.0),))
    assert calls[0] == 2001  # the timeline's keys, once
    calls[0] = 0
    second = first.with_events(first.events + (AUEvent(Channel(1), 0.5, 0.0),))
    marked = second.with_marks(second.marks + (CodeMark(50, 1.0, 2.0),))
    assert calls[0] == 1
    assert marked == Timeline(events + (AUEvent(Channel(6), 0.5, 3.0), AUEvent(Channel(1), 0.5, 0.0)),
                              marks=(CodeMark(50, 1.0, 2.0),))
    assert marked.events[0] == AUEvent(Channel(1), 0.5, 0.0)


def test_add_code_in_a_loop_sorts_each_beat_once(monkeypatch):
    vocabulary = load_vocabulary()
    timeline = Timeline(fps=60)
    calls = _counting_keys(monkeypatch)
    for k in range(400):
        timeline = timeline.add_code("45", vocabulary, at=3.0 * k)
    assert len(timeline.events) == 400
    assert calls[0] <= 2 * 400  # was 80,000 (every event sorted again at every beat, twice)


_EVENTS = st.builds(
    AUEvent, st.sampled_from([Channel(1), Channel(12), Channel(12, "L"), Channel(45)]),
    st.sampled_from([0.25, 0.5, 1.0]), st.sampled_from([0.0, 0.5, 1.0, 2.5]),
    st.sampled_from([0.1, 0.3]), st.sampled_from([0.0, 0.5]), st.sampled_from([0.2, 0.6]),
    note=st.sampled_from([None, "a", "b"]))


@settings(max_examples=200, deadline=None)
@given(batches=st.lists(st.lists(_EVENTS, max_size=4), max_size=6),
       duration=st.sampled_from([None, 0.5, 10.0]))
def test_growing_a_timeline_gives_what_one_sort_gives(batches, duration):
    timeline = Timeline((), duration)
    everything: tuple[AUEvent, ...] = ()
    for batch in batches:
        everything += tuple(batch)
        timeline = timeline.with_events(timeline.events + tuple(batch))
    expected = Timeline((), duration).with_events(everything)
    assert timeline == expected
    assert timeline.events == expected.events and timeline.duration == expected.duration

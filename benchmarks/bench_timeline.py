"""Benchmarks of AU timelines: dense sampling (issue 3 target: 1 h at 60 fps, 40 channels,
2,000 events in at most 0.2 s on one core) and reading AU notes."""

from __future__ import annotations

import numpy as np
from run import Benchmark, best_of

from facs_rig import load_vocabulary
from facs_rig.core.channels import Channel
from facs_rig.core.timeline import EASINGS, AUEvent, Timeline, sample
from facs_rig.io.au_notes import format_au_notes, parse_au_notes


def hour_long_timeline(*, hours: float = 1.0, n_channels: int = 40, n_events: int = 2000,
                       seed: int = 3) -> Timeline:
    """Random events of 0.2-6 s spread over ``hours``, on ``n_channels`` distinct channels."""
    rng = np.random.default_rng(seed)
    channels = [Channel(au, side) for au in range(1, 30) for side in (None, "L", "R")][:n_channels]
    duration = hours * 3600.0
    events = []
    for index in range(n_events):
        onset, apex, offset = rng.uniform(0.05, 2.0, size=3)
        events.append(AUEvent(channels[index % n_channels], float(rng.uniform(0.1, 1.0)),
                              float(rng.uniform(0, duration - 6.0)), float(onset), float(apex),
                              float(offset), EASINGS[index % 3], EASINGS[(index + 1) % 3]))
    return Timeline(tuple(events), duration, 60.0)


def benchmarks(quick: bool) -> list[Benchmark]:
    timeline = hour_long_timeline(hours=0.1 if quick else 1.0, n_events=200 if quick else 2000)
    vocabulary = load_vocabulary()
    beats = "\n".join(f"{i * 0.5:.1f} {code} onset 0.2 apex 1 offset 8f"
                      for i, code in enumerate(["6+12D", "R12A+R14A", "happiness", "1+2+5B+26"]
                                               * 250))
    notes = "fps 24\n" + beats + "\n"

    def measure_sampling() -> float:
        return best_of(lambda: sample(timeline), repeat=1 if quick else 5)

    def measure_notes() -> float:
        return best_of(lambda: parse_au_notes(notes, vocabulary), repeat=1 if quick else 3) * 1e3

    def measure_notes_writing() -> float:
        parsed = parse_au_notes(notes, vocabulary)
        return best_of(lambda: format_au_notes(parsed, vocabulary), repeat=1 if quick else 3) * 1e3

    label = "0.1 h" if quick else "1 h"
    return [
        Benchmark(f"sample timeline: {label} @60 fps, 40 ch, {len(timeline.events)} events", "s",
                  0.2, "lower", measure_sampling),
        Benchmark("parse AU notes: 1,000 beats", "ms", 100.0, "lower", measure_notes),
        Benchmark("write AU notes: 1,000 beats", "ms", 100.0, "lower", measure_notes_writing),
    ]

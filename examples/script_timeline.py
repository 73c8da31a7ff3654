"""Script an AU timeline by FACS code, sample it, and save it in every timeline format.

Run: python examples/script_timeline.py
Outputs go to $FACS_RIG_EXAMPLE_OUTPUT (default: the current folder).
"""

import os
from pathlib import Path

from facs_rig import Channel, load_vocabulary
from facs_rig.core.timeline import AUEvent, Timeline, sample
from facs_rig.io.timeline_files import read_timeline, write_timeline

vocabulary = load_vocabulary()
output = Path(os.environ.get("FACS_RIG_EXAMPLE_OUTPUT", "."))

# Beats by code: each expands into one event per AU, with FACS onset/apex/offset phases.
timeline = (
    Timeline(fps=30, metadata={"title": "doubt, then delight"})
    .add_code("1+4+15B", vocabulary, at=0.5, onset=0.4, apex=1.0, offset=0.6)  # a worried frown
    .add_code("happiness", vocabulary, at=2.0, onset=0.5, apex=1.5, offset=0.8)  # 6+12
    .add_code("25", vocabulary, at=2.3, onset=0.3, apex=1.2, offset=0.5, intensity=0.3)
)
# A single AU placed by the absolute times of its phases, with a stepped (instant) release.
wink = AUEvent.from_times(Channel(46, "L"), 1.0, 2.6, 2.68, 2.8, 2.95, ease_out="step")
timeline = timeline.with_events(timeline.events + (wink,))

print(f"{len(timeline.events)} events over {timeline.duration:g} s on "
      f"{', '.join(c.name for c in timeline.channels)}")

# Dense curves: (frames, channels) float32, exact at phase boundaries, max over overlaps.
curves = sample(timeline, fps=60)
apex_frame = round(2.5 * 60)  # the smile's apex starts at 2.0 + 0.5 s
print(f"sampled {curves.values.shape[0]} frames x {curves.values.shape[1]} channels; "
      f"AU12 at 2.5 s = {curves.column(Channel(12))[apex_frame]:.2f} (the C value, 0.55)")

for name in ("doubt.json", "doubt.notes", "doubt.eaf", "doubt.csv"):
    path = output / name
    write_timeline(timeline, path, vocabulary)
    back = read_timeline(path, vocabulary)
    print(f"wrote {name:12} and read back {len(back.events)} events")

print((output / "doubt.notes").read_text(encoding="utf-8"))

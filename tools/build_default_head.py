#!/usr/bin/env python3
"""Regenerate ``rigs/default_head.glb`` from the ICT FaceKit head (deterministic: same bytes).

Usage::

    python tools/build_default_head.py [OUTPUT.glb] [--ict ICT_FULL_HEAD.glb]

Input: ``../shared/assets/rigs/ict_facekit/ict_facekit_full_head.glb`` (ICT FaceKit, MIT; its
notice ships as ``rigs/LICENSE-ICT-FaceKit`` and in the GLB's ``asset.copyright``) and the recipe
``facs_rig/data/default_head_recipe.json`` (scan, muscle model or blend per target, with the
reason). Targets are named after ``rigs/facs.json``; see ``docs/default-head.md``.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from facs_rig.errors import FacsRigError  # noqa: E402
from facs_rig.io.default_head import write_default_head  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    ict = None
    if "--ict" in arguments:
        at = arguments.index("--ict")
        if at + 1 >= len(arguments):
            arguments = ["-"]
        else:
            ict = arguments[at + 1]
            del arguments[at : at + 2]
    if len(arguments) > 1 or (arguments and arguments[0].startswith("-")):
        sys.stderr.write(__doc__.strip().splitlines()[0] + "\n")
        sys.stderr.write("usage: python tools/build_default_head.py [OUTPUT.glb] [--ict ICT_FULL_HEAD.glb]\n")
        return 2
    try:
        path = write_default_head(arguments[0] if arguments else None, ict_path=ict)
    except FacsRigError as exc:
        sys.stderr.write(f"build_default_head: error: {exc}\n")
        return 1
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    sys.stdout.write(f"wrote {path} ({path.stat().st_size:,} bytes, sha256 {digest[:16]})\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

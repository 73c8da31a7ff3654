"""The 52 ARKit blendshape names and their spelling variants.

Trackers spell the same 52 shapes differently: Apple's Swift constants and
MediaPipe use ``eyeBlinkLeft``, Live Link Face and Unreal ``EyeBlinkLeft``, Face Cap and
iFacialMocap ``eyeBlink_L``, the Objective-C API ``ARBlendShapeLocationEyeBlinkLeft``. Captures
are read into the canonical lowerCamel ``...Left/...Right`` spelling, in the order of Unreal's
``EARFaceBlendShape`` (the Live Link Face order).
"""

from __future__ import annotations

import re

__all__ = ["ARKIT_NAMES", "MEDIAPIPE_NAMES", "LIVE_LINK_FACE_ROTATIONS", "arkit_key",
           "canonical_arkit_name", "pascal_case"]

#: The 52 ARKit blendshapes, canonical spelling, Unreal ``EARFaceBlendShape`` order.
ARKIT_NAMES: tuple[str, ...] = (
    "eyeBlinkLeft", "eyeLookDownLeft", "eyeLookInLeft", "eyeLookOutLeft", "eyeLookUpLeft",
    "eyeSquintLeft", "eyeWideLeft",
    "eyeBlinkRight", "eyeLookDownRight", "eyeLookInRight", "eyeLookOutRight", "eyeLookUpRight",
    "eyeSquintRight", "eyeWideRight",
    "jawForward", "jawLeft", "jawRight", "jawOpen",
    "mouthClose", "mouthFunnel", "mouthPucker", "mouthLeft", "mouthRight",
    "mouthSmileLeft", "mouthSmileRight", "mouthFrownLeft", "mouthFrownRight",
    "mouthDimpleLeft", "mouthDimpleRight",
    "mouthStretchLeft", "mouthStretchRight", "mouthRollLower", "mouthRollUpper",
    "mouthShrugLower", "mouthShrugUpper",
    "mouthPressLeft", "mouthPressRight", "mouthLowerDownLeft", "mouthLowerDownRight",
    "mouthUpperUpLeft", "mouthUpperUpRight",
    "browDownLeft", "browDownRight", "browInnerUp", "browOuterUpLeft", "browOuterUpRight",
    "cheekPuff", "cheekSquintLeft", "cheekSquintRight", "noseSneerLeft", "noseSneerRight",
    "tongueOut",
)

#: MediaPipe Face Landmarker's 51 (index 0 ``_neutral`` is not a shape, and there is no
#: ``tongueOut``): ``kBlendshapeNames`` in MediaPipe's ``face_blendshapes_graph.cc``.
MEDIAPIPE_NAMES: tuple[str, ...] = tuple(sorted(n for n in ARKIT_NAMES if n != "tongueOut"))

#: Live Link Face's nine rotation columns after the 52 shapes (the header of a real take,
#: ``S07-001.csv``).
LIVE_LINK_FACE_ROTATIONS: tuple[str, ...] = (
    "HeadYaw", "HeadPitch", "HeadRoll", "LeftEyeYaw", "LeftEyePitch", "LeftEyeRoll",
    "RightEyeYaw", "RightEyePitch", "RightEyeRoll",
)

_SUFFIX = re.compile(r"_([LR])$")


def arkit_key(name: str) -> str:
    """Spelling-insensitive key: ``EyeBlinkLeft``, ``eyeBlink_L``, ``eye_blink_left`` -> ``eyeblinkleft``."""
    text = name.strip()
    if text.startswith("ARBlendShapeLocation"):
        text = text[len("ARBlendShapeLocation"):]
    text = _SUFFIX.sub(lambda m: "Left" if m.group(1) == "L" else "Right", text)
    return text.replace("_", "").replace(" ", "").lower()


_BY_KEY = {arkit_key(name): name for name in ARKIT_NAMES}


def canonical_arkit_name(name: str) -> str | None:
    """The canonical spelling of an ARKit shape name, or None when it is not one of the 52."""
    return _BY_KEY.get(arkit_key(name))


def pascal_case(name: str) -> str:
    """Live Link Face's spelling of a canonical name: ``eyeBlinkLeft`` -> ``EyeBlinkLeft``."""
    return name[:1].upper() + name[1:]

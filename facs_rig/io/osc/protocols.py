"""Receiver protocols: which OSC messages one frame becomes, and in which naming convention.

A *frame vector* holds everything that changes from frame to frame, in a fixed order::

    [ target weights (T) | AU channel values (C) | bones (21) | time (1) ]

where the bones are the Unity-space local positions and rotations of ``Head``, ``LeftEye`` and
``RightEye`` (3 × position xyz, then 3 × quaternion xyzw) computed from the head and eye AUs, and
time is seconds since the stream started. A :class:`FrameLayout` turns a protocol into message
templates whose float32 slots index that vector, so :func:`~facs_rig.io.osc.encoding.compile_frame`
lays the packets out once and each frame only patches floats.

Protocols (issue 6 point 1; each protocol's source below):

``vmc``
    ``/VMC/Ext/Blend/Val s f`` per target, ``/VMC/Ext/Bone/Pos`` for Head/LeftEye/RightEye when head
    or eye AUs are present, optional ``/VMC/Ext/OK i`` and ``/VMC/Ext/T f``, then
    ``/VMC/Ext/Blend/Apply`` last, in bundles of at most 1,232 bytes: under VMC's 1,500 (the
    marionette spec, ``docs/marionette-spec.markdown`` of ``sh-akira/VirtualMotionCaptureProtocol``)
    and small enough never to be fragmented (see ``MAX_PACKET_BYTES``).
``template``
    One message per target at ``/facs/{target}``, or per AU channel when the template uses
    ``{au}``/``{channel}`` (a sided channel appends ``/L`` or ``/R`` unless ``{side}`` is used),
    so ``/facs/au/{au}`` feeds another ``facs-rig bridge``.
``facecap``
    ``/W i f`` (Face Cap blendshape index, value) in Face Cap's index order
    (bannaflak.com/face-cap/livemode.html; indices from OpenMoBu's Face Cap device).
``vrchat``
    ``/avatar/parameters/{name} f`` (VRChat's OSC documentation, docs.vrchat.com "OSC
    Overview"); VRChat listens on port 9000.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.naming import normalize_target_name
from facs_rig.errors import OscError
from facs_rig.io.osc.encoding import (
    MAX_PACKET_BYTES,
    FramePackets,
    MessageTemplate,
    Slot,
    compile_frame,
)

__all__ = [
    "BONE_NAMES",
    "FACE_CAP_NAMES",
    "HEAD_EYE_AUS",
    "NAME_CONVENTIONS",
    "PERFECT_SYNC_NAMES",
    "PROTOCOLS",
    "VRCHAT_TOLERANCE",
    "BoneLimits",
    "FrameLayout",
    "ProtocolOptions",
    "head_eye_pose",
    "receiver_names",
]

PROTOCOLS = ("vmc", "template", "facecap", "vrchat")
#: Receiver naming conventions for target names; ``auto`` picks one from the rig's name.
NAME_CONVENTIONS = ("auto", "as-is", "perfect-sync", "arkit", "vrm0", "vrm1")
#: Default receiving port of each protocol (VMC Marionette 39539, protocol.vmc.info; VRChat 9000,
#: docs.vrchat.com; Face Cap's OpenMoBu sample uses 9000; the template default is arbitrary).
DEFAULT_PORTS = MappingProxyType({"vmc": 39539, "template": 9000, "facecap": 9000,
                                  "vrchat": 9000})

#: ARKit "Perfect Sync" clip names, UpperCamelCase as VMC senders emit them (VMC's Perfect Sync
#: names, e.g. ``tkns3/VRCFTtoVMCP`` ``VMCPSender.cs``).
PERFECT_SYNC_NAMES = (
    "BrowDownLeft", "BrowDownRight", "BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight",
    "CheekPuff", "CheekSquintLeft", "CheekSquintRight", "EyeBlinkLeft", "EyeBlinkRight",
    "EyeLookDownLeft", "EyeLookDownRight", "EyeLookInLeft", "EyeLookInRight", "EyeLookOutLeft",
    "EyeLookOutRight", "EyeLookUpLeft", "EyeLookUpRight", "EyeSquintLeft", "EyeSquintRight",
    "EyeWideLeft", "EyeWideRight", "JawForward", "JawLeft", "JawOpen", "JawRight", "MouthClose",
    "MouthDimpleLeft", "MouthDimpleRight", "MouthFrownLeft", "MouthFrownRight", "MouthFunnel",
    "MouthLeft", "MouthLowerDownLeft", "MouthLowerDownRight", "MouthPressLeft", "MouthPressRight",
    "MouthPucker", "MouthRight", "MouthRollLower", "MouthRollUpper", "MouthShrugLower",
    "MouthShrugUpper", "MouthSmileLeft", "MouthSmileRight", "MouthStretchLeft",
    "MouthStretchRight", "MouthUpperUpLeft", "MouthUpperUpRight", "NoseSneerLeft",
    "NoseSneerRight", "TongueOut",
)

#: Face Cap's ``/W`` blendshape indices, in order (OpenMoBu's Face Cap device enum,
#: ``device_facecap_hardware.h``, a third-party reading: check against the app before relying
#: on an index).
FACE_CAP_NAMES = (
    "browInnerUp", "browDown_L", "browDown_R", "browOuterUp_L", "browOuterUp_R", "eyeLookUp_L",
    "eyeLookUp_R", "eyeLookDown_L", "eyeLookDown_R", "eyeLookIn_L", "eyeLookIn_R", "eyeLookOut_L",
    "eyeLookOut_R", "eyeBlink_L", "eyeBlink_R", "eyeSquint_L", "eyeSquint_R", "eyeWide_L",
    "eyeWide_R", "cheekPuff", "cheekSquint_L", "cheekSquint_R", "noseSneer_L", "noseSneer_R",
    "jawOpen", "jawForward", "jawLeft", "jawRight", "mouthFunnel", "mouthPucker", "mouthLeft",
    "mouthRight", "mouthRollUpper", "mouthRollLower", "mouthShrugUpper", "mouthShrugLower",
    "mouthClose", "mouthSmile_L", "mouthSmile_R", "mouthFrown_L", "mouthFrown_R", "mouthDimple_L",
    "mouthDimple_R", "mouthUpperUp_L", "mouthUpperUp_R", "mouthLowerDown_L", "mouthLowerDown_R",
    "mouthPress_L", "mouthPress_R", "mouthStretch_L", "mouthStretch_R", "tongueOut",
)

#: VRM 0.x preset clip ↔ VRM 1.0 preset expression, as the VMC marionette spec maps them, plus
#: the remaining presets by case (``vrm-c/vrm-specification`` ``specification/0.0`` presetName
#: enum and ``VRMC_vrm-1.0/expressions.md``). ``surprised`` has no VRM0 preset.
_VRM1_TO_VRM0 = MappingProxyType({
    "happy": "Joy", "angry": "Angry", "sad": "Sorrow", "relaxed": "Fun", "aa": "A", "ih": "I",
    "ou": "U", "ee": "E", "oh": "O", "blink": "Blink", "blinkLeft": "Blink_L",
    "blinkRight": "Blink_R", "lookUp": "LookUp", "lookDown": "LookDown", "lookLeft": "LookLeft",
    "lookRight": "LookRight", "neutral": "Neutral",
})
_VRM0_TO_VRM1 = MappingProxyType({vrm0: vrm1 for vrm1, vrm0 in _VRM1_TO_VRM0.items()})

#: Head AUs 51-58 and eye AUs 61-66 (FACS 2002 head and eye position codes; bundled catalogue).
HEAD_EYE_AUS = (51, 52, 53, 54, 55, 56, 57, 58, 61, 62, 63, 64, 65, 66)
#: Unity ``HumanBodyBones`` names the bone messages use (the VRM humanoid bone list; EVMC4U).
BONE_NAMES = ("Head", "LeftEye", "RightEye")
_BONE_SLOTS = 21  # 3 positions (xyz) + 3 quaternions (xyzw)
#: 65,535 (IPv4 total length) - 20 (IP header) - 8 (UDP header).
MAX_UDP_PAYLOAD = 65507
#: Smallest change sent in changes-only mode: half of VRChat's network step. Synced float
#: parameters travel "as multiples of 1/127 between -1 and 1" (wiki.vrchat.com, Expressions,
#: "Only synced expression parameters ... are sent over the network"), so a change under half a
#: step cannot move what other players see; the local avatar is off by at most this much until
#: the next full refresh.
VRCHAT_TOLERANCE = 1 / 254


# ------------------------------------------------------------------------------------------ naming

_PERFECT_SYNC_BY_KEY = MappingProxyType({normalize_target_name(n): n for n in PERFECT_SYNC_NAMES})
_FACE_CAP_INDEX_BY_KEY = MappingProxyType(
    {normalize_target_name(n): i for i, n in enumerate(FACE_CAP_NAMES)})


def _rename(name: str, convention: str) -> str:
    if convention == "as-is":
        return name
    if convention in ("perfect-sync", "arkit"):
        upper = _PERFECT_SYNC_BY_KEY.get(normalize_target_name(name))
        if upper is None:  # not an ARKit shape: only the first letter's case changes
            return (name[:1].upper() if convention == "perfect-sync" else name[:1].lower()) + name[1:]
        return upper if convention == "perfect-sync" else upper[:1].lower() + upper[1:]
    if convention == "vrm0":
        return _VRM1_TO_VRM0.get(name, name)
    if convention == "vrm1":
        return _VRM0_TO_VRM1.get(name, name)
    raise OscError(f"unknown name convention {convention!r}; known: {', '.join(NAME_CONVENTIONS)}")


def names_without_counterpart(targets: Sequence[str], convention: str = "as-is", *,
                              rig_name: str | None = None) -> tuple[str, ...]:
    """The VRM preset names of ``targets`` that the receiver's VRM version has no preset for,
    sent under their own name (a VRM 0.x model shows ``surprised`` only through a clip of that
    name: VRM 0.x has no such preset, ``vrm-c/vrm-specification`` ``specification/0.0``).

    >>> names_without_counterpart(["happy", "surprised", "blinkLeft"], "vrm0")
    ('surprised',)
    >>> names_without_counterpart(["happy", "surprised"], "as-is")
    ()
    """
    concrete = resolve_convention(convention, rig_name)
    if concrete == "vrm0":
        return tuple(name for name in targets if name in _VRM1_PRESETS_WITHOUT_VRM0)
    return ()


#: VRM 1.0 preset expressions with no VRM 0.x preset (VRMC_vrm-1.0/expressions.md against the
#: 0.x presetName enum).
_VRM1_PRESETS_WITHOUT_VRM0 = frozenset({"surprised"})


def resolve_convention(convention: str, rig_name: str | None) -> str:
    """The concrete convention ``auto`` means for a rig: ``arkit`` → ``perfect-sync``,
    ``vrm`` → ``vrm0`` (VMC senders must support VRM0 names, marionette spec), else ``as-is``."""
    if convention != "auto":
        if convention not in NAME_CONVENTIONS:
            raise OscError(f"unknown name convention {convention!r}; "
                           f"known: {', '.join(NAME_CONVENTIONS)}")
        return convention
    return {"arkit": "perfect-sync", "vrm": "vrm0"}.get((rig_name or "").lower(), "as-is")


def receiver_names(targets: Sequence[str], convention: str = "as-is", *,
                   rig_name: str | None = None) -> tuple[str, ...]:
    """Target names in a receiver's convention.

    >>> receiver_names(["eyeBlinkLeft", "mouthSmile_R"], "perfect-sync")
    ('EyeBlinkLeft', 'MouthSmileRight')
    >>> receiver_names(["happy", "blinkLeft", "surprised"], "vrm0")
    ('Joy', 'Blink_L', 'surprised')
    """
    concrete = resolve_convention(convention, rig_name)
    return tuple(_rename(name, concrete) for name in targets)


# ------------------------------------------------------------------------------ head and eye bones

@dataclass(frozen=True)
class BoneLimits:
    """Maximum head and eye movement at AU intensity 1, and the bones' rest positions.

    Angles are degrees, distances metres. Rest positions are the bones' *local* positions
    (Head relative to Neck, eyes relative to Head) in Unity space; receivers that apply bone
    positions (EVMC4U's ``BonePositionSynchronize``, on by default) need the model's own values.
    The defaults are typical adult VRM proportions, not measured from any one model.
    """

    head_yaw: float = 40.0
    head_pitch: float = 30.0
    head_roll: float = 25.0
    head_forward: float = 0.03
    eye_yaw: float = 30.0
    eye_pitch: float = 25.0
    head_position: tuple[float, float, float] = (0.0, 0.1, 0.0)
    left_eye_position: tuple[float, float, float] = (-0.032, 0.06, 0.04)
    right_eye_position: tuple[float, float, float] = (0.032, 0.06, 0.04)

    def __post_init__(self) -> None:
        for name in ("head_yaw", "head_pitch", "head_roll", "head_forward", "eye_yaw",
                     "eye_pitch"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and math.isfinite(value)):
                raise OscError(f"bone limit {name} must be a finite number, not {value!r}")
        for name in ("head_position", "left_eye_position", "right_eye_position"):
            value = getattr(self, name)
            if len(value) != 3 or not all(math.isfinite(float(v)) for v in value):
                raise OscError(f"bone rest position {name} must be three finite numbers")


def _unity_euler_quaternions(pitch: np.ndarray, yaw: np.ndarray, roll: np.ndarray) -> np.ndarray:
    """Quaternions (x, y, z, w) of Unity ``Quaternion.Euler(pitch, yaw, roll)`` in degrees.

    Unity applies roll about Z, then pitch about X, then yaw about Y (q = qy · qx · qz). The
    quaternion algebra is the usual Hamilton one; Unity's left-handedness only changes how a
    positive angle looks: +yaw turns +Z (forward) toward +X (right), +pitch turns forward
    down, +roll turns +Y (up) toward -X (the character's left).
    """
    hx, hy, hz = (np.radians(np.asarray(a, dtype=np.float64)) / 2 for a in (pitch, yaw, roll))
    cx, sx, cy, sy, cz, sz = np.cos(hx), np.sin(hx), np.cos(hy), np.sin(hy), np.cos(hz), np.sin(hz)
    # qy * qx = (cy sx, sy cx, -sy sx, cy cx); then * qz.
    x = cy * sx * cz + sy * cx * sz
    y = sy * cx * cz - cy * sx * sz
    z = cy * cx * sz - sy * sx * cz
    w = cy * cx * cz + sy * sx * sz
    return np.stack([x, y, z, w], axis=-1)


def head_eye_pose(values: Mapping[int, float] | np.ndarray, limits: BoneLimits = BoneLimits()
                  ) -> np.ndarray:
    """Unity-space local poses of Head, LeftEye and RightEye from head and eye AU values.

    FACS head and eye codes (FACS 2002; bundled catalogue) map to Unity rotations (left-handed,
    Y up, +Z forward, as VMC's ``/VMC/Ext/Bone/Pos``): AU51/52 head turn left/right → yaw −/+; AU53/54 head
    up/down → pitch −/+; AU55/56 tilt left/right → roll +/−; AU57/58 head forward/back → +/− Z
    offset; AU61/62 eyes left/right → eye yaw −/+; AU63/64 eyes up/down → eye pitch −/+;
    AU65 walleye turns each eye outward, AU66 cross-eye inward.

    Parameters
    ----------
    values : mapping AU number → value, or (F, 14) array in :data:`HEAD_EYE_AUS` order
        Intensities 0-1; missing AUs are 0.
    limits : BoneLimits
        Maximum angles and rest positions.

    Returns
    -------
    (21,) or (F, 21) float32
        Head, LeftEye, RightEye positions (x, y, z each), then their quaternions (x, y, z, w each).
    """
    if isinstance(values, Mapping):
        return np.asarray(_pose_single([float(values.get(au, 0.0)) for au in HEAD_EYE_AUS],
                                       limits), dtype=np.float32)
    array = np.asarray(values, dtype=np.float64)
    if array.ndim == 1:
        return np.asarray(_pose_single(array.tolist(), limits), dtype=np.float32)
    v = dict(zip(HEAD_EYE_AUS, array.T))
    head = _unity_euler_quaternions((v[54] - v[53]) * limits.head_pitch,
                                    (v[52] - v[51]) * limits.head_yaw,
                                    (v[55] - v[56]) * limits.head_roll)
    eye_pitch = (v[64] - v[63]) * limits.eye_pitch
    gaze = v[62] - v[61]
    # The character's left eye is on -X: turning outward is a negative yaw for it.
    left = _unity_euler_quaternions(eye_pitch, (gaze - v[65] + v[66]) * limits.eye_yaw, 0 * gaze)
    right = _unity_euler_quaternions(eye_pitch, (gaze + v[65] - v[66]) * limits.eye_yaw, 0 * gaze)
    head_position = np.tile(np.asarray(limits.head_position, dtype=np.float64), (len(array), 1))
    head_position[:, 2] += (v[57] - v[58]) * limits.head_forward
    return np.concatenate([
        head_position,
        np.tile(np.asarray(limits.left_eye_position, dtype=np.float64), (len(array), 1)),
        np.tile(np.asarray(limits.right_eye_position, dtype=np.float64), (len(array), 1)),
        head, left, right], axis=1).astype(np.float32)


def _euler_scalar(pitch: float, yaw: float, roll: float) -> list[float]:
    """One :func:`_unity_euler_quaternions` with floats: the live path, ~1 µs instead of ~40."""
    hx, hy, hz = math.radians(pitch) / 2, math.radians(yaw) / 2, math.radians(roll) / 2
    cx, sx, cy, sy = math.cos(hx), math.sin(hx), math.cos(hy), math.sin(hy)
    cz, sz = math.cos(hz), math.sin(hz)
    return [cy * sx * cz + sy * cx * sz, sy * cx * cz - cy * sx * sz,
            cy * cx * sz - sy * sx * cz, cy * cx * cz + sy * sx * sz]


def _pose_single(values: Sequence[float], limits: BoneLimits) -> list[float]:
    v = dict(zip(HEAD_EYE_AUS, values))
    head_position = list(limits.head_position)
    head_position[2] += (v[57] - v[58]) * limits.head_forward
    eye_pitch = (v[64] - v[63]) * limits.eye_pitch
    gaze = v[62] - v[61]
    return [*head_position, *limits.left_eye_position, *limits.right_eye_position,
            *_euler_scalar((v[54] - v[53]) * limits.head_pitch, (v[52] - v[51]) * limits.head_yaw,
                           (v[55] - v[56]) * limits.head_roll),
            *_euler_scalar(eye_pitch, (gaze - v[65] + v[66]) * limits.eye_yaw, 0.0),
            *_euler_scalar(eye_pitch, (gaze + v[65] - v[66]) * limits.eye_yaw, 0.0)]


# ------------------------------------------------------------------------------------------ layout

@dataclass(frozen=True)
class ProtocolOptions:
    """How frames are addressed for a receiver.

    Attributes
    ----------
    protocol : {'vmc', 'template', 'facecap', 'vrchat'}
    names : str
        Naming convention of target names, one of :data:`NAME_CONVENTIONS`.
    address_template : str
        ``template`` protocol address; ``{target}`` or ``{au}``/``{side}``/``{channel}``.
    bones : {'auto', 'on', 'off'}
        VMC head and eye bones: ``auto`` sends them when the frame has head or eye AU channels.
    limits : BoneLimits
        Head and eye angle limits and rest positions.
    send_ok, send_time : bool
        VMC ``/VMC/Ext/OK 1`` (model loaded) and ``/VMC/Ext/T`` (seconds since start).
    bundle : bool or None
        Bundle messages (``None``: protocol default, bundles for all but ``vrchat``).
    max_bytes : int
        Bundle size limit (default :data:`~facs_rig.io.osc.encoding.MAX_PACKET_BYTES`, 1,232
        bytes: a UDP payload no IPv4 or IPv6 link on the way fragments).
    changes_only : bool or None
        Send only the datagrams whose values changed by more than ``tolerance`` since they were
        last sent, plus every datagram every ``refresh`` seconds (``None``: the protocol
        default, on for ``vrchat`` only; not for ``vmc``, whose receivers clear their values on
        Apply). The neutral frame is always sent whole.
    refresh : float
        Seconds between full frames when ``changes_only`` (default 1).
    tolerance : float
        Smallest change sent when ``changes_only`` (default :data:`VRCHAT_TOLERANCE`).
    """

    protocol: str = "vmc"
    names: str = "auto"
    address_template: str = "/facs/{target}"
    bones: str = "auto"
    limits: BoneLimits = field(default_factory=BoneLimits)
    send_ok: bool = False
    send_time: bool = False
    bundle: bool | None = None
    max_bytes: int = MAX_PACKET_BYTES
    changes_only: bool | None = None
    refresh: float = 1.0
    tolerance: float = VRCHAT_TOLERANCE

    @property
    def sends_changes_only(self) -> bool:
        """Whether frames carry only changed values (see ``changes_only``)."""
        return self.protocol == "vrchat" if self.changes_only is None else self.changes_only

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise OscError(f"unknown OSC protocol {self.protocol!r}; known: {', '.join(PROTOCOLS)}")
        if self.names not in NAME_CONVENTIONS:
            raise OscError(f"unknown name convention {self.names!r}; "
                           f"known: {', '.join(NAME_CONVENTIONS)}")
        if self.bones not in ("auto", "on", "off"):
            raise OscError(f"bones must be 'auto', 'on' or 'off', not {self.bones!r}")
        if not self.address_template.startswith("/"):
            raise OscError(f"address template {self.address_template!r} must start with '/'")
        if self.max_bytes < 64:
            raise OscError(f"max packet size {self.max_bytes} is too small (at least 64 bytes)")
        if self.changes_only and self.protocol == "vmc":
            raise OscError("changes-only frames are not for vmc: receivers such as EVMC4U clear "
                           "blendshapes on Apply, so every frame carries every value")
        if not (isinstance(self.refresh, (int, float)) and math.isfinite(self.refresh)
                and self.refresh > 0):
            raise OscError(f"full refresh every {self.refresh!r} s: must be a positive number "
                           f"of seconds")
        if not (isinstance(self.tolerance, (int, float)) and 0 <= self.tolerance < 1):
            raise OscError(f"change tolerance {self.tolerance!r} must be in [0, 1)")
        if self.max_bytes > MAX_UDP_PAYLOAD:
            raise OscError(f"max packet size {self.max_bytes} is over the {MAX_UDP_PAYLOAD} "
                           f"bytes one UDP datagram can carry")


_TEMPLATE_FIELDS = re.compile(r"\{([a-z_]*)\}")


def address_template_problem(template: str) -> str | None:
    """What is wrong with an address template of the ``template`` protocol, or ``None``.

    The text follows the template in a message (``address template '/x/{nope}': unknown ...``),
    so that the command line can refuse a malformed ``--address`` while parsing, before the rig
    is read.
    """
    if not template.startswith("/"):
        return " must start with '/'"
    fields = set(_TEMPLATE_FIELDS.findall(template))
    unknown = fields - {"target", "au", "side", "channel"}
    if unknown:
        return (f": unknown field(s) {', '.join('{' + f + '}' for f in sorted(unknown))}; use "
                f"{{target}}, {{au}}, {{side}} or {{channel}}")
    if "target" in fields and fields & {"au", "side", "channel"}:
        return " mixes {target} with AU fields"
    if not fields:
        return " has no {target} or {au} field"
    return None


class FrameLayout:
    """A protocol's messages for one rig and one channel set, compiled to patchable packets.

    Parameters
    ----------
    targets : sequence of str
        Rig target names, in the weight vector's order.
    channels : sequence of Channel
        AU channels in the AU value vector's order (head/eye bones and ``{au}`` templates read
        them).
    options : ProtocolOptions
    rig_name : str, optional
        Rig profile name, for the ``auto`` naming convention.

    Attributes
    ----------
    names : tuple of str
        Target names as sent.
    skipped : tuple of str
        Targets the protocol cannot address (Face Cap: not among its 52 shapes).
    n_slots : int
        Frame vector length, ``T + C + 21 + 1``.
    packets : FramePackets
    """

    def __init__(self, targets: Sequence[str], channels: Sequence[Channel],
                 options: ProtocolOptions = ProtocolOptions(), *, rig_name: str | None = None):
        self.options = options
        self.targets = tuple(targets)
        self.channels = tuple(channels)
        self.names = receiver_names(self.targets, options.names, rig_name=rig_name)
        n_targets, n_channels = len(self.targets), len(self.channels)
        self._bone_base = n_targets + n_channels
        self._time_slot = self._bone_base + _BONE_SLOTS
        self.n_slots = self._time_slot + 1
        position = {channel: i for i, channel in enumerate(self.channels)}
        #: Column of each AU channel in the AU value vector.
        self.channel_index = MappingProxyType(position)
        # Head and eye AUs are bilateral codes; a sided channel of one (unusual) still counts.
        self._head_eye_columns = [
            [position[c] for c in (Channel(au), Channel(au, "L"), Channel(au, "R")) if c in position]
            for au in HEAD_EYE_AUS]
        self.has_head_eye = any(self._head_eye_columns)
        self.sends_bones = options.protocol == "vmc" and (
            options.bones == "on" or (options.bones == "auto" and self.has_head_eye))
        self.skipped: tuple[str, ...] = ()
        templates = self._templates()
        bundle = options.bundle if options.bundle is not None else options.protocol != "vrchat"
        self.packets: FramePackets = compile_frame(templates, self.n_slots, bundle=bundle,
                                                   max_bytes=options.max_bytes)
        self.n_messages = len(templates)

    # -- templates
    def _templates(self) -> list[MessageTemplate]:
        protocol = self.options.protocol
        if protocol == "vmc":
            return self._vmc_templates()
        if protocol == "facecap":
            templates, skipped = [], []
            for index, name in enumerate(self.targets):
                face_cap = _FACE_CAP_INDEX_BY_KEY.get(normalize_target_name(name))
                if face_cap is None:
                    skipped.append(name)
                else:
                    templates.append(MessageTemplate("/W", (face_cap, Slot(index))))
            self.skipped = tuple(skipped)
            if self.targets and not templates:
                raise OscError(f"none of the rig's {len(self.targets)} targets is one of Face "
                               f"Cap's 52 ARKit shapes (e.g. {self.targets[0]!r}); use an "
                               f"ARKit rig with --protocol facecap")
            return templates
        if protocol == "vrchat":
            return [MessageTemplate(f"/avatar/parameters/{name}", (Slot(index),))
                    for index, name in enumerate(self.names)]
        return self._template_templates()

    def _vmc_templates(self) -> list[MessageTemplate]:
        templates = []
        if self.options.send_ok:
            templates.append(MessageTemplate("/VMC/Ext/OK", (1,)))  # (int) loaded = 1, §1.3
        if self.options.send_time:
            templates.append(MessageTemplate("/VMC/Ext/T", (Slot(self._time_slot),)))
        if self.sends_bones:
            for bone_index, bone in enumerate(BONE_NAMES):
                position = [Slot(self._bone_base + 3 * bone_index + k) for k in range(3)]
                rotation = [Slot(self._bone_base + 9 + 4 * bone_index + k) for k in range(4)]
                templates.append(MessageTemplate("/VMC/Ext/Bone/Pos",
                                                 (bone, *position, *rotation)))
        templates.extend(MessageTemplate("/VMC/Ext/Blend/Val", (name, Slot(index)))
                         for index, name in enumerate(self.names))
        templates.append(MessageTemplate("/VMC/Ext/Blend/Apply"))
        return templates

    def _template_templates(self) -> list[MessageTemplate]:
        template = self.options.address_template
        problem = address_template_problem(template)
        if problem:
            raise OscError(f"address template {template!r}{problem}")
        fields = set(_TEMPLATE_FIELDS.findall(template))
        if "target" in fields:
            return [MessageTemplate(template.replace("{target}", name), (Slot(index),))
                    for index, name in enumerate(self.names)]
        templates = []
        base = len(self.targets)
        for index, channel in enumerate(self.channels):
            address = (template.replace("{au}", str(channel.au))
                       .replace("{side}", channel.side or "")
                       .replace("{channel}", channel.name))
            if channel.side and "{side}" not in template and "{channel}" not in template:
                address += f"/{channel.side}"
            templates.append(MessageTemplate(address, (Slot(base + index),)))
        return templates

    # -- frames
    def frame_vector(self, weights: np.ndarray, channel_values: np.ndarray | None = None,
                     time: float = 0.0, *, out: np.ndarray | None = None) -> np.ndarray:
        """Assemble one frame vector.

        Parameters
        ----------
        weights : (T,) array_like
            Target weights in :attr:`targets` order.
        channel_values : (C,) array_like, optional
            AU values in :attr:`channels` order (zeros when omitted).
        time : float
            Seconds since the stream started (``/VMC/Ext/T``).
        out : (n_slots,) float32 array, optional
            Reused buffer.

        Returns
        -------
        (n_slots,) float32
            Non-finite values are replaced by 0, so a NaN never reaches a receiver.
        """
        vector = np.zeros(self.n_slots, dtype=np.float32) if out is None else out
        n_targets = len(self.targets)
        vector[:n_targets] = weights
        if channel_values is None:
            vector[n_targets:self._bone_base] = 0.0
        else:
            vector[n_targets:self._bone_base] = channel_values
        vector[self._bone_base:self._time_slot] = head_eye_pose(
            self._head_eye_values(vector[n_targets:self._bone_base]), self.options.limits)
        vector[self._time_slot] = time
        np.nan_to_num(vector, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return vector

    def frame_matrix(self, weights: np.ndarray, channel_values: np.ndarray | None,
                     times: np.ndarray) -> np.ndarray:
        """Frame vectors of a whole clip at once: ``(F, n_slots)`` float32 (see :meth:`frame_vector`)."""
        weights = np.asarray(weights, dtype=np.float32)
        n_frames = weights.shape[0]
        matrix = np.zeros((n_frames, self.n_slots), dtype=np.float32)
        n_targets = len(self.targets)
        matrix[:, :n_targets] = weights
        if channel_values is not None:
            matrix[:, n_targets:self._bone_base] = channel_values
        head_eye = np.zeros((n_frames, len(HEAD_EYE_AUS)))
        for column, indices in enumerate(self._head_eye_columns):
            for index in indices:
                head_eye[:, column] = np.maximum(head_eye[:, column],
                                                 matrix[:, n_targets + index])
        matrix[:, self._bone_base:self._time_slot] = head_eye_pose(
            np.nan_to_num(head_eye), self.options.limits).reshape(n_frames, _BONE_SLOTS)
        matrix[:, self._time_slot] = times
        np.nan_to_num(matrix, copy=False, nan=0.0, posinf=0.0, neginf=0.0)
        return matrix

    def _head_eye_values(self, channel_values: np.ndarray) -> np.ndarray:
        values = np.zeros(len(HEAD_EYE_AUS))
        for column, indices in enumerate(self._head_eye_columns):
            for index in indices:
                value = float(channel_values[index])
                if math.isfinite(value):
                    values[column] = max(values[column], value)
        return values

    def neutral_vector(self, time: float = 0.0) -> np.ndarray:
        """The rest frame: every weight and AU 0, bones at rest (identity rotations)."""
        return self.frame_vector(np.zeros(len(self.targets), dtype=np.float32), None, time)

    def encode(self, vector: np.ndarray) -> tuple[memoryview, ...]:
        """Patch one frame vector into the packets (see :meth:`FramePackets.encode`)."""
        return self.packets.encode(vector)

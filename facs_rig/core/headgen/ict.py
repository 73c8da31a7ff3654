"""The default head built on the ICT FaceKit scan: targets from scans, the muscle model and rotations.

The ICT FaceKit head (USC ICT, MIT) comes with 53 scanned ARKit-named expressions. Each target
of the bundled ``facs`` rig profile is made by a recipe from ``facs_rig/data/default_head_recipe.json``
(data, not code: the choice per AU and its reason live there):

- ``scan``: a weighted sum of ICT scans (``AU12_L = mouthSmile_L``), optionally restricted to one
  side of the face for a FACS code ICT scanned only on both sides;
- ``muscle``: the Waters muscle model of :mod:`facs_rig.core.headgen.actions`, re-placed on the
  ICT neutral through landmarks given as ICT vertex indices (AU11, AU13, AU23, AU35, AU38, AU39:
  ICT has no scan for them); ``blend`` recipes add scans to it (AU19: jaw from the scan, tongue
  from the model);
- ``head`` and ``gaze``: rotations of the head about the neck; gaze targets carry ICT's scanned
  lid follow-through, the eyeballs turn as nodes (``rigs/facs.json`` ``node_motion``);
- correctives: the tissue-saturated sum of the drivers (never moving a vertex less than its
  strongest single driver does) plus the scans the recipe lists, minus the drivers and minus
  smaller correctives (the rig drives them at the same time).

Pure numpy: the caller reads the GLB and the recipe and passes arrays and dicts in.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.headgen.actions import ACTIONS, FaceModel, _head, parse_target_name
from facs_rig.core.headgen.muscles import rotation, smoothstep

__all__ = [
    "IctHead", "RecipeError", "ict_face_model", "resolve_recipes", "build_ict_targets", "paint_colours",
    "relax_neutral",
]

#: FaceModel's part numbering (skin, eye_L, eye_R, teeth_upper, teeth_lower, mouth, tongue).
_PART_CODE = {
    "skin": 0, "eye_L": 1, "eye_R": 2, "teeth_upper": 3, "teeth_lower": 4, "mouth": 5, "tongue": 6,
    "eye_socket": 7,
}
_OTHER_SIDE = {"L": "R", "R": "L"}


class RecipeError(ValueError):
    """The recipe names a scan, landmark or method the head does not have."""


@dataclass(frozen=True)
class IctHead:
    """The ICT FaceKit full head as merged arrays (every primitive, node transforms applied).

    Attributes
    ----------
    positions : (n, 3) float64
        Neutral positions in metres.
    faces : (m, 3) int64
        Triangles into ``positions``.
    colours : (n, 3) float32
        ICT's flat per-part ``COLOR_0``.
    part_names : (n,) object
        ICT part of each vertex (``face``, ``head_neck``, ``teeth_lower``, ``sclera_L`` ...).
    ict_vertex : (n,) int64
        Index of each vertex in the ICT neutral (``_ICT_VERTEX``; UV seams duplicate vertices).
    scans : Mapping[str, (n, 3) float64]
        ICT's scanned expressions, deltas in metres, by ARKit-like name (``mouthSmile_L``).
    pivots : Mapping[str, (3,) float64]
        Translation (metres) of each ICT node that has one: ``eyeball_L``/``eyeball_R``, the eye
        centres.
    """

    positions: np.ndarray
    faces: np.ndarray
    colours: np.ndarray
    part_names: np.ndarray
    ict_vertex: np.ndarray
    scans: Mapping[str, np.ndarray]
    pivots: Mapping[str, np.ndarray] = field(default_factory=lambda: MappingProxyType({}))


def _components(n_vertices: int, faces: np.ndarray) -> np.ndarray:
    """Connected-component label per vertex (union-find over the triangle edges, numpy only)."""
    parent = np.arange(n_vertices)
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]]])
    while True:
        a, b = parent[edges[:, 0]], parent[edges[:, 1]]
        low = np.minimum(a, b)
        changed = a != b
        if not changed.any():
            break
        np.minimum.at(parent, a[changed], low[changed])
        np.minimum.at(parent, b[changed], low[changed])
        parent = parent[parent]
    while True:  # full path compression
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def _part_codes(head: IctHead, parts: Mapping[str, Any]) -> np.ndarray:
    codes = np.full(head.positions.shape[0], 255, np.uint8)
    for name, members in parts.items():
        if name in _PART_CODE:
            codes[np.isin(head.part_names, members)] = _PART_CODE[name]
    gums = np.isin(head.part_names, parts.get("gums_tongue", ()))
    if gums.any():
        labels = _components(head.positions.shape[0], head.faces)
        jaw = np.linalg.norm(head.scans["jawOpen"], axis=1)
        limit = float(parts["tongue_max_centroid_z_cm"]) * 0.01
        for label in np.unique(labels[gums]):
            piece = gums & (labels == label)
            moved = float(jaw[piece].max()) > 1e-3
            if not moved:
                codes[piece] = _PART_CODE["teeth_upper"]  # upper gums: fixed to the skull
            elif float(head.positions[piece, 2].mean()) < limit:
                codes[piece] = _PART_CODE["tongue"]
            else:
                codes[piece] = _PART_CODE["teeth_lower"]  # lower gums ride the mandible
    if (codes == 255).any():
        missing = sorted(set(head.part_names[codes == 255].tolist()))
        raise RecipeError(f"recipe parts do not cover the ICT parts {missing}")
    return codes


def _landmarks(head: IctHead, spec: Mapping[str, Any]) -> dict[str, np.ndarray]:
    points: dict[str, np.ndarray] = {}
    for name, entry in spec.items():
        if name == "notes" or "mirror" in entry:
            continue
        if "part_centre" in entry:
            mask = head.part_names == entry["part_centre"]
            if not mask.any():
                raise RecipeError(f"landmark {name}: no ICT part {entry['part_centre']!r}")
            points[name] = head.positions[mask].mean(axis=0)
            continue
        wanted = np.asarray(entry["ict_vertices"], np.int64)
        mask = np.isin(head.ict_vertex, wanted)
        if not mask.any():
            raise RecipeError(f"landmark {name}: ICT vertices {wanted.tolist()} are not in the head")
        point = head.positions[mask].mean(axis=0)
        points[name] = point + np.asarray(entry.get("offset_cm", (0, 0, 0)), np.float64) * 0.01
    for name, entry in spec.items():
        if name != "notes" and "mirror" in entry:
            points[name] = points[entry["mirror"]] * np.array([-1.0, 1.0, 1.0])
    return points


def relax_neutral(head: IctHead, recipe: Mapping[str, Any]) -> IctHead:
    """The head with its neutral skin smoothed where the recipe's ``relax`` regions say.

    Under the lower lip ICT's neutral mesh has a ripple of about 0.1 mm from vertex to vertex
    where the skin turns from the lip's underside into the mentolabial sulcus; lit, the steep
    turn of the normal makes it a row of tooth-like scallops (at 1024 px it reads as the lower
    teeth showing through the lip). A few Laplacian steps (each vertex half way to the mean of
    its neighbours), weighted by a window that fades to zero at its edges, remove that ripple and
    keep the shape (about 1 mm at most). Only the neutral moves; the scanned deltas are kept.
    """
    regions = recipe.get("relax", {}).get("regions", ())
    if not regions:
        return head
    points = _landmarks(head, recipe["landmarks"])
    p = head.positions
    skin = np.isin(head.part_names, list(recipe["parts"]["skin"]))
    faces = head.faces
    edges = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    edges = np.concatenate([edges, edges[:, ::-1]])
    degree = np.bincount(edges[:, 0], minlength=p.shape[0]).astype(np.float64)
    moved = p.copy()
    for region in regions:
        if region["below"] not in points:
            raise RecipeError(f"relax: the recipe names no landmark {region['below']!r}")
        anchor = points[region["below"]]
        top, bottom = (anchor[1] - float(v) * 0.01 for v in region["below_cm"])
        blend = float(region["blend_cm"]) * 0.01
        half = float(region["half_width_cm"]) * 0.01
        # The window fades from 1 to 0 over blend_cm outside its edges (a fade inside them
        # leaves a crease in the lip's highlight where the smoothing starts).
        window = (smoothstep(top + blend, top, p[:, 1]) * smoothstep(bottom - blend, bottom, p[:, 1])
                  * smoothstep(half + blend, half, np.abs(p[:, 0]))
                  * (p[:, 2] > anchor[2] - float(region["depth_cm"]) * 0.01) * skin)
        step = float(region["step"]) * window[:, None]
        for _ in range(int(region["iterations"])):
            total = np.zeros_like(moved)
            np.add.at(total, edges[:, 0], moved[edges[:, 1]])
            mean = total / np.maximum(degree, 1.0)[:, None]
            moved = moved + step * (mean - moved)
    return replace(head, positions=moved)


def ict_face_model(head: IctHead, recipe: Mapping[str, Any]) -> FaceModel:
    """The muscle model's view of the ICT head: parts and landmarks from the recipe."""
    parts = _part_codes(head, recipe["parts"])
    landmarks = _landmarks(head, recipe["landmarks"])
    return FaceModel(head.positions, head.faces, parts, MappingProxyType(landmarks), MappingProxyType({}))


def _mirrored(name: str) -> str:
    """``mouthSmile_L`` -> ``mouthSmile_R`` and back; unsided names stay."""
    suffix = name[-2:]
    return name[:-2] + "_" + _OTHER_SIDE[suffix[1]] if suffix in ("_L", "_R") else name


def resolve_recipes(recipe: Mapping[str, Any], names: Sequence[str]) -> dict[str, dict]:
    """The recipe of every base target in ``names``: ``_R`` entries mirror the ``_L`` ones.

    Raises
    ------
    RecipeError
        A base target has no recipe (neither its own nor its mirror).
    """
    table = recipe["targets"]
    resolved: dict[str, dict] = {}
    for name in names:
        parsed = parse_target_name(name)
        if parsed is None:
            raise RecipeError(f"target {name!r} is not a FACS target name")
        aus, side = parsed
        if len(aus) > 1:
            continue
        if name in table:
            resolved[name] = dict(table[name], side=table[name].get("side", side))
            continue
        if side is not None and name[:-1] + _OTHER_SIDE[side] in table:
            entry = dict(table[name[:-1] + _OTHER_SIDE[side]])
            entry["scans"] = {_mirrored(k): v for k, v in entry.get("scans", {}).items()}
            if "tongue_shift_cm" in entry:  # the mirror image crosses the midline
                x, y, z = entry["tongue_shift_cm"]
                entry["tongue_shift_cm"] = [-x, y, z]
            entry["side"] = side
            resolved[name] = entry
            continue
        raise RecipeError(f"the default head recipe has no entry for target {name!r}")
    return resolved


def _scan_sum(head: IctHead, scans: Mapping[str, float]) -> np.ndarray:
    total = np.zeros_like(head.positions)
    for scan, weight in scans.items():
        if scan not in head.scans:
            raise RecipeError(f"the ICT head has no scan {scan!r}")
        total += float(weight) * head.scans[scan]
    return total


def _tongue_shift(model: FaceModel, shift_m: np.ndarray) -> np.ndarray:
    """The tongue moves by ``shift_m``, its tip fully, its root less (it is anchored at the hyoid)."""
    tongue = model.part("tongue")
    z = model.positions[:, 2]
    front = float(z[tongue].max()) if tongue.any() else 0.0
    back = float(z[tongue].min()) if tongue.any() else 0.0
    follow = (0.35 + 0.65 * smoothstep(back, front, z)) * tongue
    return np.outer(follow, np.asarray(shift_m, np.float64))


def _base_target(head: IctHead, model: FaceModel, entry: Mapping[str, Any]) -> np.ndarray:
    method = entry["method"]
    side = entry.get("side")
    delta = _scan_sum(head, entry.get("scans", {}))
    if method in ("scan", "blend"):
        # A bilateral scan on a sided FACS target: that half of the face, blended at the midline.
        unsided = not any(k[-2:] in ("_L", "_R") for k in entry.get("scans", {}))
        if side is not None and entry.get("side_mask", unsided):
            delta = delta * model.side_weight(side, width=0.006)[:, None]
    elif method == "muscle":
        # An AU recipe of the Waters model, or only the bulges/bands below (muscle bellies).
        muscle = entry.get("muscle", {})
        if "au" in muscle:
            au = int(muscle["au"])
            if au not in ACTIONS:
                raise RecipeError(f"the muscle model has no action unit {au}")
            delta = delta + float(muscle.get("gain", 1.0)) * ACTIONS[au](model, side)
    elif method == "head":
        if "translate_cm" in entry:
            delta = _head(model, None, translate=np.asarray(entry["translate_cm"], np.float64) * 0.01)
        else:
            delta = _head(model, entry["axis"], float(entry["degrees"]))
    elif method == "gaze":
        # The lids' follow-through from the scans; the eyeballs themselves turn as nodes (the
        # rig profile's node_motion), unless the recipe asks to rotate them in the target.
        for eye, (axis, degrees) in entry.get("eyes", {}).items():
            mask = model.part(f"eye_{eye}")
            delta[mask] += rotation(
                model.positions[mask], model.point(f"eye_centre_{eye}"), np.asarray(axis, float), degrees
            )
    else:
        raise RecipeError(f"unknown recipe method {method!r}")
    if "tongue_shift_cm" in entry:
        delta = delta + _tongue_shift(model, np.asarray(entry["tongue_shift_cm"], np.float64) * 0.01)
    for bulge in entry.get("bulges", ()):
        delta = delta + _bulge(model, bulge, side)
    for band in entry.get("bands", ()):
        delta = delta + _band(model, band, side)
    return delta


def _landmark(model: FaceModel, name: str, side: str | None) -> np.ndarray:
    """A landmark named in a recipe; ``{side}`` stands for the target's side (L when bilateral)."""
    try:
        return model.point(name.format(side=side or "L"))
    except KeyError:
        raise RecipeError(f"the recipe names no landmark {name!r}") from None


def _bulge(model: FaceModel, spec: Mapping[str, Any], side: str | None) -> np.ndarray:
    """A muscle belly swelling under the skin (masseter in AU31): skin rises along its normal
    over an ellipsoidal window, most at the centre."""
    sides = ("L", "R") if side is None and "{side}" in spec["centre"] else (side,)
    total = np.zeros_like(model.positions)
    for s in sides:
        centre = _landmark(model, spec["centre"], s)
        window = model.region(centre, np.asarray(spec["radii_cm"], np.float64) * 0.01)
        total += model.normals * (float(spec["raise_cm"]) * 0.01 * window)[:, None]
    return total


def _band(model: FaceModel, spec: Mapping[str, Any], side: str | None) -> np.ndarray:
    """A cord of muscle standing out under the skin between two landmarks (the platysma bands of
    AU21), measured in the frontal plane; the skin over it rises and is drawn towards ``pull_to``."""
    start = _landmark(model, spec["from"], side)
    end = _landmark(model, spec["to"], side)
    p = model.positions
    seg = (end - start)[:2]
    u = np.clip((p[:, :2] - start[:2]) @ seg / float(seg @ seg), 0.0, 1.0)
    distance = np.linalg.norm(p[:, :2] - (start[:2] + np.outer(u, seg)), axis=1)
    half = float(spec["half_width_cm"]) * 0.01
    front = p[:, 2] > min(start[2], end[2]) - 0.02
    window = smoothstep(half, 0.3 * half, distance) * model.part("skin") * front
    window *= smoothstep(0.0, 0.15, u) * smoothstep(1.0, 0.85, u)  # fades at both ends
    lift = model.normals * (float(spec["raise_cm"]) * 0.01 * window)[:, None]
    upwards = (start - end) / np.linalg.norm(start - end)
    pull = np.outer(window, upwards) * float(spec.get("pull_cm", 0.0)) * 0.01
    return lift + pull


def paint_colours(head: IctHead, model: FaceModel, paint: Mapping[str, Any]) -> np.ndarray:
    """Vertex colours: ICT's flat part colours with skin, lip vermilion and brows painted.

    ICT ships no textures; without lips and brows a bald grey-pink face hides what the brows
    (AU1, 2, 4) and lips (AU23, 24, 28) do. The lips are the band between the lip line and a
    border that narrows to the corners; the brows a band along the brow landmarks.
    """
    colours = head.colours.astype(np.float64).copy()
    skin = model.part("skin")
    colours[skin] = paint["skin"]
    p = model.positions
    lips = paint["lips"]
    corner = model.point("mouth_corner_L")
    centre = model.point("mouth_centre")
    t = np.clip(np.abs(p[:, 0]) / abs(corner[0]), 0.0, 1.0)
    line = centre[1] + (corner[1] - centre[1]) * t * t
    taper = np.clip(1 - t * t, 0.0, 1.0) ** float(lips["taper"])
    above = (p[:, 1] - line) / (float(lips["upper_cm"]) * 0.01 * taper + 1e-5)
    below = (line - p[:, 1]) / (float(lips["lower_cm"]) * 0.01 * taper + 1e-5)
    inside = np.where(p[:, 1] >= line, above, below)
    front = p[:, 2] > corner[2] - float(lips["depth_cm"]) * 0.01
    # edge: the fraction of the band over which the paint fades (wider than a triangle, or its
    # border shows the mesh's stagger as a saw-tooth).
    fade = 1.0 - float(lips.get("edge", 0.2))
    lip = smoothstep(1.0, fade, inside) * (np.abs(p[:, 0]) <= abs(corner[0]) * 1.02) * front * skin
    colours = colours * (1 - lip[:, None]) + np.outer(lip, lips["colour"])
    brows = paint["brows"]
    for side in ("L", "R"):
        points = [model.point(f"{name}_{side}") for name in ("brow_inner", "brow_mid", "brow_outer")]
        widths = [float(w) * 0.01 for w in brows["half_width_cm"]]
        distance = np.full(p.shape[0], np.inf)
        width = np.zeros(p.shape[0])
        for (a, wa), (b, wb) in zip(zip(points, widths), zip(points[1:], widths[1:])):
            seg = b - a
            u = np.clip((p - a) @ seg / float(seg @ seg), 0.0, 1.0)
            d = np.linalg.norm(p - (a + np.outer(u, seg)), axis=1)
            closer = d < distance
            distance = np.where(closer, d, distance)
            width = np.where(closer, wa + (wb - wa) * u, width)
        brow = 0.85 * smoothstep(1.0, 0.45, distance / np.maximum(width, 1e-5)) * skin
        colours = colours * (1 - brow[:, None]) + np.outer(brow, brows["colour"])
    if "mouth_interior" in paint:
        colours = colours * _mouth_shade(head, model, paint["mouth_interior"])[:, None]
    return colours.astype(np.float32)


def _mouth_shade(head: IctHead, model: FaceModel, spec: Mapping[str, Any]) -> np.ndarray:
    """Brightness ``(n,)`` of the mouth's inside: the light that reaches it through the lips.

    A mouth is dark inside because the lips, cheeks and palate shade it (ambient occlusion); a
    renderer without shadows lights the tongue and the back teeth as brightly as the cheek, so an
    open mouth reads as a pink plate with a clump of side teeth. The inner parts are darkened with
    their depth behind the lips (neutral positions: the shade rides with each part as it moves),
    fully lit at ``front_cm`` behind the lip contact and at ``floor`` from ``back_cm`` on, and
    towards the cheeks (``side_cm``: from the first distance from the midline to the second) at
    most ``side_floor``.
    """
    inner = np.isin(head.part_names, list(spec["parts"]))
    depth = model.point("mouth_centre")[2] - model.positions[:, 2]
    front, back = float(spec["front_cm"]) * 0.01, float(spec["back_cm"]) * 0.01
    floor = float(spec["floor"])
    lit = floor + (1.0 - floor) * smoothstep(back, front, depth)
    if "side_cm" in spec:  # the cheeks shade the back teeth in the corners (buccal corridor)
        near, far = (float(v) * 0.01 for v in spec["side_cm"])
        side = float(spec["side_floor"])
        lit = lit * (side + (1.0 - side) * smoothstep(far, near, np.abs(model.positions[:, 0])))
    return np.where(inner, lit, 1.0)


def _saturate(displacement: np.ndarray, limit: float, drivers: Sequence[np.ndarray]) -> np.ndarray:
    """The summed drivers' displacement ``(n_vertices, 3)`` with tissue saturation: its length
    ``limit · tanh(length / limit)``, but never shorter than the longest single driver's at that
    vertex. Skin cannot follow two pulls linearly where they add up; where one pull acts alone it
    moves as that pull's own scan did (a plain 10 mm tanh of the sum cut AU12's 22 mm corner
    pull to 10 mm, so 6+12 smiled less than 12 alone)."""
    length = np.linalg.norm(displacement, axis=1, keepdims=True)
    longest = np.max([np.linalg.norm(d, axis=1, keepdims=True) for d in drivers], axis=0)
    saturated = np.maximum(limit * np.tanh(length / limit), np.minimum(longest, length))
    scale = saturated / np.maximum(length, 1e-12)
    return displacement * np.where(length > 1e-12, scale, 1.0)


def build_ict_targets(
    head: IctHead, recipe: Mapping[str, Any], names: Sequence[str], *, snap: float = 1e-6
) -> tuple[np.ndarray, FaceModel]:
    """Every named target's deltas ``(n_targets, n_vertices, 3)`` float32, metres.

    Deltas shorter than ``snap`` metres are set to exactly zero, so targets stay sparse.
    """
    model = ict_face_model(head, recipe)
    resolved = resolve_recipes(recipe, names)
    base: dict[str, np.ndarray] = {}
    for name, entry in resolved.items():
        base[name] = _base_target(head, model, entry)
    for name, entry in resolved.items():
        for other in entry.get("subtract", ()):
            base[name] = base[name] - base[other]
    correctives_spec = recipe.get("correctives", {})
    limit = float(correctives_spec.get("saturation_cm", 1.0)) * 0.01
    order = sorted(
        (n for n in names if n not in base), key=lambda n: len(parse_target_name(n)[0])  # type: ignore[index]
    )
    made: dict[tuple[frozenset[int], str | None], np.ndarray] = {}
    correctives: dict[str, np.ndarray] = {}
    for name in order:
        aus, side = parse_target_name(name)  # type: ignore[misc]
        key = "_".join(f"AU{au:02d}" for au in aus)
        if key not in correctives_spec:
            raise RecipeError(f"the default head recipe has no corrective {key!r} (for {name})")
        drivers = [f"AU{au:02d}" + (f"_{side}" if f"AU{au:02d}_{side}" in base else "") for au in aus]
        missing = [d for d in drivers if d not in base]
        if missing:
            raise RecipeError(f"corrective {name}: drivers {missing} are not targets")
        linear = sum(base[d] for d in drivers)
        scans = {
            (f"{scan}_{side}" if side and f"{scan}_{side}" in head.scans else scan): w
            for scan, w in correctives_spec[key].get("scans", {}).items()
        }
        if side is not None:
            extra = _scan_sum(head, scans) * model.side_weight(side, width=0.006)[:, None]
        else:
            extra = _scan_sum(head, scans)
        delta = _saturate(linear, limit, [base[d] for d in drivers]) + extra - linear
        for (subset, sub_side), sub in made.items():
            if sub_side == side and subset < frozenset(aus):
                delta = delta - sub
        made[(frozenset(aus), side)] = delta
        correctives[name] = delta
    stacked = np.stack([base[n] if n in base else correctives[n] for n in names]).astype(np.float32)
    stacked[np.abs(stacked) < snap] = 0.0
    return stacked, model

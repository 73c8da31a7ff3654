"""AU channels: the columns of every dense AU curve array.

A channel is one action unit on one side: ``AU12`` or ``AU01`` (bilateral, or side not coded), ``AU12_L`` or
``AU12_R`` (the subject's own left and right, as FACS codes them). Dense AU curves are time-first
arrays of shape ``(n_frames, n_channels)`` whose columns follow a tuple of :class:`Channel`.

The stable order of channels is by AU number, then bilateral before left before right
(:func:`sort_channels`); every function that invents a channel order uses it.
"""

from __future__ import annotations

import numbers
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from facs_rig.errors import CodeParseError, FacsRigError, shown

__all__ = ["Channel", "SIDES", "parse_channel", "read_channel_values", "sort_channels"]

#: The two sides FACS codes, from the subject's own point of view.
SIDES = ("L", "R")

_SIDE_ORDER = {None: 0, "L": 1, "R": 2}
# Matched with fullmatch on the stripped text: every run of spaces sits between two literals, so
# no two quantifiers compete for the same characters and matching is linear (a pattern with
# adjacent ``\s*`` runs took seconds on a name padded with spaces).
_CHANNEL_PATTERN = re.compile(r"([LR])?\s*AU\s*0*(\d{1,3})(?:[_\s]?([LR]))?", re.IGNORECASE)
# The FACS term form (``12``, ``L12``, ``R 12``), as codes and timeline files write channels; one
# space run between literals, linear as above.
_FACS_TERM_PATTERN = re.compile(r"([LR])?\s*(?:AU\s*)?0*(\d{1,3})", re.IGNORECASE)
#: Largest AU number a channel holds: three digits, as every channel name is read. Whether the
#: number is a FACS code is the vocabulary's question (``check_channel`` names unknown ones).
MAX_AU = 999
#: Longest text taken for a channel name: ``L AU012_R`` padded generously. Longer text is not a
#: channel, and the bound keeps every regex over a name constant-time.
MAX_CHANNEL_NAME = 32


@dataclass(frozen=True, slots=True, order=False)
class Channel:
    """One AU on one side: the column label of dense AU curves.

    Parameters
    ----------
    au : int
        FACS code number (12 for Lip Corner Puller).
    side : {None, 'L', 'R'}
        ``None`` for bilateral (or side not coded), else the subject's own left or right.
    """

    au: int
    side: str | None = None

    def __post_init__(self) -> None:
        au = self.au
        if isinstance(au, bool) or not isinstance(au, numbers.Integral):
            # Channel("12") was accepted and matched no AU: text goes through parse_channel.
            hint = "; parse_channel() reads text such as 'AU12' or 'L12'" if isinstance(au, str) else ""
            raise CodeParseError(f"a channel's AU must be a whole number, not {shown(au)} "
                                 f"({type(au).__name__}){hint}")
        if not 0 <= au <= MAX_AU:
            raise CodeParseError(f"a channel's AU must be 0-{MAX_AU}, not {au}")
        if type(au) is not int:  # numpy integers: one type, so equal channels hash alike
            object.__setattr__(self, "au", int(au))
        if self.side not in _SIDE_ORDER:
            raise CodeParseError(f"channel side must be None, 'L' or 'R', not {shown(self.side)}")

    @property
    def name(self) -> str:
        """Canonical column name: ``AU01``, ``AU12_L``, ``AU12_R``.

        Two-digit zero padding matches the column names of OpenFace and Py-Feat and the target
        names of the ``facs`` rig profile.
        """
        return f"AU{self.au:02d}" + (f"_{self.side}" if self.side else "")

    @property
    def sort_key(self) -> tuple[int, int]:
        """Key of the stable channel order: AU number, then bilateral, left, right."""
        return (self.au, _SIDE_ORDER[self.side])

    def __str__(self) -> str:
        return self.name


def parse_channel(text: str) -> Channel | None:
    """Read a channel name such as ``AU12``, ``AU12_L``, ``au01``, ``L AU12`` or ``AU12R``, or
    the FACS term form ``12``, ``L12``, ``R12`` (as timeline files accept it).

    Returns ``None`` when the text is not a channel name (the caller reports where it was).

    Examples
    --------
    >>> parse_channel("L12"), parse_channel("AU12_L"), parse_channel("12")
    (Channel(au=12, side='L'), Channel(au=12, side='L'), Channel(au=12, side=None))
    """
    channel = _parse_au_name(text)
    if channel is not None:
        return channel
    text = text.strip()
    if len(text) > MAX_CHANNEL_NAME:
        return None
    match = _FACS_TERM_PATTERN.fullmatch(text)
    if match is None:
        return None
    side, number = match.groups()
    return Channel(int(number), side.upper() if side else None)


def _parse_au_name(text: str) -> Channel | None:
    """:func:`parse_channel` of the ``AU``-prefixed names only (rig profile keys are these)."""
    text = text.strip()
    if len(text) > MAX_CHANNEL_NAME:
        return None
    match = _CHANNEL_PATTERN.fullmatch(text)
    if not match:
        return None
    prefix, number, suffix = match.groups()
    if prefix and suffix:
        return None
    side = (prefix or suffix)
    return Channel(int(number), side.upper() if side else None)


def read_channel_values(values: Mapping[Any, Any], *,
                        error: type[FacsRigError] = CodeParseError) -> dict[Channel, float]:
    """AU values keyed by :class:`Channel`, channel name (``"AU12_L"``, ``"L12"``) or AU number
    (``12``), as :class:`Channel` -> float: the one reader of such keys (``FaceStream.push``,
    ``mix_frame``).

    Raises
    ------
    FacsRigError
        ``error`` (default :class:`~facs_rig.errors.CodeParseError`) naming a key that is no
        channel or a value that is no number. Non-finite numbers are returned as they are.
    """
    if not isinstance(values, Mapping):
        raise error(f"AU values must be a mapping of channel to value, not "
                    f"{type(values).__name__}")
    result: dict[Channel, float] = {}
    for key, value in values.items():
        if isinstance(key, Channel):
            channel = key
        elif isinstance(key, numbers.Integral) and not isinstance(key, bool) and 0 <= key <= MAX_AU:
            channel = Channel(int(key))
        else:
            channel = parse_channel(key) if isinstance(key, str) else None
            if channel is None:
                raise error(f"{shown(key)} is not an AU channel (use AU12, AU12_L, L12 or 12)")
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise error(f"{channel}: value {shown(value)} is not a number")
        result[channel] = float(value)
    return result


def sort_channels(channels: Iterable[Channel]) -> tuple[Channel, ...]:
    """Deduplicate and sort channels into the stable documented order."""
    return tuple(sorted(set(channels), key=lambda channel: channel.sort_key))

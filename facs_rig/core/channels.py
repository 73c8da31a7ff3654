"""AU channels: the columns of every dense AU curve array.

A channel is one action unit on one side: ``AU12`` or ``AU01`` (bilateral, or side not coded), ``AU12_L`` or
``AU12_R`` (the subject's own left and right, as FACS codes them). Dense AU curves are time-first
arrays of shape ``(n_frames, n_channels)`` whose columns follow a tuple of :class:`Channel`.

The stable order of channels is by AU number, then bilateral before left before right
(:func:`sort_channels`); every function that invents a channel order uses it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

__all__ = ["Channel", "SIDES", "parse_channel", "sort_channels"]

#: The two sides FACS codes, from the subject's own point of view.
SIDES = ("L", "R")

_SIDE_ORDER = {None: 0, "L": 1, "R": 2}
# Matched with fullmatch on the stripped text: every run of spaces sits between two literals, so
# no two quantifiers compete for the same characters and matching is linear (a pattern with
# adjacent ``\s*`` runs took seconds on a name padded with spaces).
_CHANNEL_PATTERN = re.compile(r"([LR])?\s*AU\s*0*(\d{1,3})(?:[_\s]?([LR]))?", re.IGNORECASE)
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
        if self.side not in _SIDE_ORDER:
            raise ValueError(f"channel side must be None, 'L' or 'R', not {self.side!r}")

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
    """Read a channel name such as ``AU12``, ``AU12_L``, ``au01``, ``L AU12`` or ``AU12R``.

    Returns ``None`` when the text is not a channel name (the caller reports where it was).
    """
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


def sort_channels(channels: Iterable[Channel]) -> tuple[Channel, ...]:
    """Deduplicate and sort channels into the stable documented order."""
    return tuple(sorted(set(channels), key=lambda channel: channel.sort_key))

"""A text progress bar for long renders, written to a stream the caller gives (stderr in the CLI)."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``label [#######.......]  42/120 frames  3.1 s`` redrawn in place with carriage returns.

    Call it with the number of items done. On a stream that is not a terminal (a CI log, a file)
    only the final line is written, so logs are not flooded with redraws.

    Parameters
    ----------
    total : int
        Number of items.
    stream : text stream
        Where to draw (``sys.stderr``).
    label : str
        Text before the bar.
    width : int
        Bar width in characters.
    """

    def __init__(
        self, total: int, stream: TextIO, *, label: str = "rendering", width: int = 30, unit: str = "frames"
    ):
        self.total = max(int(total), 1)
        self.stream = stream
        self.label = label
        self.width = width
        self.unit = unit
        self.done = 0
        self._start = time.perf_counter()
        self._interactive = bool(getattr(stream, "isatty", lambda: False)())
        self._finished = False

    def line(self, done: int) -> str:
        """The bar's text for ``done`` items."""
        fraction = min(max(done / self.total, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        elapsed = time.perf_counter() - self._start
        return (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{self.total} {self.unit}  {elapsed:.1f} s"
        )

    def __call__(self, done: int) -> None:
        self.done = done
        if self._interactive:
            self.stream.write("\r" + self.line(done))
            self.stream.flush()
        if done >= self.total:
            self.finish()

    def finish(self) -> None:
        """End the bar's line (idempotent)."""
        if self._finished:
            return
        self._finished = True
        self.stream.write(("\r" if self._interactive else "") + self.line(self.done) + "\n")
        self.stream.flush()

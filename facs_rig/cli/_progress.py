"""A text progress bar for long CLI jobs (renders, batches of captures), written to stderr."""

from __future__ import annotations

import time
from typing import TextIO

__all__ = ["ProgressBar"]


class ProgressBar:
    """``label [#######.......]  42/120 frames  3.1 s`` redrawn in place with carriage returns.

    Call it with the number of items done (and optionally the item's name). On a stream that is
    not a terminal (a CI log, a file) only the final line is written, so logs are not flooded with
    redraws; with ``log_steps`` each step is written as a plain line instead, for batches whose
    items are worth seeing in a log.

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
    unit : str
        What is counted ("frames", "captures").
    log_steps : bool
        Off a terminal, write ``label: done/total item`` for every step instead of a final bar.
    """

    def __init__(
        self, total: int, stream: TextIO, *, label: str = "rendering", width: int = 30,
        unit: str = "frames", log_steps: bool = False,
    ):
        self.total = max(int(total), 1)
        self.stream = stream
        self.label = label
        self.width = width
        self.unit = unit
        self.log_steps = log_steps
        self.done = 0
        self._start = time.perf_counter()
        self._interactive = bool(getattr(stream, "isatty", lambda: False)())
        self._finished = False

    def line(self, done: int, item: str = "") -> str:
        """The bar's text for ``done`` items (``item``: the name of the last one, if any)."""
        fraction = min(max(done / self.total, 0.0), 1.0)
        filled = int(round(fraction * self.width))
        elapsed = time.perf_counter() - self._start
        return (
            f"{self.label} [{'#' * filled}{'.' * (self.width - filled)}] "
            f"{done}/{self.total} {self.unit}  {elapsed:.1f} s" + (f"  {item[:40]}" if item else "")
        )

    def __call__(self, done: int, item: str = "") -> None:
        self.done = done
        if self._interactive:
            self.stream.write("\r" + self.line(done, item))
            self.stream.flush()
        elif self.log_steps:
            self.stream.write(f"{self.label}: {done}/{self.total} {item}".rstrip() + "\n")
            self.stream.flush()
        if done >= self.total:
            self.finish()

    def clear(self) -> None:
        """Erase the bar on a terminal, so that another message can be printed on its line."""
        if self._interactive:
            self.stream.write("\r" + " " * (self.width + 80) + "\r")
            self.stream.flush()

    def finish(self) -> None:
        """End the bar's line (idempotent)."""
        if self._finished:
            return
        self._finished = True
        if self._interactive:
            self.stream.write("\r" + self.line(self.done) + "\n")
        elif not self.log_steps:
            self.stream.write(self.line(self.done) + "\n")
        self.stream.flush()

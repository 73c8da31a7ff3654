"""Progress of long CLI jobs (renders, batches of captures) on stderr, drawn by tqdm.

On a terminal it is tqdm's bar, redrawn in place. Off a terminal (a CI log, a file) a redrawn bar
would flood the log with carriage returns, so plain lines are written instead, in tqdm's own
text: one every :data:`LOG_INTERVAL` seconds and one at the end, or one per item with
``log_steps`` (batches whose items are worth seeing in a log).
"""

from __future__ import annotations

import time
from typing import TextIO

from tqdm import tqdm

__all__ = ["ProgressBar", "LOG_INTERVAL"]

#: Seconds between two plain log lines off a terminal.
LOG_INTERVAL = 5.0


class ProgressBar:
    """Call it with the number of items done (and optionally the item's name).

    Parameters
    ----------
    total : int
        Number of items.
    stream : text stream
        Where to draw (``sys.stderr``).
    label : str
        Text before the bar.
    unit : str
        What is counted ("frames", "captures").
    log_steps : bool
        Off a terminal, write ``label: done/total item`` for every step instead of timed lines.
    """

    def __init__(self, total: int, stream: TextIO, *, label: str = "rendering",
                 unit: str = "frames", log_steps: bool = False):
        self.total = max(int(total), 1)
        self.stream = stream
        self.label = label
        self.unit = unit
        self.log_steps = log_steps
        self.done = 0
        self._start = time.perf_counter()
        self._last_log = self._start
        self._finished = False
        interactive = bool(getattr(stream, "isatty", lambda: False)())
        self._bar = (tqdm(total=self.total, file=stream, desc=label, unit=f" {unit}",
                          dynamic_ncols=True, leave=True) if interactive else None)

    def line(self, done: int, item: str = "") -> str:
        """The plain text for ``done`` items (``item``: the name of the last one, if any)."""
        text = tqdm.format_meter(done, self.total, time.perf_counter() - self._start,
                                 prefix=self.label, unit=f" {self.unit}", ascii=True, ncols=80)
        return text + (f"  {item[:40]}" if item else "")

    def __call__(self, done: int, item: str = "") -> None:
        self.done = done
        if self._bar is not None:
            self._bar.update(done - self._bar.n)
            if item:
                self._bar.set_postfix_str(item[:40], refresh=False)
        elif self.log_steps:
            self.stream.write(f"{self.label}: {done}/{self.total} {item}".rstrip() + "\n")
            self.stream.flush()
        elif time.perf_counter() - self._last_log >= LOG_INTERVAL and done < self.total:
            self._last_log = time.perf_counter()
            self.stream.write(self.line(done) + "\n")
            self.stream.flush()
        if done >= self.total:
            self.finish()

    def clear(self) -> None:
        """Erase the bar on a terminal, so that another message can be printed on its line."""
        if self._bar is not None:
            self._bar.clear()

    def finish(self) -> None:
        """End the bar's line (idempotent)."""
        if self._finished:
            return
        self._finished = True
        if self._bar is not None:
            self._bar.close()
        elif not self.log_steps:
            self.stream.write(self.line(self.done) + "\n")
            self.stream.flush()

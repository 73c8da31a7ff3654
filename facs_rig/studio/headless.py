"""Headless Chromium for the studio's browser tests and benchmarks (Playwright, a test extra).

Debian's ``chromium`` is driven through Playwright's ``executable_path``: ``playwright install``
downloads browsers of its own, which offline machines cannot do.
"""

from __future__ import annotations

import shutil
from pathlib import Path

__all__ = ["CHROMIUM_ARGS", "find_chromium", "launch_chromium"]

#: Headless, no sandbox (root in containers), software GL, and no traffic of its own.
CHROMIUM_ARGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run")


def find_chromium() -> str | None:
    """Path of a Chromium binary (Debian's ``/usr/bin/chromium`` first), or None."""
    for candidate in ("/usr/bin/chromium", "/usr/bin/chromium-browser"):
        if Path(candidate).exists():
            return candidate
    return shutil.which("chromium") or shutil.which("chromium-browser")


def launch_chromium(playwright, executable: str | None = None):
    """A Playwright ``Browser`` running the system Chromium headless."""
    return playwright.chromium.launch(executable_path=executable or find_chromium(),
                                      args=list(CHROMIUM_ARGS))

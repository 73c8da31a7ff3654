"""``python -m facs_rig`` runs the command-line tool."""

from facs_rig._console import run

raise SystemExit(run())

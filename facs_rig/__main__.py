"""``python -m facs_rig`` runs the command-line tool."""

from facs_rig.cli import main

raise SystemExit(main())

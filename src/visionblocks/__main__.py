"""Runs the command-line interface: ``python -m visionblocks``."""

from visionblocks.cli import main

raise SystemExit(main())

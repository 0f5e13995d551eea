"""`python -m conductor` runs the same CLI as the `conductor` entry point."""

from conductor.cli import main

raise SystemExit(main())

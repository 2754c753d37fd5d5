"""`python -m pipeline.cli`: the same entry point as the `triaje` command."""

from pipeline.cli import main

main()

"""Click commands of the classifier (train, evaluate, classify, model ...).

`pipeline.cli` adds every command listed in COMMANDS to the `triaje` entry point.
"""

import click

COMMANDS: list[click.Command] = []

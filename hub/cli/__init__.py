"""The `hub` command: serve, worker, demo, db, and the admin commands, one module per area (docs/cli.md)."""
from __future__ import annotations

from types import ModuleType

import click

from hub.cli import audit, deprovisioning, idp, mail, orgs, providers, runtime, sharing, sources, tiles, tokens, users


@click.group()
def main() -> None:
    """Social Hub: sign-in, sharing and feeds between your LMS and social networks."""


def _register(group: click.Group, *areas: ModuleType) -> None:
    """Each area module lists its top-level commands in COMMANDS; this is the one place that gathers them."""
    for area in areas:
        for command in area.COMMANDS:
            group.add_command(command)


_register(main, runtime, providers, orgs, users, sources, audit, sharing, tiles, tokens, idp, mail, deprovisioning)

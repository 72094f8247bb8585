"""What every `hub` command module shares: the app, the listing printer, error handling, option types."""
from __future__ import annotations

import functools
import json
from collections.abc import Callable, Iterable
from enum import Enum
from typing import Any

import click
from flask import Flask

from hub.errors import ConfigError, HubError
from hub.models import MAX_KEY

# A row id: what a primary key can hold (a larger number would be PostgreSQL's "integer out of range").
ROW_ID = click.IntRange(1, MAX_KEY)


class Names(click.Choice):
    """A choice among names read when the command line is parsed, from the registry or an enum, never typed here:
    a kind added to providers/registry.py (or registered by a test) is accepted and listed without editing the CLI."""

    def __init__(self, names: Callable[[], Iterable[str]] | type[Enum], noun: str) -> None:
        # No super().__init__: it would store a fixed tuple where this reads the names live.
        self._names = functools.partial(_values, names) if isinstance(names, type) else names
        self.noun = noun
        self.case_sensitive = True  # for click's own listing: convert() matches without regard to case

    @property
    def choices(self) -> tuple[str, ...]:  # type: ignore[override]  # read live: a property where click has a field
        return tuple(self._names())

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        """The name as the registry or enum spells it; anything else is refused, listing the names."""
        wanted = str(value).strip().casefold()
        for name in self.choices:
            if name.casefold() == wanted:
                return name
        self.fail(f"{str(value)!r} is not {self.noun}; one of: {', '.join(self.choices)}", param, ctx)


def _values(enum: type[Enum]) -> list[str]:
    return [str(member.value) for member in enum]


def load_app() -> Flask:
    """The hub's app from the HUB_* settings; a bad setting is a one-line CLI error, not a traceback."""
    from hub.app import create_app

    try:
        return create_app()
    except ConfigError as exc:
        raise click.ClickException(f"configuration error: {exc}") from None


def emit(rows: list[dict[str, Any]], as_json: bool, columns: Iterable[str]) -> None:
    """Print a listing as JSON (--json) or as an aligned table."""
    if as_json:
        click.echo(json.dumps(rows, indent=2, default=str))
        return
    columns = list(columns)
    if not rows:
        click.echo("(none)")
        return
    widths = {c: max(len(c), *(len(cell(r.get(c))) for r in rows)) for c in columns}
    click.echo("  ".join(c.upper().ljust(widths[c]) for c in columns))
    for row in rows:
        click.echo("  ".join(cell(row.get(c)).ljust(widths[c]) for c in columns))


def cell(value: Any) -> str:
    """One table cell: lists joined by commas, dicts as JSON, None blank."""
    if isinstance(value, (list, tuple)):
        return ",".join(cell(v) for v in value)
    if isinstance(value, dict):
        return json.dumps(value)
    return "" if value is None else str(value)


def admin(action: Callable[..., Any]) -> Callable[..., Any]:
    """Run inside an app context, turning HubError into a clear CLI error (exit 1)."""

    @functools.wraps(action)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        app = load_app()
        with app.app_context():
            try:
                return action(*args, **kwargs)
            except HubError as exc:
                raise click.ClickException(str(exc)) from None

    return wrapper


def org_scope(action: Callable[..., Any]) -> Callable[..., Any]:
    """--org NAME (repeatable) or --all-orgs: which organisations a credential reaches (no default)."""
    action = click.option("--all-orgs", is_flag=True, help="Reach every organisation (say it explicitly).")(action)
    return click.option("--org", "org_names", multiple=True, metavar="NAME",
                        help="An organisation it reaches (repeatable).")(action)


def flag_migrated(rows: list[dict[str, Any]], what: str, fix: str) -> None:
    """Credentials older than tenancy reach every organisation: say so, and how to narrow them (on stderr)."""
    migrated = [str(row["name"]) for row in rows if row.get("all_orgs_by_migration")]
    if migrated:
        click.echo(f"warning: {len(migrated)} {what}(s) reach every organisation because they predate "
                   f"organisation scoping: {', '.join(migrated)}. Narrow each with: {fix} (or confirm with "
                   "--all-orgs). docs/tenancy.md", err=True)

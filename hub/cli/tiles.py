"""`hub tile`: homepage tiles, external feeds shown inside the LMS."""
from __future__ import annotations

from collections.abc import Iterable

import click
from sqlalchemy import select

from hub.cli.common import Names, admin, emit
from hub.errors import HubError

# The flag that carries a tile's address, by what its reader says the address is (address_label).
TILE_ADDRESS_FLAGS = {"query": "query", "user": "query", "url": "url", "site": "url", "channel": "channel",
                      "group": "group"}


def _tile_kinds() -> Iterable[str]:
    from hub.tiles import store

    return store.tile_kinds()


@click.group()
def tile() -> None:
    """Homepage tiles: external feeds shown inside the LMS."""


@tile.command("add")
@click.option("--kind", required=True, type=Names(_tile_kinds, "a tile kind"), help="The feed the tile reads.")
@click.option("--title", required=True, help="The tile's heading on the LMS page.")
@click.option("--query", help="x:search: the search query; x:user: the account.")
@click.option("--url", help="rss: the feed URL; sharepoint:news: the site URL.")
@click.option("--channel", help="slack:channel: the public channel (id or #name).")
@click.option("--group", help="yammer:group: the group (community) id.")
@click.option("--org", "org_name", help="The organisation whose connection the tile reads through.")
@click.option("--audience", "audience", multiple=True,
              help="Only users of this organisation see the tile (repeatable); default: all users.")
@click.option("--refresh", "refresh_seconds", type=int, default=None,
              help="Seconds between refreshes (default 300, at least the provider's minimum).")
@click.option("--max-items", "max_items", type=int, default=10, show_default=True, help="Items kept and shown.")
@admin
def tile_add(kind: str, title: str, query: str | None, url: str | None, channel: str | None, group: str | None,
             org_name: str | None, audience: tuple[str, ...], refresh_seconds: int | None, max_items: int) -> None:
    """Add a tile; it is refreshed by the next worker pass (or now, with `hub tile refresh ID`)."""
    from hub import audit, db, orgs
    from hub.tiles import store

    given = {flag: value for flag, value in (("query", query), ("url", url), ("channel", channel),
                                              ("group", group)) if value is not None}
    expected = TILE_ADDRESS_FLAGS.get(store.address_label(kind), "query")
    if list(given) != [expected]:
        extra = "" if not given else f", not {' '.join('--' + g for g in given)}"
        raise HubError(f"kind {kind} takes exactly one --{expected}{extra}")
    with db.transaction() as session:
        try:
            org_id = orgs.find_org(session, org_name).id if org_name else None
        except HubError as exc:
            raise HubError(f"--org: {exc}") from None
        try:
            audience_ids = [orgs.find_org(session, name).id for name in audience]
        except HubError as exc:
            raise HubError(f"--audience: {exc}") from None
        added = store.create_tile(session, kind=kind, title=title, address=given[expected], org_id=org_id,
                                  audience=audience_ids, refresh_seconds=refresh_seconds, max_items=max_items)
    audit.record("tile.add", "success", actor="cli",
                 detail={"tile": added.id, "kind": added.kind, "address": added.address, "org": org_name})
    click.echo(f"tile {added.id}: {added.kind} {added.address} (every {added.refresh_seconds} s, "
               f"{added.max_items} items, for {', '.join(audience) or 'all users'})")


@tile.command("list")
@click.option("--json", "as_json", is_flag=True)
@admin
def tile_list(as_json: bool) -> None:
    """List tiles with their refresh state (stale tiles show their last error)."""
    from hub import db
    from hub.models import Organisation
    from hub.tiles import store

    session = db.session()
    names = dict(session.execute(select(Organisation.id, Organisation.name)).all())
    rows = [store.describe(t, store.audience_of(session, t.id), names) for t in store.list_tiles(session)]
    emit(rows, as_json, ["id", "kind", "title", "address", "org", "audience", "refresh_seconds", "max_items",
                         "enabled", "stale", "fetched_at", "last_error"])


@tile.command("remove")
@click.argument("tile_id", type=int)
@admin
def tile_remove(tile_id: int) -> None:
    """Remove a tile and its stored items; LMS pages stop showing it at once, as after the admin page's Delete."""
    import redis

    from hub import audit, db
    from hub.tiles import cache, store

    with db.transaction() as session:
        store.delete_tile(session, tile_id)
    audit.record("tile.remove", "success", actor="cli", detail={"tile": tile_id})
    try:
        cache.forget(tile_id)  # else the serving pointer answers for up to cache.POINTER_TTL seconds
    except redis.exceptions.RedisError as exc:
        click.echo(f"warning: the tile cache was not told ({type(exc).__name__}); LMS pages stop showing the tile "
                   f"within {cache.POINTER_TTL} s", err=True)
    click.echo(f"tile {tile_id} removed")


@tile.command("refresh")
@click.argument("tile_id", type=int)
@admin
def tile_refresh(tile_id: int) -> None:
    """Refresh a tile now, in this process, and print the outcome (exit 1 if it failed)."""
    from hub import db
    from hub.tiles import refresh, store

    store.get_tile(db.session(), tile_id)
    result = refresh.refresh_tile(db.session(), tile_id)
    line = f"tile {tile_id}: {result.outcome.value}"
    if result.added:
        line += f", {result.added} new item{'s' if result.added != 1 else ''}"
    if result.next_refresh_at is not None:
        line += f"; next refresh {result.next_refresh_at.isoformat(timespec='seconds')}"
    if result.error:
        raise HubError(f"{line}: {result.error}")
    click.echo(line)


COMMANDS = (tile,)

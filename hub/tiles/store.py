"""Tile configuration: admin input checked against the tile kind's reader, then stored; listing and audiences.

Every check runs before anything is added to the session, so bad input changes nothing. Messages name the field
as the CLI spells it (`--refresh`), and InvalidTile.field names it as the admin form does (`refresh_seconds`).
"""
from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from datetime import datetime
from urllib.parse import urlsplit, urlunsplit

import idna
from sqlalchemy import delete, exists, or_, select
from sqlalchemy.orm import Session

from hub import names
from hub.errors import HubError
from hub.models import MAX_KEY, Organisation, Tile, TileAudience, TileItem
from providers import registry
from providers.base import FeedReader

MAX_ITEMS_RANGE = (1, 100)
MAX_REFRESH_SECONDS = 24 * 3600  # a tile refreshed less than daily is not a feed any more
DEFAULT_REFRESH_SECONDS = 300
TITLE_LIMIT = 200
ADDRESS_LIMIT = 2000
SHOWN_LIMIT = 80  # how much of a refused value a message repeats
URL_LABELS = ("url", "site")  # address labels whose address is a URL


class InvalidTile(HubError):
    """Admin input for a tile is wrong; the message names the field, `field` is its form name."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def tile_kinds() -> tuple[str, ...]:
    """Every tile kind a reader in providers/ serves."""
    return tuple(sorted(registry.READERS))


def reader_class(kind: str) -> type[FeedReader]:
    """The reader class of a tile kind; InvalidTile naming --kind when there is none."""
    try:
        return registry.reader_class(kind)
    except registry.UnknownKind:
        raise InvalidTile("kind", f"--kind {kind!r} is not a tile kind; known: {', '.join(tile_kinds())}") from None


def address_label(kind: str) -> str:
    """What a kind's address is ("query", "url", "channel", "group", "site", "user"), as its reader declares."""
    return reader_class(kind).address_label


def min_refresh_seconds(kind: str) -> int:
    """The shortest refresh interval the kind's provider tolerates (Yammer: once a minute)."""
    return reader_class(kind).min_refresh_seconds


def check_address(kind: str, address: str) -> str:
    """The reader's normalised address, or InvalidTile naming the address field with the reader's reason.

    Before the reader sees it: at most ADDRESS_LIMIT characters, no control or direction-override characters.
    After it, a URL address (label url or site) carries no user name or password and its host is in IDNA form
    (https://bücher.example -> https://xn--bcher-kva.example), so a look-alike host shows as what it is.
    """
    cls = reader_class(kind)
    label = address_label(kind)
    address = (address or "").strip()
    if not address:
        raise InvalidTile("address", f"--{label} must not be empty for kind {kind}")
    if len(address) > ADDRESS_LIMIT:
        raise InvalidTile("address", f"--{label} must be at most {ADDRESS_LIMIT} characters, not {len(address)}")
    _check_visible(address, "address", f"--{label}")
    if label in URL_LABELS:
        _check_no_credentials(address, f"--{label}")  # before the reader, which may drop them silently
    try:
        normalised = cls.check_address(address)
    except ValueError as exc:
        raise InvalidTile("address", f"--{label} {_shown(address)}: {str(exc)[:300]}") from None
    if label in URL_LABELS:
        normalised = _checked_url(normalised, f"--{label}")
    if len(normalised) > ADDRESS_LIMIT:
        raise InvalidTile("address", f"--{label} must be at most {ADDRESS_LIMIT} characters")
    return normalised


def _checked_url(url: str, flag: str) -> str:
    """The URL with its host as IDNA A-labels (UTS #46), or InvalidTile."""
    _check_no_credentials(url, flag)
    parts = urlsplit(url)
    host = parts.hostname or ""
    try:
        ipaddress.ip_address(host)
        return url  # an IP literal has no IDNA form
    except ValueError:
        pass
    if host.isascii() and not any(label.startswith("xn--") for label in host.split(".")):
        return url  # plain ASCII names go through as the reader left them (underscores and all)
    try:
        ascii_host = idna.encode(host, uts46=True).decode("ascii")
        idna.decode(ascii_host)  # an A-label must also decode: "xn--zz" is not a name
    except idna.IDNAError as exc:
        raise InvalidTile("address", f"{flag}: the host {_shown(host)} is not a valid international domain "
                                     f"name ({exc})") from None
    netloc = ascii_host if parts.port is None else f"{ascii_host}:{parts.port}"
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _check_no_credentials(url: str, flag: str) -> None:
    try:
        parts = urlsplit(url)
    except ValueError:
        return  # not a URL at all: the reader says what is wrong with it
    if parts.username is not None or parts.password is not None:
        raise InvalidTile("address", f"{flag} must not carry a user name or password")


def _check_visible(value: str, field: str, flag: str) -> None:
    """InvalidTile when the value holds a control, format or text-direction character (hub.names, as every name)."""
    if hidden := names.problem(value, flag):
        raise InvalidTile(field, hidden)


def _shown(value: str, limit: int = SHOWN_LIMIT) -> str:
    """A value as a message repeats it: quoted, and cut short when long."""
    return repr(value) if len(value) <= limit else f"{value[:limit]!r}... ({len(value)} characters)"


def create_tile(session: Session, *, kind: str, title: str, address: str, org_id: int | None = None,
                audience: Sequence[int] = (), refresh_seconds: int | None = None, max_items: int = 10,
                enabled: bool = True) -> Tile:
    """Validate and store a tile with its audience (no audience: all users); due for its first refresh now."""
    kind = (kind or "").strip().lower()
    reader_class(kind)
    title, normalised, refresh, audience_ids = _checked(session, kind, title, address, org_id, audience,
                                                        refresh_seconds, max_items)
    tile = Tile(kind=kind, title=title, address=normalised, org_id=org_id, refresh_seconds=refresh,
                max_items=max_items, enabled=enabled, version=0, next_refresh_at=None)
    session.add(tile)
    session.flush()
    session.add_all(TileAudience(tile_id=tile.id, org_id=org) for org in audience_ids)
    session.flush()
    return tile


def _checked(session: Session, kind: str, title: str, address: str, org_id: int | None, audience: Sequence[int],
             refresh_seconds: int | None, max_items: int) -> tuple[str, str, int, list[int]]:
    """Every check a tile's settings pass, for create and update alike: (title, address, refresh, audience)."""
    title = (title or "").strip()
    if not title:
        raise InvalidTile("title", "--title must not be empty")
    if len(title) > TITLE_LIMIT:
        raise InvalidTile("title", f"--title must be at most {TITLE_LIMIT} characters")
    _check_visible(title, "title", "--title")
    normalised = check_address(kind, address)
    floor = min_refresh_seconds(kind)
    refresh = max(DEFAULT_REFRESH_SECONDS, floor) if refresh_seconds is None else refresh_seconds
    if not floor <= refresh <= MAX_REFRESH_SECONDS:
        raise InvalidTile("refresh_seconds", f"--refresh must be between {floor} and {MAX_REFRESH_SECONDS} "
                                             f"seconds for kind {kind}, not {refresh}")
    low, high = MAX_ITEMS_RANGE
    if not low <= max_items <= high:
        raise InvalidTile("max_items", f"--max-items must be between {low} and {high}, not {max_items}")
    connection_kind = reader_class(kind).connection_kind
    if org_id is None and connection_kind:
        raise InvalidTile("org_id", f"--org is required for kind {kind}: it reads through the organisation's "
                                    f"{connection_kind} connection")
    if org_id is not None:
        _check_orgs(session, [org_id], "org_id", "--org")
    audience_ids = sorted(set(audience))
    _check_orgs(session, audience_ids, "audience", "--audience")
    return title, normalised, refresh, audience_ids


def update_tile(session: Session, tile_id: int, *, title: str, address: str, org_id: int | None,
                audience: Sequence[int], refresh_seconds: int | None, max_items: int, enabled: bool) -> Tile:
    """Change a tile's settings (its kind stays), checked as on create; nothing changes on error.

    A new address or organisation starts the tile over (no cursor, no items, due now): the old items came from
    somewhere else. The version is bumped, since what the tile serves or who sees it may have changed.
    """
    tile = get_tile(session, tile_id)
    title, normalised, refresh, audience_ids = _checked(session, tile.kind, title, address, org_id, audience,
                                                        refresh_seconds, max_items)
    if normalised != tile.address or org_id != tile.org_id:
        session.execute(delete(TileItem).where(TileItem.tile_id == tile.id))
        tile.cursor, tile.fetched_at, tile.last_error, tile.error_at = None, None, None, None
        tile.next_refresh_at = None
    elif enabled and not tile.enabled:
        tile.next_refresh_at = None
    tile.title, tile.address, tile.org_id = title, normalised, org_id
    tile.refresh_seconds, tile.max_items, tile.enabled = refresh, max_items, enabled
    session.execute(delete(TileAudience).where(TileAudience.tile_id == tile.id))
    session.add_all(TileAudience(tile_id=tile.id, org_id=org) for org in audience_ids)
    tile.version = Tile.version + 1
    session.flush()
    return tile


def _check_orgs(session: Session, org_ids: Iterable[int], field: str, flag: str) -> None:
    wanted = set(org_ids)
    if not wanted:
        return
    # An id past the database's integers names no organisation (and must not reach the driver).
    found = set(session.scalars(select(Organisation.id).where(
        Organisation.id.in_([org for org in wanted if 0 < org <= MAX_KEY]))))
    missing = sorted(wanted - found)
    if missing:
        raise InvalidTile(field, f"{flag}: no organisation with id {', '.join(map(str, missing))}")


def get_tile(session: Session, tile_id: int) -> Tile:
    """The tile with this id, or InvalidTile."""
    tile = session.get(Tile, tile_id) if 0 < tile_id <= MAX_KEY else None
    if tile is None:
        raise InvalidTile("id", f"no tile with id {tile_id}")
    return tile


def list_tiles(session: Session) -> list[Tile]:
    """Every tile, oldest first."""
    return list(session.scalars(select(Tile).order_by(Tile.id)))


def delete_tile(session: Session, tile_id: int) -> None:
    """Remove a tile; its items and audience go with it (ON DELETE CASCADE, and explicitly for the ORM)."""
    tile = get_tile(session, tile_id)
    session.execute(delete(TileAudience).where(TileAudience.tile_id == tile.id))
    session.delete(tile)
    session.flush()


def audience_of(session: Session, tile_id: int) -> list[int]:
    """The organisations a tile is for; empty: all users."""
    return list(session.scalars(select(TileAudience.org_id).where(TileAudience.tile_id == tile_id)
                                .order_by(TileAudience.org_id)))


def set_audience(session: Session, tile_id: int, org_ids: Sequence[int]) -> list[int]:
    """Replace a tile's audience (empty: all users); bumps its version, since who sees it changed."""
    tile = get_tile(session, tile_id)
    wanted = sorted(set(org_ids))
    _check_orgs(session, wanted, "audience", "--audience")
    session.execute(delete(TileAudience).where(TileAudience.tile_id == tile.id))
    session.add_all(TileAudience(tile_id=tile.id, org_id=org) for org in wanted)
    tile.version = Tile.version + 1
    session.flush()
    return wanted


def set_enabled(session: Session, tile_id: int, enabled: bool) -> Tile:
    """Show a tile again (due at once) or stop showing and refreshing it."""
    tile = get_tile(session, tile_id)
    tile.enabled = enabled
    if enabled:
        tile.next_refresh_at = None
    tile.version = Tile.version + 1
    session.flush()
    return tile


def visible_to(session: Session, org_id: int | None) -> list[Tile]:
    """The enabled tiles a user of this organisation sees: those for all users, and those naming the org."""
    for_all = ~exists().where(TileAudience.tile_id == Tile.id)
    scope = for_all if org_id is None else or_(
        for_all, exists().where(TileAudience.tile_id == Tile.id, TileAudience.org_id == org_id))
    return list(session.scalars(select(Tile).where(Tile.enabled.is_(True), scope).order_by(Tile.id)))


def describe(tile: Tile, audience: Sequence[int], org_names: dict[int, str]) -> dict[str, object]:
    """A tile as `hub tile list --json` and the admin API show it (no tokens: a tile holds none)."""
    return {"id": tile.id, "kind": tile.kind, "title": tile.title, "address": tile.address,
            "org": org_names.get(tile.org_id) if tile.org_id else None,
            "audience": [org_names.get(o, str(o)) for o in audience] or "*",
            "refresh_seconds": tile.refresh_seconds, "max_items": tile.max_items, "enabled": tile.enabled,
            "version": tile.version, "stale": tile.stale, "last_error": tile.last_error,
            "fetched_at": _iso(tile.fetched_at), "error_at": _iso(tile.error_at),
            "next_refresh_at": _iso(tile.next_refresh_at)}


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None

"""Tiles pages: the list with each tile's refresh state, add and edit with a live preview, refresh now, delete.

Everything is checked by hub.tiles.store, as for `hub tile add`; its messages speak the CLI's flags, and the form
shows them in its own words beside the field. The preview is a dry run (hub.admin.tile_preview) rendered with the
serving side's fragment template into a sandboxed iframe whose document forbids every script (its own CSP).

Organisation admins see and change the tiles of their organisations only. A tile they add, edit or preview reads
through one of their organisations (never another's connection) and shows to their organisations: a tile for every
user, or a public feed of no organisation, is hub-level.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flask import Response, current_app, redirect, render_template, request, url_for
from sqlalchemy import select

from hub import db, redis_conn
from hub.admin import bp
from hub.admin.access import console_required, new_org, reach, reachable
from hub.admin.common import done, whole
from hub.admin.tile_preview import preview
from hub.models import Organisation, Tile
from hub.tiles import cache, scheduler, store

FIELDS = ("kind", "title", "address", "org_id", "refresh_seconds", "max_items")
# The preview document: the serving fragment's rules, framed only by the admin page, and sandboxed besides.
PREVIEW_CSP = ("default-src 'none'; style-src 'self'; img-src 'none'; base-uri 'none'; form-action 'none'; "
               "frame-ancestors 'self'; sandbox allow-popups allow-popups-to-escape-sandbox")
# How the form names what the store's messages call by their CLI flag.
CLI_WORDS = (("--kind", "Kind"), ("--title", "Title"), ("--refresh", "Refresh interval"),
             ("--max-items", "Max items"), ("--org", "Organisation"), ("--audience", "Audience"))
ADDRESS_LABELS = {"query": "Search query", "user": "Account", "url": "Feed URL", "site": "Site URL",
                  "channel": "Channel", "group": "Group id"}
ADDRESS_HINTS = {"query": "What X's recent search is asked, e.g. #learning -is:retweet",
                 "user": "An X username, e.g. @openedx",
                 "url": "An http(s) RSS or Atom feed URL, e.g. https://example.org/feed.xml",
                 "site": "The SharePoint site's URL, e.g. https://contoso.sharepoint.com/sites/news",
                 "channel": "A public Slack channel: #name or its id",
                 "group": "The community's group id (the number in its URL)"}


def kinds() -> list[dict[str, str]]:
    """Every tile kind with what its address is, as its reader declares (the form labels the field by it)."""
    found = []
    for kind in store.tile_kinds():
        label = store.address_label(kind)
        found.append({"kind": kind, "label": ADDRESS_LABELS.get(label, label.capitalize()),
                      "hint": ADDRESS_HINTS.get(label, ""), "flag": label})
    return found


def form_words(message: str, kind: str | None) -> str:
    """A store message in the form's words: its flags become field names, its first letter a capital."""
    text = message
    if kind:
        try:
            label = store.address_label(kind)
        except store.InvalidTile:
            label = None
        if label:
            text = text.replace(f"--{label}", ADDRESS_LABELS.get(label, label))
    for flag, words in CLI_WORDS:
        text = text.replace(flag, words)
    return text[:1].upper() + text[1:]


def _org_names() -> dict[int, str]:
    """The names of the organisations within reach (others show by id: a hub admin may have added them)."""
    return dict(db.session().execute(select(Organisation.id, Organisation.name)
                                     .where(reach().where(Organisation.id))).all())


def _org_options() -> list[tuple[str, str]]:
    return sorted(((str(org_id), name) for org_id, name in _org_names().items()), key=lambda option: option[1])


def _read_form(kept_audience: Sequence[int] = ()) -> tuple[dict[str, Any], dict[str, str], dict[str, Any]]:
    """(what was typed, errors found before the store sees it, the parsed values, within reach: _scope)."""
    form: dict[str, Any] = {name: request.form.get(name, "").strip() for name in FIELDS}
    form["audience"] = [value for value in request.form.getlist("audience") if value]
    form["enabled"] = request.form.get("enabled") == "on"
    errors: dict[str, str] = {}
    values: dict[str, Any] = {"kind": form["kind"].lower(), "title": form["title"], "address": form["address"]}
    values["org_id"] = whole(form["org_id"]) if form["org_id"] else None
    if form["org_id"] and values["org_id"] is None:
        errors["org_id"] = "Organisation: choose one from the list"
    audience = [whole(value.strip()) for value in form["audience"]]
    values["audience"] = sorted({org for org in audience if org is not None})
    if None in audience:
        errors["audience"], values["audience"] = "Audience: choose organisations from the list", []
    values["refresh_seconds"] = None
    if form["refresh_seconds"]:
        values["refresh_seconds"] = whole(form["refresh_seconds"])
        if values["refresh_seconds"] is None:
            errors["refresh_seconds"] = "Refresh interval is a whole number of seconds, e.g. 300"
    values["max_items"] = 10
    if form["max_items"]:
        values["max_items"] = whole(form["max_items"])
        if values["max_items"] is None:
            errors["max_items"], values["max_items"] = "Max items is a whole number, e.g. 10", 10
    values["enabled"] = form["enabled"]
    _scope(values, kept_audience)
    return form, errors, values


def _scope(values: dict[str, Any], kept_audience: Sequence[int]) -> None:
    """Keep a tile within the signed-in admin's reach: its organisation one of theirs (404 for another's; their
    own when none is chosen), its audience theirs (their tile's organisation when none is ticked: a tile for every
    user is hub-level). Audience entries beyond reach that a hub admin set stay as they were."""
    mine = reach()
    values["org_id"] = new_org(values["org_id"])
    if mine.everything:
        return
    for org_id in values["audience"]:
        mine.require(org_id)
    beyond = {org_id for org_id in kept_audience if not mine.allows(org_id)}
    values["audience"] = sorted(set(values["audience"] or [values["org_id"]]) | beyond)


def _list_page(form: dict[str, Any] | None = None, errors: dict[str, str] | None = None, status: int = 200) -> Any:
    session, names = db.session(), _org_names()
    tiles = session.scalars(select(Tile).where(reach().where(Tile.org_id)).order_by(Tile.id))
    rows = [store.describe(tile, store.audience_of(session, tile.id), names) for tile in tiles]
    return render_template("admin/tiles.html", rows=rows, kinds=kinds(), orgs=_org_options(),
                           form=form or {"kind": "rss", "max_items": "10", "audience": []},
                           errors=errors or {}), status


@bp.get("/tiles")
@console_required
def tiles_page() -> Any:
    return _list_page()


@bp.post("/tiles")
@console_required
def tile_add() -> Any:
    """Add a tile as `hub tile add` does; errors go back beside their fields and nothing is stored."""
    form, errors, values = _read_form()
    if not errors:
        try:
            with db.transaction() as session:
                added = store.create_tile(session, kind=values["kind"], title=values["title"],
                                          address=values["address"], org_id=values["org_id"],
                                          audience=values["audience"], refresh_seconds=values["refresh_seconds"],
                                          max_items=values["max_items"])
        except store.InvalidTile as exc:
            errors[exc.field if exc.field in (*FIELDS, "audience") else "form"] = form_words(str(exc), values["kind"])
    if errors:
        done("tile.add", "The tile was not added: correct the fields marked below.", outcome="failure",
             reason="invalid", detail={"errors": errors}, org_id=values["org_id"])
        return _list_page(form, errors, status=400)
    done("tile.add", f"Tile {added.id} added: {added.kind} {added.address}. The worker fetches it within seconds.",
         detail={"tile": added.id, "kind": added.kind, "address": added.address, "org": values["org_id"]},
         org_id=added.org_id)
    return redirect(url_for("admin.tiles_page"), 303)


def _edit_page(tile: Tile, form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
               status: int = 200) -> Any:
    session, names = db.session(), _org_names()
    audience = store.audience_of(session, tile.id)
    if form is None:
        form = {"kind": tile.kind, "title": tile.title, "address": tile.address,
                "org_id": str(tile.org_id or ""), "refresh_seconds": str(tile.refresh_seconds),
                "max_items": str(tile.max_items), "audience": [str(o) for o in audience], "enabled": tile.enabled}
    kind = next((k for k in kinds() if k["kind"] == tile.kind), {"kind": tile.kind, "label": "Address", "hint": ""})
    return render_template("admin/tiles_edit.html", tile=store.describe(tile, audience, names), kind=kind,
                           orgs=_org_options(), form=form, errors=errors or {},
                           config_base=current_app.extensions["settings"].base_url), status


def _tile_or_404(tile_id: int) -> Tile:
    """The tile when within reach (its organisation's); 404 otherwise. A tile of no organisation is hub-level."""
    return reachable(Tile, tile_id)  # an id past MAX_KEY arrives as 0 (hub.app.KeyConverter): no row


@bp.get("/tiles/<int:tile_id>")
@console_required
def tile_edit(tile_id: int) -> Any:
    return _edit_page(_tile_or_404(tile_id))


@bp.post("/tiles/<int:tile_id>")
@console_required
def tile_save(tile_id: int) -> Any:
    """Save an edited tile (its kind stays); a new address or organisation starts it over."""
    tile = _tile_or_404(tile_id)
    form, errors, values = _read_form(kept_audience=store.audience_of(db.session(), tile_id))
    form["kind"] = tile.kind
    if not errors:
        try:
            with db.transaction() as session:
                saved = store.update_tile(session, tile_id, title=values["title"], address=values["address"],
                                          org_id=values["org_id"], audience=values["audience"],
                                          refresh_seconds=values["refresh_seconds"], max_items=values["max_items"],
                                          enabled=values["enabled"])
        except store.InvalidTile as exc:
            errors[exc.field if exc.field in (*FIELDS, "audience") else "form"] = form_words(str(exc), tile.kind)
    if errors:
        done("tile.edit", "The tile was not saved: correct the fields marked below.", outcome="failure",
             reason="invalid", detail={"tile": tile_id, "errors": errors}, org_id=tile.org_id)
        return _edit_page(_tile_or_404(tile_id), form, errors, status=400)
    _forget_cached(tile_id)
    done("tile.edit", f"Tile {tile_id} saved: {saved.title}.", detail={"tile": tile_id, "address": saved.address,
                                                                       "enabled": saved.enabled},
         org_id=saved.org_id)
    return redirect(url_for("admin.tile_edit", tile_id=tile_id), 303)


@bp.post("/tiles/preview")
@console_required
def tile_preview() -> Any:
    """The dry run, as a document for the editor's preview frame: what the tile would show now; stores nothing."""
    form, errors, values = _read_form()
    shown = None
    if not errors:
        try:
            shown = preview(db.session(), values["kind"], values["address"], values["org_id"], values["max_items"],
                            title=values["title"])
        except store.InvalidTile as exc:
            errors[exc.field] = form_words(str(exc), values["kind"])
    if shown is not None and shown.error is None:
        body = render_template("tiles/fragment.html", tile=shown.as_payload())
    else:
        body = render_template("admin/tiles_preview.html", errors=errors, failed=shown.error if shown else None)
    return _framed(body)


@bp.get("/tiles/preview")
@console_required
def tile_preview_blank() -> Any:
    """What the preview frame shows before the first preview."""
    return _framed(render_template("admin/tiles_preview.html", errors={}, failed=None))


@bp.get("/tiles/<int:tile_id>/fragment")
@console_required
def tile_fragment(tile_id: int) -> Any:
    """The tile's /tiles/<id> fragment from the serving cache, for admins whatever its audience."""
    _tile_or_404(tile_id)
    entry = cache.lookup(tile_id)
    if entry is None:
        return _framed(render_template("admin/tiles_preview.html", errors={}, failed=None, disabled=True))
    return _framed(cache.fragment(entry).decode())


def _framed(body: str) -> Response:
    response = Response(body, 200, mimetype="text/html")
    response.headers["Content-Security-Policy"] = PREVIEW_CSP
    return response


@bp.post("/tiles/<int:tile_id>/refresh")
@console_required
def tile_refresh(tile_id: int) -> Any:
    """Queue the tile's refresh job now (the worker runs it; `hub tile refresh` runs it in the CLI's process)."""
    tile = _tile_or_404(tile_id)
    made = scheduler.enqueue(scheduler.queue(redis_conn.get()), [tile_id])
    done("tile.refresh", f"Tile {tile_id}: refresh queued; the worker fetches it in a moment." if made else
         f"Tile {tile_id}: a refresh is already queued or running.", detail={"tile": tile_id, "queued": bool(made)},
         org_id=tile.org_id)
    back = url_for("admin.tile_edit", tile_id=tile_id) if request.form.get("back") == "edit" \
        else url_for("admin.tiles_page")
    return redirect(back, 303)


@bp.get("/tiles/<int:tile_id>/delete")
@console_required
def tile_delete_confirm(tile_id: int) -> Any:
    tile = _tile_or_404(tile_id)
    return render_template("admin/tiles_delete.html", tile=tile)


@bp.post("/tiles/<int:tile_id>/delete")
@console_required
def tile_delete(tile_id: int) -> Any:
    """Remove the tile and its items, as `hub tile remove` does; LMS pages stop showing it at once."""
    tile = _tile_or_404(tile_id)
    title, org_id = tile.title, tile.org_id
    with db.transaction() as session:
        store.delete_tile(session, tile_id)
    _forget_cached(tile_id)
    done("tile.remove", f"Tile {tile_id} ({title}) removed.", detail={"tile": tile_id}, org_id=org_id)
    return redirect(url_for("admin.tiles_page"), 303)


def _forget_cached(tile_id: int) -> None:
    """The serving pointer goes now, not in POINTER_TTL seconds: the next request reads the new row."""
    cache.forget(tile_id)

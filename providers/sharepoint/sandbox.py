"""A local slice of Microsoft Graph for SharePoint news: sites by path and a site's pages, behind Entra tokens.

Mounted inside the Microsoft sandbox (at /graph, so /graph/v1.0/... stands in for https://graph.microsoft.com/v1.0),
because only its token endpoint can say whether a bearer token was issued for https://graph.microsoft.com/.default.
Paths, fields and error bodies follow the Graph docs: GET /sites/{hostname}:/{server-relative-path},
GET /sites/{site-id} and GET /sites/{site-id}/pages/microsoft.graph.sitePage with $filter (only
`promotionKind eq 'newsPost'`), $orderby (lastModifiedDateTime or createdDateTime, asc/desc), $top and an
@odata.nextLink; errors as {"error": {"code", "message", "innerError"}}; 401 InvalidAuthenticationToken for an
unknown token, 403 for a token of another tenant. `faults` answers the next calls with canned failures (429 with
Retry-After, 5xx), `reads` records each call's path and query, `add_page` publishes a page for tests, and
`ignore_filter` answers as Graph has been seen to, ignoring $filter on pages.
"""
from __future__ import annotations

import itertools
import re
import threading
import time
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from flask import Blueprint, jsonify, request

from providers.posting_sandbox import PostingFaults
from providers.sandbox_kit import Grant

GRAPH_SCOPE = "https://graph.microsoft.com/.default"
CONTOSO = "5f2b1c3e-8a4d-4e6f-9b1a-2c3d4e5f6a7b"  # the Microsoft sandbox's Contoso tenant
# hostname + server-relative path -> (site id, display name, tenant id).
SITES: dict[str, tuple[str, str, str]] = {
    "contoso.sharepoint.com/sites/news": (
        "contoso.sharepoint.com,2c712604-1370-44e7-a1f5-426573fda80a,2d2244c3-251a-49ea-93a8-39e1c3a060fe",
        "Contoso News", CONTOSO),
    "contoso.sharepoint.com/sites/learning": (
        "contoso.sharepoint.com,7a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d,0a9b8c7d-6e5f-4d3c-2b1a-0f9e8d7c6b5a",
        "Learning", CONTOSO),
}
# (site path, title, description, news post?, published?, author, last modified): the demo's SharePoint tile.
SAMPLE_PAGES = [
    ("contoso.sharepoint.com/sites/news", "Home", "The news site's home page", False, True, "Megan Bowen",
     "2026-08-01T09:00:00Z"),
    ("contoso.sharepoint.com/sites/news", "New learning portal for partners",
     "Partners now sign in to the LMS with their own accounts.", True, True, "Megan Bowen", "2026-09-01T09:00:00Z"),
    ("contoso.sharepoint.com/sites/news", "Security Basics is mandatory from October",
     "Every employee completes Security Basics by 31 October.", True, True, "Lee Gu", "2026-09-10T12:30:00Z"),
    ("contoso.sharepoint.com/sites/news", "Draft: Q4 training plan", "Not published yet.", True, False,
     "Megan Bowen", "2026-09-11T08:00:00Z"),
]
FILTER = re.compile(r"\s*promotionKind\s+eq\s+'(\w+)'\s*")
ORDER = re.compile(r"\s*(lastModifiedDateTime|createdDateTime)(?:\s+(asc|desc))?\s*")


def graph_error(status: int, code: str, message: str) -> Any:
    """Graph's error body, with the request-id and date it carries."""
    inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": str(uuid.uuid4()),
             "client-request-id": str(uuid.uuid4())}
    return jsonify({"error": {"code": code, "message": message, "innerError": inner}}), status


class GraphSites:
    def __init__(self, tokens: Mapping[str, Grant]) -> None:
        self.tokens = tokens
        self.pages: dict[str, list[dict[str, Any]]] = {}  # site id -> pages, oldest first
        self.faults = PostingFaults()
        self.reads: list[tuple[str, dict[str, str]]] = []
        self.ignore_filter = False
        self._lock = threading.Lock()
        self._clock = itertools.count(1)
        for path, title, description, news, published, author, modified in SAMPLE_PAGES:
            self.add_page(path, title, description, news=news, published=published, author=author, modified=modified)

    def mount(self, bp: Blueprint, prefix: str = "/graph") -> None:
        bp.add_url_rule(f"{prefix}/v1.0/sites/<path:rest>", "graph_sites", self.sites)

    # --- set-up for tests and the demo ----------------------------------------------------
    def add_page(self, site_path: str, title: str, description: str = "", *, news: bool = True,
                 published: bool = True, author: str = "Megan Bowen", modified: str | None = None) -> str:
        """A page on a site (a news post unless news=False); returns its id."""
        site_id, _name, _tenant = SITES[site_path]
        page_id = str(uuid.uuid4())
        # Each new page is at least a second newer than the last one, so tests never tie on a timestamp.
        stamp = modified or time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + next(self._clock)))
        name = re.sub(r"[^A-Za-z0-9]+", "-", title).strip("-") + ".aspx"
        who = {"user": {"displayName": author, "email": f"{author.split()[0].lower()}@contoso.example"}}
        page = {"@odata.type": "#microsoft.graph.sitePage", "id": page_id, "name": name, "title": title,
                "description": description, "webUrl": f"https://{site_path}/SitePages/{name}",
                "eTag": f"\"{{{page_id.upper()}}},1\"", "createdDateTime": stamp, "lastModifiedDateTime": stamp,
                "createdBy": who, "lastModifiedBy": who, "pageLayout": "article" if news else "home",
                "promotionKind": "newsPost" if news else "page", "showComments": True,
                "publishingState": {"level": "published" if published else "checkout",
                                    "versionId": "1.0" if published else "0.1"},
                "thumbnailWebUrl": f"https://{site_path}/_layouts/15/getpreview.ashx?path=SitePages/{name}"}
        with self._lock:
            self.pages.setdefault(site_id, []).append(page)
        return page_id

    # --- the API --------------------------------------------------------------------------
    def sites(self, rest: str) -> Any:
        canned = self.faults.pop()
        if canned:
            return canned
        self.reads.append((request.path, request.args.to_dict()))
        grant = self._grant()
        if grant is None:
            return graph_error(401, "InvalidAuthenticationToken", "Access token validation failure. Invalid audience.")
        if ":" in rest:  # /sites/{hostname}:/{server-relative-path}
            host, _, path = rest.partition(":")
            found = SITES.get(f"{host.lower()}/{path.strip('/').lower()}".rstrip("/"))
            return self._site(found, grant, f"{host}:{path}")
        site_id, _, tail = rest.partition("/")
        found = next((s for s in SITES.values() if s[0] == site_id), None)
        if not tail:
            return self._site(found, grant, site_id)
        if tail not in ("pages", "pages/microsoft.graph.sitePage"):
            return graph_error(400, "BadRequest", f"Resource not found for the segment '{tail.split('/')[0]}'.")
        if found is None:
            return graph_error(404, "itemNotFound", "Requested site could not be found")
        if found[2] != grant.user.get("tid"):
            return graph_error(403, "accessDenied", "Either scp or roles claim need to be present in the token.")
        return self._pages(found[0])

    def _grant(self) -> Grant | None:
        header = request.headers.get("Authorization", "")
        grant = self.tokens.get(header[len("Bearer "):]) if header.startswith("Bearer ") else None
        return grant if grant is not None and GRAPH_SCOPE in grant.scope.split() else None

    def _site(self, found: tuple[str, str, str] | None, grant: Grant, asked: str) -> Any:
        if found is None:
            return graph_error(404, "itemNotFound", "Requested site could not be found")
        if found[2] != grant.user.get("tid"):
            return graph_error(403, "accessDenied", "Access denied")
        site_id, display, _tenant = found
        path = next(p for p, s in SITES.items() if s[0] == site_id)
        return jsonify({"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites/$entity",
                        "id": site_id, "displayName": display, "name": path.rsplit("/", 1)[-1],
                        "webUrl": f"https://{path}", "createdDateTime": "2024-01-15T10:00:00Z",
                        "lastModifiedDateTime": "2026-09-10T12:30:00Z",
                        "siteCollection": {"hostname": path.split("/")[0]}})

    def _pages(self, site_id: str) -> Any:
        pages = list(self.pages.get(site_id, []))
        wanted = request.args.get("$filter")
        if wanted and not self.ignore_filter:
            match = FILTER.fullmatch(wanted)
            if match is None:
                return graph_error(400, "invalidRequest", f"Invalid filter clause: {wanted}")
            pages = [p for p in pages if p["promotionKind"] == match.group(1)]
        order = request.args.get("$orderby")
        if order:
            match = ORDER.fullmatch(order)
            if match is None:
                return graph_error(400, "invalidRequest", f"Invalid orderby clause: {order}")
            pages.sort(key=lambda p: p[match.group(1)], reverse=match.group(2) == "desc")
        top = int(request.args.get("$top") or 100)
        skip = int(request.args.get("$skiptoken") or 0)
        body: dict[str, Any] = {"@odata.context": "https://graph.microsoft.com/v1.0/$metadata#sites('"
                                                  f"{site_id}')/pages/microsoft.graph.sitePage",
                                "value": pages[skip:skip + top]}
        if skip + top < len(pages):
            args = {**request.args.to_dict(), "$skiptoken": str(skip + top)}
            query = "&".join(f"{k}={v}" for k, v in args.items())
            body["@odata.nextLink"] = f"{request.base_url}?{query}"
        return jsonify(body)

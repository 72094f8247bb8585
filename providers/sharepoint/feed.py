"""SharePoint tiles (`sharepoint:news`): a site's published news posts through Microsoft Graph.

Docs: https://learn.microsoft.com/graph/api/site-getbypath
      https://learn.microsoft.com/graph/api/sitepage-list
      https://learn.microsoft.com/graph/api/resources/sitepage
      https://learn.microsoft.com/entra/identity-platform/v2-oauth2-client-creds-grant-flow
      https://learn.microsoft.com/graph/throttling
A site's news are its pages with promotionKind 'newsPost': GET /sites/{site-id}/pages/microsoft.graph.sitePage
?$filter=promotionKind eq 'newsPost'&$orderby=lastModifiedDateTime desc. The site id comes from the site's URL
(GET /sites/{hostname}:/{path}) once and rides in the cursor. Graph has no "changed since" filter on pages, and
its $filter on pages has been seen ignored, so the reader filters again itself (news posts, published only: a
draft must not reach learners) and stops at the cursor's newest lastModifiedDateTime.

The token is app-only (client credentials, https://graph.microsoft.com/.default, application permission
Sites.Read.All or Sites.Selected granted to the Microsoft app by a tenant admin): news tiles are for everyone in
the LMS, not for one person, so no one's delegated account should have to stay connected for them.
msal asks the sandbox's Entra when the Microsoft provider's auth_base points there (as for Yammer).
"""
from __future__ import annotations

import json
import threading
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import msal
import requests

from providers.base import (
    DEFAULT_TIMEOUT,
    AuthExpired,
    FeedItem,
    FeedPage,
    FeedReader,
    FeedSource,
    Permanent,
    ProviderSettings,
    RateLimited,
    Transient,
    check_url,
    checked_session,
    cursor_state,
)
from providers.microsoft import _TimeoutSession
from providers.publishing import retry_after

DEFAULT_API_BASE = "https://graph.microsoft.com"
AUTHORITY_HOST = "https://login.microsoftonline.com"
SCOPE = "https://graph.microsoft.com/.default"
NEWS_FILTER = "promotionKind eq 'newsPost'"
FIELDS = ("id", "title", "description", "webUrl", "createdBy", "createdDateTime", "lastModifiedDateTime",
          "promotionKind", "publishingState")
MULTI_TENANT = frozenset({"common", "organizations", "consumers"})
CURSOR_KEYS = ("site_id", "since")  # the cursor: the site id and the newest lastModifiedDateTime read
# Entra errors that a configuration change fixes (a retry never does).
CONFIG_ERRORS = frozenset({"invalid_client", "unauthorized_client", "invalid_scope", "invalid_request"})


class SharePointNewsReader(FeedReader):
    kind = "sharepoint:news"
    connection_kind = None  # app-only: the Microsoft app's own credentials
    credentials_from = "microsoft"
    api_under_auth_base = "/graph"  # in the sandbox, Graph is served beside Entra
    min_refresh_seconds = 60
    address_label = "site"

    def __init__(self, settings: ProviderSettings) -> None:
        super().__init__(settings)
        self.http = checked_session(settings, settings.api_base, settings.auth_base)
        # App-only tokens are per tenant; sign-in often uses `common`, so the news tenant may be named on its own.
        tenant = settings.options.get("sharepoint_tenant") or settings.options.get("tenant") or ""
        self.tenant = str(tenant).strip().lower()
        self._msal: msal.ConfidentialClientApplication | None = None
        self._lock = threading.Lock()

    @classmethod
    def check_address(cls, address: str) -> str:
        """The site's https URL, e.g. https://contoso.sharepoint.com/sites/news (no query, no trailing slash)."""
        parts = urlsplit(address.strip())
        if parts.scheme != "https" or not parts.hostname or parts.query or parts.fragment or parts.username:
            raise ValueError("a sharepoint:news tile needs the site's address, such as "
                             f"https://contoso.sharepoint.com/sites/news, not {address!r}")
        path = parts.path.rstrip("/")
        for page in ("/SitePages", "/_layouts"):  # a page's URL pasted instead of the site's
            if page.lower() in path.lower():
                path = path[:path.lower().index(page.lower())]
        return f"https://{parts.hostname.lower()}{path}"

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """Published news posts modified after the cursor, newest first."""
        address = self.check_address(source.address)
        state = cursor_state(cursor, address, CURSOR_KEYS)
        headers = {"Authorization": f"Bearer {self._token()}"}
        site_id = state.get("site_id") or self._site_id(address, headers)
        answer = self._get(f"/v1.0/sites/{site_id}/pages/microsoft.graph.sitePage", headers, {
            "$filter": NEWS_FILTER, "$orderby": "lastModifiedDateTime desc",
            "$top": str(min(2 * source.max_items, 100)),  # room for the pages the reader drops itself
            "$select": ",".join(FIELDS)})
        since = _time(state.get("since"))
        pages = [p for p in answer.get("value") or [] if _shown(p)]
        pages.sort(key=_modified, reverse=True)
        fresh = [p for p in pages if since is None or _modified(p) > since]
        newest = str(fresh[0]["lastModifiedDateTime"]) if fresh else state.get("since")
        cursor = json.dumps({"address": address, "site_id": site_id, **({"since": newest} if newest else {})},
                            sort_keys=True)
        items = tuple(_item(p) for p in fresh[:source.max_items])
        return FeedPage(items=items, cursor=cursor, not_modified=not items)

    # --- plumbing -----------------------------------------------------------------------
    def _site_id(self, address: str, headers: dict[str, str]) -> str:
        parts = urlsplit(address)
        path = f"/v1.0/sites/{parts.hostname}:{parts.path}" if parts.path else f"/v1.0/sites/{parts.hostname}"
        site = self._get(path, headers, {"$select": "id,displayName,webUrl"})
        if not site.get("id"):
            raise Permanent(self.name, f"Graph answered the site {address} without an id")
        return str(site["id"])

    def _get(self, path: str, headers: dict[str, str], params: dict[str, str]) -> dict[str, Any]:
        url = check_url((self.settings.api_base or DEFAULT_API_BASE).rstrip("/") + path,
                        self.settings.insecure_loopback)
        try:
            response = self.http.get(url, params=params, headers=headers, timeout=DEFAULT_TIMEOUT,
                                     verify=self.http.verify)
        except requests.RequestException as exc:
            raise Transient(self.name, f"Microsoft Graph did not answer: {type(exc).__name__}") from exc
        status = response.status_code
        if status == 429 or (status == 503 and response.headers.get("Retry-After")):  # Graph throttles with both
            raise RateLimited(self.name, "Microsoft Graph throttled the read",
                              retry_after=retry_after(response.headers))
        if status >= 500:
            raise Transient(self.name, f"Microsoft Graph failed ({status})")
        if status == 401:
            raise Permanent(self.name, f"Microsoft Graph refused the app's token (401: {_error(response)}): check the "
                                       "Microsoft app's credentials and tenant")
        if status == 403:
            raise Permanent(self.name, "Microsoft Graph denied the app access to the site (403): a tenant admin must "
                                       "grant it Sites.Read.All or Sites.Selected for this site")
        if status == 404:
            raise Permanent(self.name, "Microsoft Graph has no such SharePoint site (404)")
        if status >= 400:
            raise Permanent(self.name, f"Microsoft Graph refused the read ({status}: {_error(response)})")
        try:
            body = response.json()
        except ValueError as exc:
            raise Permanent(self.name, "Microsoft Graph answered with something that is not JSON") from exc
        if not isinstance(body, dict):
            raise Permanent(self.name, "Microsoft Graph answered with something that is not an object")
        return body

    def _token(self) -> str:
        """An app-only Graph token (client credentials); msal keeps it for this reader's life."""
        try:
            result = self._client().acquire_token_for_client(scopes=[SCOPE])
        except requests.RequestException as exc:
            raise Transient(self.name, f"Entra did not answer: {type(exc).__name__}") from exc
        except ValueError as exc:
            raise Transient(self.name, "Entra answered the token request with something unreadable") from exc
        if "access_token" in result:
            return str(result["access_token"])
        error = str(result.get("error") or "unknown_error")
        if error in {"temporarily_unavailable", "server_error"}:
            raise Transient(self.name, f"Entra failed ({error})")
        if error in CONFIG_ERRORS:
            raise Permanent(self.name, f"Entra refused the Microsoft app's credentials for Graph ({error}): check "
                                       "its client id, secret and tenant")
        raise AuthExpired(self.name, f"Entra refused the app token for Graph ({error})")

    def _client(self) -> msal.ConfidentialClientApplication:
        if self.tenant in MULTI_TENANT or not self.tenant:
            raise Permanent(self.name, "SharePoint news reads with the Microsoft app's own token, which needs one "
                                       "tenant: set the Microsoft provider's option sharepoint_tenant (or tenant) "
                                       f"to the tenant id, not {self.tenant or 'nothing'!r}")
        if not self.settings.client_id:
            raise Permanent(self.name, "SharePoint news needs the Microsoft provider configured (client id and secret)")
        if self._msal is None:
            with self._lock:
                if self._msal is None:
                    http = _TimeoutSession(self.settings, self.http.verify)
                    host = (self.settings.auth_base or AUTHORITY_HOST).rstrip("/")
                    try:
                        self._msal = msal.ConfidentialClientApplication(
                            self.settings.client_id, client_credential=self.settings.client_secret,
                            authority=check_url(f"{host}/{self.tenant}", self.settings.insecure_loopback),
                            http_client=http, instance_discovery=False, validate_authority=host == AUTHORITY_HOST)
                    except requests.RequestException as exc:
                        raise Transient(self.name, "Entra could not be reached") from exc
                    except ValueError as exc:
                        raise Permanent(self.name, "the Entra authority for SharePoint is misconfigured") from exc
        return self._msal


def _shown(page: Any) -> bool:
    """Published news posts only: Graph's filter may be ignored, and drafts must never reach learners."""
    return bool(isinstance(page, dict) and page.get("id") and _time(page.get("lastModifiedDateTime"))
                and page.get("promotionKind") == "newsPost"
                and (page.get("publishingState") or {}).get("level", "published") == "published")


def _modified(page: dict[str, Any]) -> datetime:
    return _time(page.get("lastModifiedDateTime")) or datetime.min.replace(tzinfo=UTC)


def _item(page: dict[str, Any]) -> FeedItem:
    title, description = str(page.get("title") or ""), str(page.get("description") or "")
    user = ((page.get("createdBy") or {}).get("user") or {})
    return FeedItem(
        remote_id=str(page["id"]),
        title=title or None,
        text=description or title,
        author=user.get("displayName") or None,
        link=page.get("webUrl") or None,
        # sitePage has no publication date in v1.0; a published page's last change is its publication or a later
        # edit, which is also what a reader of the news notices.
        published_at=_time(page.get("lastModifiedDateTime")),
    )


def _time(value: Any) -> datetime | None:
    """Graph's DateTimeOffset (ISO 8601, usually with Z), timezone-aware; None when missing or unreadable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _error(response: requests.Response) -> str:
    try:
        error = (response.json() or {}).get("error") or {}
        return str(error.get("code") or response.status_code)[:100]
    except (ValueError, AttributeError):
        return str(response.status_code)

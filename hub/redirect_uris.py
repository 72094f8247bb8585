"""Every redirect URI a provider's app must have registered: its sign-in callback and its connect callbacks.

One place builds them, from HUB_BASE_URL (never the Host header), for the flows that send them (sign-in,
connecting for posting), for what `hub provider add` and the console print, and for the demo's sandboxes. A
provider rejects a redirect URI it was not given ("redirect_uri is not registered"), so an admin who registers
only the sign-in one cannot connect accounts: the connect callbacks are listed beside it.
"""
from __future__ import annotations

from dataclasses import dataclass

from providers import registry


@dataclass(frozen=True)
class RedirectURI:
    """One URI to register, and what it is for (shown beside it)."""

    url: str
    purpose: str


def sign_in(base_url: str, name: str) -> str:
    """Where a configured provider (by name) sends a sign-in back."""
    return f"{base_url.rstrip('/')}/auth/{name}/callback"


def connect(base_url: str, kind: str) -> str:
    """Where connecting an account of this kind for posting comes back (one per kind, whichever app lends it)."""
    return f"{base_url.rstrip('/')}/connect/{kind}/callback"


def for_provider(base_url: str, name: str, kind: str) -> list[RedirectURI]:
    """What provider `name` of `kind` must register: sign-in, then each connect kind its app serves (its own,
    and those that borrow it: Yammer connects through the Microsoft app)."""
    uris = [RedirectURI(sign_in(base_url, name), "sign-in")]
    for connect_kind in registry.connect_kinds():
        if registry.lender_of(connect_kind) == kind:
            label = registry.connect_class(connect_kind).brand.label
            uris.append(RedirectURI(connect(base_url, connect_kind), f"connecting {label} for posting"))
    return uris

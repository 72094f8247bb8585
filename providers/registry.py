"""Provider kinds by name: the one place that knows every provider package."""
from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from importlib import import_module
from typing import TYPE_CHECKING, TypeVar

from providers.base import Brand, FeedReader, Provider, ProviderSettings, Publisher

if TYPE_CHECKING:
    from providers.sandbox_kit import SandboxIdP

# kind -> "module:Class". One line per provider; the key is also its URL segment,
# config prefix, test directory and docs page.
KINDS: dict[str, str] = {
    "google": "providers.google:Google",
    "oidc": "providers.oidc:GenericOIDC",
    "x": "providers.x:X",
    "microsoft": "providers.microsoft:Microsoft",
    "linkedin": "providers.linkedin:LinkedIn",
    "slack": "providers.slack:Slack",
    "facebook": "providers.facebook:Facebook",
}

# connect-only kind -> "module:Class": accounts a user connects for posting that never sign anyone in. Each class is a
# Provider naming the sign-in provider whose configured app it connects through (`credentials_from`).
CONNECTORS: dict[str, str] = {
    "yammer": "providers.yammer.connect:YammerConnect",
}

# destination kind -> "module:Class": the publisher behind `kind:<address>` destinations.
PUBLISHERS: dict[str, str] = {
    "slack": "providers.slack.publish:SlackPublisher",
    "yammer": "providers.yammer.publish:YammerPublisher",
    "teams": "providers.teams.publish:TeamsPublisher",
    "linkedin": "providers.linkedin.publish:LinkedInPublisher",
    "x": "providers.x.publish:XPublisher",
    "webhook": "providers.webhook.publish:WebhookPublisher",
}

# tile kind -> "module:Class": the reader behind `hub tile add --kind KIND`.
READERS: dict[str, str] = {
    "x:search": "providers.x.feed:XSearchReader",
    "x:user": "providers.x.feed:XUserReader",
    "yammer:group": "providers.yammer.feed:YammerGroupReader",
    "slack:channel": "providers.slack.feed:SlackChannelReader",
    "sharepoint:news": "providers.sharepoint.feed:SharePointNewsReader",
    "rss": "providers.rss.feed:RSSReader",
}


T = TypeVar("T")


class UnknownKind(KeyError):
    pass


def _load(table: dict[str, str], kind: str, what: str, base: type[T]) -> type[T]:
    """The class a registry table names for kind, imported on first use; it must implement `base`'s interface."""
    try:
        module, _, attr = table[kind].partition(":")
    except KeyError:
        raise UnknownKind(f"unknown {what} kind {kind!r}; known: {', '.join(sorted(table))}") from None
    found = getattr(import_module(module), attr)
    if not (isinstance(found, type) and issubclass(found, base)):
        raise TypeError(f"{table[kind]} ({what} kind {kind!r}) must subclass providers.base.{base.__name__}")
    return found


def provider_class(kind: str) -> type[Provider]:
    return _load(KINDS, kind, "provider", Provider)


def build(kind: str, settings: ProviderSettings) -> Provider:
    """A provider instance for one configured provider."""
    return provider_class(kind)(settings)


@functools.cache
def connect_class(kind: str) -> type[Provider]:
    """The class that connects accounts of this kind for posting: a sign-in provider's own, or a connect-only one."""
    return _load(CONNECTORS if kind in CONNECTORS else KINDS, kind, "provider", Provider)


def connect_kinds() -> tuple[str, ...]:
    """Every kind an account can be connected for posting as (it declares sharing scopes), sorted."""
    return tuple(kind for kind in sorted({*KINDS, *CONNECTORS}) if connect_class(kind).sharing_scopes)


def lender_of(kind: str) -> str:
    """The sign-in provider kind whose configured app connects accounts of this kind (its own, or the one it
    borrows: Yammer's is microsoft)."""
    return connect_class(kind).credentials_from or kind


def connect_brands() -> dict[str, Brand]:
    """connect-only kind -> its button style (sign-in kinds: brands())."""
    return {kind: connect_class(kind).brand for kind in CONNECTORS}


@functools.cache
def publisher_class(kind: str) -> type[Publisher]:
    """Imported and checked once per process: every delivery asks (and budgets ask about every kind)."""
    return _load(PUBLISHERS, kind, "destination", Publisher)


def publisher(kind: str, settings: ProviderSettings) -> Publisher:
    """The publisher for a destination kind (the part before the colon of `slack:#wins`)."""
    return publisher_class(kind)(settings)


def reader_class(kind: str) -> type[FeedReader]:
    """The reader class of a tile kind: what FeedReader declares (address_label, check_address, ...) validates tiles."""
    return _load(READERS, kind, "tile", FeedReader)


def reader(kind: str, settings: ProviderSettings) -> FeedReader:
    """The reader for a tile kind (`rss`, `x:search`, ...), configured like that provider (sandbox in the demo)."""
    return reader_class(kind)(settings)


def brands() -> dict[str, Brand]:
    """kind -> default button style."""
    return {kind: provider_class(kind).brand for kind in KINDS}


def sandbox_factories() -> dict[str, Callable[[], SandboxIdP]]:
    """kind -> create_sandbox, for every provider that ships a sandbox."""
    factories = {}
    for kind in KINDS:
        try:
            module = import_module(f"providers.{kind}.sandbox")
        except ModuleNotFoundError:
            continue
        factories[kind] = module.create_sandbox
    return factories


def posting_sandbox_factories() -> dict[str, Callable[[], object]]:
    """Destination kind -> create_sandbox for publishers that ship their own posting sandbox (not sign-in)."""
    factories = {}
    for kind in PUBLISHERS:
        try:
            module = import_module(f"providers.{kind}.sandbox")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "create_sandbox"):
            factories[kind] = module.create_sandbox
    return factories


def feed_sandbox_factories() -> dict[str, Callable[[], object]]:
    """Package name -> create_sandbox for tile readers whose package is neither a provider nor a destination (rss)."""
    factories = {}
    for target in READERS.values():
        package = target.partition(":")[0].rpartition(".")[0]  # providers.rss.feed -> providers.rss
        kind = package.rpartition(".")[2]
        if kind in KINDS or kind in PUBLISHERS or kind in factories:
            continue  # mounted already as a sign-in or posting sandbox
        try:
            module = import_module(f"{package}.sandbox")
        except ModuleNotFoundError:
            continue
        if hasattr(module, "create_sandbox"):
            factories[kind] = module.create_sandbox
    return factories


# network kind -> module with LABEL, TEXT_LIMIT and share_url(text, url): the network's own share link.
SHARE_INTENTS: dict[str, str] = {
    "linkedin": "providers.linkedin.share",
    "facebook": "providers.facebook.share",
    "x": "providers.x.share",
    "yammer": "providers.yammer.share",
}


@dataclass(frozen=True)
class ShareIntent:
    """A network's own share link, prefilled: for networks with no connection or no server-side posting."""

    kind: str
    label: str
    text_limit: int
    url: str


def share_intent(kind: str, text: str, link: str | None) -> ShareIntent | None:
    """The prefilled share link of one network, or None if it has none."""
    if kind not in SHARE_INTENTS:
        return None
    module = import_module(SHARE_INTENTS[kind])
    return ShareIntent(kind, module.LABEL, module.TEXT_LIMIT, module.share_url(text[:module.TEXT_LIMIT], link))

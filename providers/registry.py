"""Provider kinds by name: the one place that knows every provider package."""
from __future__ import annotations

from collections.abc import Callable
from importlib import import_module
from typing import TYPE_CHECKING

from providers.base import Brand, Provider, ProviderSettings, Publisher

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

# destination kind -> "module:Class": the publisher behind `kind:<address>` destinations.
PUBLISHERS: dict[str, str] = {
    "slack": "providers.slack.publish:SlackPublisher",
    "yammer": "providers.yammer.publish:YammerPublisher",
    "teams": "providers.teams.publish:TeamsPublisher",
    "linkedin": "providers.linkedin.publish:LinkedInPublisher",
    "x": "providers.x.publish:XPublisher",
    "webhook": "providers.webhook.publish:WebhookPublisher",
}


class UnknownKind(KeyError):
    pass


def provider_class(kind: str) -> type[Provider]:
    try:
        module, _, attr = KINDS[kind].partition(":")
    except KeyError:
        raise UnknownKind(f"unknown provider kind {kind!r}; known: {', '.join(sorted(KINDS))}") from None
    return getattr(import_module(module), attr)


def build(kind: str, settings: ProviderSettings) -> Provider:
    """A provider instance for one configured provider."""
    return provider_class(kind)(settings)


def publisher(kind: str, settings: ProviderSettings) -> Publisher:
    """The publisher for a destination kind (the part before the colon of `slack:#wins`)."""
    try:
        module, _, attr = PUBLISHERS[kind].partition(":")
    except KeyError:
        raise UnknownKind(f"unknown destination kind {kind!r}; known: {', '.join(sorted(PUBLISHERS))}") from None
    return getattr(import_module(module), attr)(settings)


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

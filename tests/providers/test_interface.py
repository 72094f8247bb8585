"""The provider interface (providers/base.py): every registered class implements it, and its defaults hold.

The hub reads these declarations as plain attributes (no getattr probing), so a class the registry names must
subclass the base, and a capability it does not override must behave as the base says.
"""
from __future__ import annotations

import pytest

from providers import registry
from providers.base import FeedPage, FeedReader, FeedSource, Permanent, Provider, ProviderSettings, Publisher

SETTINGS = ProviderSettings(name="test", client_id="client", client_secret="secret")
ADDRESS_LABELS = {"query", "url", "channel", "group", "site", "user"}


@pytest.mark.parametrize("kind", sorted(registry.KINDS))
def test_every_provider_implements_the_interface(kind: str) -> None:
    cls = registry.provider_class(kind)
    assert issubclass(cls, Provider) and cls.kind == kind
    if cls.sharing_scopes:  # connectable: it carries the connect flow, not the base's NotImplementedError
        assert cls.begin_connect is not Provider.begin_connect
        assert cls.finish_connect is not Provider.finish_connect


@pytest.mark.parametrize("kind", sorted(registry.CONNECTORS))
def test_every_connect_only_kind_connects_through_a_sign_in_provider_and_posts(kind: str) -> None:
    """Viva Engage: a Provider that only connects, through the app of the sign-in provider it names."""
    cls = registry.connect_class(kind)
    assert issubclass(cls, Provider) and cls.kind == kind and kind not in registry.KINDS
    assert cls.sharing_scopes and cls.credentials_from in registry.KINDS
    assert cls.begin_connect is not Provider.begin_connect and cls.finish_connect is not Provider.finish_connect
    assert registry.publisher_class(kind).credentials_from == cls.credentials_from  # the same app redeems its tokens
    assert kind in registry.connect_kinds() and registry.lender_of(kind) == cls.credentials_from


def test_sign_in_providers_connect_through_their_own_app() -> None:
    assert all(registry.provider_class(kind).credentials_from is None for kind in registry.KINDS)
    assert all(registry.lender_of(kind) == kind for kind in registry.connect_kinds() if kind in registry.KINDS)


@pytest.mark.parametrize("kind", sorted(registry.PUBLISHERS))
def test_every_publisher_implements_the_interface(kind: str) -> None:
    cls = registry.publisher_class(kind)
    assert issubclass(cls, Publisher) and cls.kind == kind
    assert cls.publish is not Publisher.publish and cls.find is not Publisher.find
    assert cls.address in {"url", "me", "any"}
    capacity, per_seconds = cls.rate_limit
    assert capacity > 0 and per_seconds > 0
    assert cls.credentials_from is None or cls.credentials_from in registry.KINDS


@pytest.mark.parametrize("kind", sorted(registry.READERS))
def test_every_reader_implements_the_interface(kind: str) -> None:
    cls = registry.reader_class(kind)
    assert issubclass(cls, FeedReader) and cls.kind == kind
    assert cls.fetch is not FeedReader.fetch
    assert cls.address_label in ADDRESS_LABELS and cls.min_refresh_seconds >= 1
    assert cls.credentials_from is None or cls.credentials_from in registry.KINDS


class LooseReader:
    """A reader written without the base class: the hub could not rely on what it declares."""

    kind = "test:loose"

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        return FeedPage(items=(), cursor=cursor)


def test_the_registry_refuses_a_class_that_does_not_implement_the_interface(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(registry.READERS, "test:loose", f"{__name__}:LooseReader")
    with pytest.raises(TypeError, match=r"test:loose.*must subclass providers\.base\.FeedReader"):
        registry.reader_class("test:loose")


@pytest.mark.parametrize("role", ["reader", "publisher"])
def test_a_kind_that_cannot_refresh_says_connect_again(role: str) -> None:
    client = registry.reader("rss", SETTINGS) if role == "reader" else registry.publisher("teams", SETTINGS)
    with pytest.raises(Permanent, match="cannot be refreshed: connect the account again"):
        client.refresh({"access_token": "expired"})


def test_a_provider_without_revocation_revokes_nothing() -> None:
    """Facebook offers no revocation the hub uses: nothing is sent, and False says so."""
    assert registry.build("facebook", SETTINGS).revoke_connection({"access_token": "EAAB"}) is False


def test_a_reader_without_its_own_address_check_takes_the_address_as_given() -> None:
    class Plain(FeedReader):
        kind = "test:plain"

    assert Plain.check_address("anything") == "anything"
    assert (Plain.connection_kind, Plain.address_label, Plain.min_refresh_seconds) == (None, "query", 60)

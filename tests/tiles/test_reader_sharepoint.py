"""SharePoint news tiles: msal's client-credentials token from the Microsoft sandbox, Graph pages over HTTPS."""
from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from providers import registry
from providers.base import FeedSource, Permanent, ProviderSettings, RateLimited, Transient
from providers.microsoft.sandbox import CONTOSO, FABRIKAM
from providers.sharepoint.feed import SharePointNewsReader
from tests.providers.posting import MS_CLIENT, MS_SECRET, PostingHosts

NEWS = "https://contoso.sharepoint.com/sites/news"


def settings(hosts: PostingHosts, **changes: object) -> ProviderSettings:
    """What the hub configures: the Microsoft app's credentials and tenant, Entra and Graph at the sandbox."""
    entra = f"{hosts.tls_url}/sandbox/microsoft"
    values: dict[str, object] = {"name": "sharepoint", "client_id": MS_CLIENT, "client_secret": MS_SECRET,
                                 "auth_base": entra, "api_base": entra + "/graph", "ca_bundle": str(hosts.ca),
                                 "insecure_loopback": True, "options": {"tenant": CONTOSO}}
    return ProviderSettings(**(values | changes))  # type: ignore[arg-type]


def reader(hosts: PostingHosts, **changes: object) -> SharePointNewsReader:
    return registry.reader("sharepoint:news", settings(hosts, **changes))  # type: ignore[return-value]


def test_first_fetch_is_published_news_newest_first_with_author_link_and_time(hosts: PostingHosts) -> None:
    microsoft = hosts.sandboxes["microsoft"]
    before = microsoft.token_requests
    page = reader(hosts).fetch(FeedSource(NEWS), None)
    assert [(i.title, i.text) for i in page.items] == [
        ("Security Basics is mandatory from October", "Every employee completes Security Basics by 31 October."),
        ("New learning portal for partners", "Partners now sign in to the LMS with their own accounts."),
    ]  # not the home page (not news), not the draft
    first = page.items[0]
    assert first.author == "Lee Gu" and first.avatar_url is None
    assert first.link == NEWS + "/SitePages/Security-Basics-is-mandatory-from-October.aspx"
    assert first.published_at == datetime(2026, 9, 10, 12, 30, tzinfo=UTC)
    assert first.html is None  # a news page's title and description are plain text
    assert microsoft.token_requests == before + 1  # msal's client-credentials grant at the sandbox's Entra
    paths = [p for p, _ in microsoft.graph.reads]
    assert paths[0].endswith("/v1.0/sites/contoso.sharepoint.com:/sites/news")
    query = microsoft.graph.reads[-1][1]
    assert query["$filter"] == "promotionKind eq 'newsPost'" and query["$orderby"] == "lastModifiedDateTime desc"
    assert json.loads(page.cursor or "")["since"] == "2026-09-10T12:30:00Z"


def test_second_fetch_returns_only_news_changed_since_the_cursor(hosts: PostingHosts) -> None:
    graph, r = hosts.sandboxes["microsoft"].graph, reader(hosts)
    first = r.fetch(FeedSource(NEWS), None)
    quiet = r.fetch(FeedSource(NEWS), first.cursor)
    assert quiet.items == () and quiet.not_modified
    assert sum(p.endswith(":/sites/news") for p, _ in graph.reads) == 1  # the site id rode in the cursor
    page_id = graph.add_page("contoso.sharepoint.com/sites/news", "Lunch and learn: Intro to SQL")
    graph.add_page("contoso.sharepoint.com/sites/news", "About us", news=False)
    second = r.fetch(FeedSource(NEWS), quiet.cursor)
    # No description: the title is the text.
    assert [(i.remote_id, i.text) for i in second.items] == [(page_id, "Lunch and learn: Intro to SQL")]
    assert json.loads(second.cursor or "")["since"] > "2026-09-10T12:30:00Z"


def test_graph_ignoring_the_filter_still_shows_only_published_news(hosts: PostingHosts) -> None:
    """Graph's $filter on pages has been seen ignored: the reader filters again itself."""
    hosts.sandboxes["microsoft"].graph.ignore_filter = True
    page = reader(hosts).fetch(FeedSource(NEWS), None)
    assert [i.title for i in page.items] == ["Security Basics is mandatory from October",
                                                         "New learning portal for partners"]


def test_max_items_cuts_and_asks_for_room(hosts: PostingHosts) -> None:
    page = reader(hosts).fetch(FeedSource(NEWS, max_items=1), None)
    assert len(page.items) == 1 and hosts.sandboxes["microsoft"].graph.reads[-1][1]["$top"] == "2"


def test_429_waits_the_retry_after(hosts: PostingHosts) -> None:
    hosts.sandboxes["microsoft"].graph.faults.push(
        429, {"error": {"code": "TooManyRequests", "message": "Too many requests"}}, {"Retry-After": "23"})
    with pytest.raises(RateLimited) as caught:
        reader(hosts).fetch(FeedSource(NEWS), None)
    assert caught.value.retry_after == 23
    assert reader(hosts).fetch(FeedSource(NEWS), None).items  # nothing held


def test_server_error_is_transient(hosts: PostingHosts) -> None:
    hosts.sandboxes["microsoft"].graph.faults.push(502, {"error": {"code": "BadGateway", "message": "x"}})
    with pytest.raises(Transient):
        reader(hosts).fetch(FeedSource(NEWS), None)


def test_refused_token_unknown_site_and_other_tenant_are_permanent(hosts: PostingHosts) -> None:
    hosts.sandboxes["microsoft"].graph.faults.push(
        401, {"error": {"code": "InvalidAuthenticationToken", "message": "Access token has expired."}})
    with pytest.raises(Permanent, match="InvalidAuthenticationToken"):
        reader(hosts).fetch(FeedSource(NEWS), None)
    with pytest.raises(Permanent, match="no such SharePoint site"):
        reader(hosts).fetch(FeedSource("https://contoso.sharepoint.com/sites/nothing"), None)
    with pytest.raises(Permanent, match="403"):
        reader(hosts, options={"tenant": FABRIKAM}).fetch(FeedSource(NEWS), None)


def test_wrong_secret_or_a_multi_tenant_authority_is_permanent(hosts: PostingHosts) -> None:
    with pytest.raises(Permanent, match="invalid_client"):
        reader(hosts, client_secret="wrong").fetch(FeedSource(NEWS), None)
    with pytest.raises(Permanent, match="needs one tenant"):
        reader(hosts, options={"tenant": "organizations"}).fetch(FeedSource(NEWS), None)
    # Sign-in may stay multi-tenant: the news tenant is its own option.
    both = {"tenant": "common", "sharepoint_tenant": CONTOSO}
    assert reader(hosts, options=both).fetch(FeedSource(NEWS), None).items
    with pytest.raises(Permanent, match="Microsoft provider configured"):
        reader(hosts, client_id="").fetch(FeedSource(NEWS), None)


def test_cursor_of_another_site_is_ignored(hosts: PostingHosts) -> None:
    first = reader(hosts).fetch(FeedSource(NEWS), None)
    hosts.sandboxes["microsoft"].graph.add_page("contoso.sharepoint.com/sites/learning", "Learning site news")
    page = reader(hosts).fetch(FeedSource("https://contoso.sharepoint.com/sites/learning"), first.cursor)
    assert [i.text for i in page.items] == ["Learning site news"]


@pytest.mark.parametrize("address", ["", "contoso.sharepoint.com/sites/news", NEWS.replace("https:", "http:"),
                                     NEWS + "?x=1", "javascript:alert(1)"])
def test_check_address_refuses_with_a_clear_message(address: str) -> None:
    with pytest.raises(ValueError, match="needs the site's address"):
        SharePointNewsReader.check_address(address)


def test_check_address_normalises() -> None:
    assert SharePointNewsReader.check_address(" https://Contoso.SharePoint.com/sites/news/ ") == NEWS
    assert SharePointNewsReader.check_address(NEWS + "/SitePages/Home.aspx") == NEWS
    assert (SharePointNewsReader.connection_kind, SharePointNewsReader.address_label) == (None, "site")

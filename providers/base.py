"""The provider interface: shared types, errors, and the HTTP plumbing every provider uses.

Providers import only this module (and their SDKs), never `hub`, so each one can be
tested without an application.
"""
from __future__ import annotations

import ipaddress
import json
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, ClassVar, TypeVar
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool
from urllib3.exceptions import ConnectTimeoutError, NameResolutionError, NewConnectionError

from providers.addresses import DEFAULT_PORTS, AddressPolicy, not_called, resolve, url_endpoint

DEFAULT_TIMEOUT = (5, 15)  # connect, read seconds: a slow provider must not pin a worker
SessionT = TypeVar("SessionT", bound=requests.Session)


class ProviderError(Exception):
    """Something a provider said or failed to say; `provider` names which."""

    code = "provider_error"

    def __init__(self, provider: str, message: str) -> None:
        super().__init__(message)
        self.provider = provider
        self.message = message


class LoginError(ProviderError):
    """A sign-in response failed a check; the message is safe to show the user."""

    code = "login_failed"

    def __init__(self, provider: str, message: str, code: str = "login_failed") -> None:
        super().__init__(provider, message)
        self.code = code


class AuthExpired(ProviderError):
    code = "auth_expired"


class RateLimited(ProviderError):
    code = "rate_limited"

    def __init__(self, provider: str, message: str, retry_after: float) -> None:
        super().__init__(provider, message)
        self.retry_after = retry_after


class Transient(ProviderError):
    code = "transient"


class Permanent(ProviderError):
    code = "permanent"


class ConsentRequired(ProviderError):
    code = "consent_required"


class UnsafeURL(ValueError):
    """A configured provider URL is not https (or loopback http when allowed)."""


class RefusedAddress(Permanent):
    """A provider URL's host resolved to an address that is not public, and no setting allows it: no retry fixes it."""

    code = "refused_address"


@dataclass(frozen=True)
class Profile:
    """Who signed in, in the hub's words; `hints` carry organisation claims (tid, team, hd)."""

    subject: str
    email: str | None = None
    email_verified: bool = False
    name: str | None = None
    given_name: str | None = None
    family_name: str | None = None
    picture: str | None = None
    hints: Mapping[str, str] = field(default_factory=dict)
    claims: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class LoginResult:
    profile: Profile
    tokens: Mapping[str, Any]


@dataclass(frozen=True)
class LoginStart:
    """Where to send the browser, and what to keep server-side until the callback."""

    url: str
    state: str
    saved: Mapping[str, Any]


@dataclass(frozen=True)
class Connected:
    """An account connected for posting: who it is at the provider, what was granted, the tokens to post with."""

    remote_id: str
    name: str | None
    scopes: tuple[str, ...]
    tokens: dict[str, Any]


@dataclass(frozen=True)
class ProviderSettings:
    """What the hub configures for one provider: credentials and URL overrides."""

    name: str
    client_id: str
    client_secret: str
    issuer: str | None = None
    scopes: tuple[str, ...] = ()
    api_base: str | None = None
    auth_base: str | None = None
    options: Mapping[str, Any] = field(default_factory=dict)
    insecure_loopback: bool = False
    ca_bundle: str | None = None  # extra CA file, for sandboxes served over HTTPS
    # Host names the SSRF-safe feed fetcher lets resolve to loopback/private addresses (HUB_FEED_ALLOW_HOSTS:
    # the demo's and the tests' local feeds); every other host must resolve to public addresses only.
    feed_allow_hosts: frozenset[str] = frozenset()
    # Hosts (or host:port) this provider's calls may reach on private addresses (HUB_PROVIDER_ALLOW_HOSTS: an
    # on-premises OIDC provider); every other call must reach public addresses only (loopback too with
    # insecure_loopback). See providers.addresses for the ports a bare host opens.
    provider_allow_hosts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Brand:
    """How the provider's button looks on the sign-in page (drawn by us, no hot-linked assets)."""

    label: str
    background: str
    foreground: str
    border: str | None = None


@dataclass(frozen=True)
class Post:
    """What to publish; `marker` is a unique tag the post carries so a crashed send can be found again."""

    text: str
    link: str | None
    title: str | None
    image_url: str | None
    marker: str


# Called with (the tokens a publisher used, the provider's replacement for them); what it returns (the hub's
# store says whether it kept them) is not the provider's business.
TokensRotated = Callable[[Mapping[str, Any], Mapping[str, Any]], object]


@dataclass(frozen=True)
class Target:
    """Where to publish: the part after the colon of a destination, and the connection's tokens.

    `on_rotated` is set by the hub for a stored connection: a provider that replaces tokens on use (Entra
    returns a new refresh token on every redemption) reports them through `rotated`, and the hub stores them.
    """

    address: str
    tokens: Mapping[str, Any]
    account_id: str | None = None
    on_rotated: TokensRotated | None = field(default=None, repr=False, compare=False)

    def rotated(self, tokens: Mapping[str, Any]) -> None:
        """Hand back the connection's whole new token set, as soon as the provider issued it (before posting)."""
        if self.on_rotated is not None and dict(tokens) != dict(self.tokens):
            self.on_rotated(self.tokens, tokens)


@dataclass(frozen=True)
class Published:
    """The post as the destination knows it."""

    remote_id: str
    url: str | None = None


@dataclass(frozen=True)
class ReadLimit:
    """A provider's cap on the history reads a tile fetch or a post look-up makes: at most `calls` calls per
    `per_seconds` for one connection (one workspace of one app), each asking for at most `max_items`. The hub spaces
    those calls itself (hub.provider_access.take_read), so none is refused; `reason` says why, for admins."""

    calls: int
    per_seconds: float
    max_items: int
    reason: str


class ProviderClient:
    """What publishers and tile readers share: built from one provider's settings, they call its API with the
    tokens of a connection (or the app's own), and say where those settings come from."""

    kind: ClassVar[str]
    # The provider whose configuration (client id, secret, URLs) this kind uses when it has none of its own: Yammer
    # and SharePoint use the Microsoft (Entra) app. None: its own provider's.
    credentials_from: ClassVar[str | None] = None
    # In a sandbox, the API served under the lender's auth_base ("/yammer" beside Entra); None: the lender's own.
    api_under_auth_base: ClassVar[str | None] = None

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.name = settings.name

    def read_limit(self) -> ReadLimit | None:
        """The cap this configuration puts on a fetch's or a look-up's history read (Slack's non-Marketplace apps);
        None: no cap beyond the provider's 429s. A client that has one makes one such call per fetch or look-up."""
        return None

    def refresh(self, tokens: Mapping[str, Any]) -> dict[str, Any]:
        """New tokens for an expired set (the whole set, as the provider answered). By default a kind cannot refresh:
        Permanent, the account must be connected again. A refusal is Permanent, no answer Transient."""
        raise Permanent(self.name, f"the {self.name} token expired and cannot be refreshed: connect the account again")


class Publisher(ProviderClient):
    """A destination kind: publishes a post, and finds one again by its marker after a crash."""

    # The publishing limit: `capacity` posts per `per_seconds` (documented, or conservative where unpublished).
    rate_limit: ClassVar[tuple[float, float]] = (1, 1)
    # True where posts go out as the learner (their connection, their consent), not to an org channel.
    posts_as_learner: ClassVar[bool] = False
    # What the address after the colon must be: "url", "me" (the learner's own account) or "any".
    address: ClassVar[str] = "any"
    # What an admin should know before adding a rule to this kind (X bills posts with links), shown by hub rule add.
    admin_note: ClassVar[str | None] = None
    # For a kind that posts as the learner: the address prefix under which it posts as the organisation's own
    # connected account instead (Yammer's "org:", a community post by the organisation's service account, connected
    # by an organisation admin at /connect/<kind>?as=org). None: the kind has no organisation posts.
    org_prefix: ClassVar[str | None] = None

    @classmethod
    def posts_as_learner_to(cls, address: str) -> bool:
        """Whether a post to this address goes out as the learner (their connection, their consent) rather than as
        the organisation's connected account."""
        return cls.posts_as_learner and not (cls.org_prefix is not None and address.startswith(cls.org_prefix))

    @classmethod
    def post_cost(cls, has_link: bool) -> Decimal | None:
        """What the network bills for one post, in US dollars (`has_link`: the post carries a URL); None where posts
        are not billed. The hub shows it, records it per delivery and holds posts past an organisation's budget."""
        return None

    def publish(self, target: Target, post: Post) -> Published:
        """Post it, or raise the provider error that says why not (never sleeps, never retries)."""
        raise NotImplementedError

    def find(self, target: Target, marker: str) -> Published | None:
        """The post carrying `marker`, if the destination has it (a send that crashed after posting)."""
        raise NotImplementedError


@dataclass(frozen=True)
class FeedItem:
    """One item of a tile's feed as the source gives it; the hub sanitizes `html` before storing or serving it."""

    remote_id: str  # stable within the source: tweet id, message id, Slack ts, feed entry id/guid
    text: str  # plain text (no markup)
    html: str | None = None  # the source's markup, untrusted
    title: str | None = None  # a headline where the source has one (feed entries, news pages); posts have none
    author: str | None = None
    avatar_url: str | None = None
    link: str | None = None
    published_at: datetime | None = None


@dataclass(frozen=True)
class FeedSource:
    """What a tile reads: the part after the kind (query, feed URL, channel, group, site) and the tokens to use."""

    address: str
    tokens: Mapping[str, Any] = field(default_factory=dict)
    max_items: int = 20
    on_rotated: TokensRotated | None = field(default=None, repr=False, compare=False)

    def rotated(self, tokens: Mapping[str, Any]) -> None:
        """As Target.rotated: hand back a provider's replacement tokens so the hub stores them."""
        if self.on_rotated is not None and dict(tokens) != dict(self.tokens):
            self.on_rotated(self.tokens, tokens)


@dataclass(frozen=True)
class FeedPage:
    """The result of one incremental fetch.

    `items` are the new ones, newest first (at most `max_items`); `cursor` is opaque to the hub and handed back on
    the next fetch (since_id, newer_than, Slack oldest ts, or a feed's ETag/Last-Modified); `not_modified` means
    the source answered 304 or had nothing new, and the tile keeps what it has.
    """

    items: tuple[FeedItem, ...]
    cursor: str | None
    not_modified: bool = False



def cursor_state(cursor: str | None, address: str, keys: tuple[str, ...]) -> dict[str, str]:
    """A reader's JSON cursor: its non-empty `keys` as text, if it was made for this address, else {}.

    The cursor carries the address it was made for, so an edited tile starts afresh; an unreadable one does too.
    """
    try:
        state = json.loads(cursor) if cursor else {}
    except ValueError:
        return {}
    if not isinstance(state, dict) or state.get("address") != address:
        return {}
    return {k: str(v) for k, v in state.items() if k in keys and v}


class FeedReader(ProviderClient):
    """A tile kind: fetches a source's new items since a cursor. Never sleeps or retries: errors as for publishers
    (RateLimited with the reset it names, Transient, Permanent, AuthExpired)."""

    # kind: "rss", "x:search", "x:user", "yammer:group", "slack:channel", "sharepoint:news"
    # The Connection.kind the tile reads through (the organisation's connected account); None: it needs none.
    connection_kind: ClassVar[str | None] = None
    # The shortest refresh interval the source tolerates, in seconds (Yammer: once a minute).
    min_refresh_seconds: ClassVar[int] = 60
    # What the address is, which also names its CLI flag and form label: "query", "url", "channel", "group", "site",
    # "user". "url" and "site" addresses are checked as URLs by the hub besides.
    address_label: ClassVar[str] = "query"

    @classmethod
    def check_address(cls, address: str) -> str:
        """The address as the reader will use it (normalised), or ValueError saying what a valid one looks like."""
        return address

    def fetch(self, source: FeedSource, cursor: str | None) -> FeedPage:
        """The source's items newer than the cursor, newest first, with the cursor for next time."""
        raise NotImplementedError


def check_url(url: str, insecure_loopback: bool) -> str:
    """Refuse anything but https, or http on loopback when the operator allowed it."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and insecure_loopback and _is_loopback(parts.hostname):
        return url
    raise UnsafeURL(f"{url!r} must be https (http only on loopback with HUB_INSECURE_LOOPBACK)")


def _is_loopback(host: str | None) -> bool:
    if not host:
        return False
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Provider:
    """A sign-in provider. Subclasses declare data; the shared flows live in providers.oauth."""

    kind: ClassVar[str]
    brand: ClassVar[Brand]
    # Claims that can place a user in an organisation or group (e.g. "tid", "team", "hd").
    hint_names: ClassVar[tuple[str, ...]] = ()
    # Scopes asked for when a user connects the account for posting, never at sign-in. A provider that declares
    # some can be connected (begin_connect, finish_connect; OAuth2Provider has both); none: it cannot.
    sharing_scopes: ClassVar[tuple[str, ...]] = ()
    scope_words: ClassVar[Mapping[str, str]] = MappingProxyType({})  # its scopes in plain words (account page)
    # A connect-only kind (registry.CONNECTORS) connects through this sign-in provider's app (Yammer: "microsoft").
    credentials_from: ClassVar[str | None] = None
    # True where the provider has no production default and is defined by --issuer.
    requires_issuer: ClassVar[bool] = False
    # Options (`hub provider add --option KEY=VALUE`) that take one of a few values: key -> the values, first the
    # default. Checked when the provider is added; other options are free text.
    option_choices: ClassVar[Mapping[str, tuple[str, ...]]] = MappingProxyType({})

    @classmethod
    def sandbox_overrides(cls, base: str) -> dict[str, str]:
        """URL overrides pointing this kind at its sandbox mounted at base (demo and tests)."""
        return {"auth_base": base, "api_base": base}

    @classmethod
    def brand_for(cls, name: str, options: Mapping[str, Any]) -> Brand:
        """The sign-in button of a configured provider."""
        return cls.brand

    def __init__(self, settings: ProviderSettings) -> None:
        self.settings = settings
        self.name = settings.name
        self.http = checked_session(settings, settings.issuer, settings.api_base, settings.auth_base)

    def url(self, url: str) -> str:
        """Check a URL learned at run time (from discovery) before using it."""
        return check_url(url, self.settings.insecure_loopback)

    def begin_login(self, redirect_uri: str) -> LoginStart:
        raise NotImplementedError

    def finish_login(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> LoginResult:
        raise NotImplementedError

    def begin_connect(self, redirect_uri: str) -> LoginStart:
        """Where to send the browser to connect the account for posting (asks for sharing_scopes)."""
        raise NotImplementedError

    def finish_connect(self, params: Mapping[str, str], saved: Mapping[str, Any], redirect_uri: str) -> Connected:
        """The connected account from the callback; LoginError when a posting scope was not granted."""
        raise NotImplementedError

    def revoke_connection(self, tokens: Mapping[str, Any]) -> bool:
        """End a token set's grant at the provider (on disconnect and deprovisioning); True if it was revoked.

        The default: the provider offers no revocation, so nothing is sent and False says so. ProviderError when
        the provider refused or did not answer (the hub deletes its copy either way)."""
        return False

    def request_json(self, method: str, url: str, **kwargs: Any) -> Any:
        """One HTTP call with timeouts, mapped onto the provider error types."""
        kwargs.setdefault("timeout", DEFAULT_TIMEOUT)
        # Per request: requests lets REQUESTS_CA_BUNDLE override a session's verify (psf/requests#3829).
        kwargs.setdefault("verify", self.http.verify)
        try:
            response = self.http.request(method, self.url(url), **kwargs)
        except requests.RequestException as exc:
            raise Transient(self.name, f"{self.name} did not answer: {type(exc).__name__}") from exc
        raise_for_status(self.name, response)
        try:
            return response.json()
        except ValueError as exc:
            raise Permanent(self.name, f"{self.name} answered with something that is not JSON") from exc


def http_session(settings: ProviderSettings) -> requests.Session:
    """The HTTP session a provider or publisher talks through, trusting HUB_CA_BUNDLE when set.

    Every connection it opens is guarded (GuardedAdapter): a host resolving to a private address is refused.
    """
    session = guarded(requests.Session(), settings)
    # requests re-reads proxy variables on every call (~0.6 ms); skip that when none are set. Without them
    # REQUESTS_CA_BUNDLE and .netrc are ignored too, so HUB_CA_BUNDLE is the one CA setting.
    session.trust_env = bool(urllib.request.getproxies())
    if settings.ca_bundle:
        session.verify = settings.ca_bundle
    return session


def guarded(session: SessionT, settings: ProviderSettings) -> SessionT:
    """The session with GuardedAdapter on http:// and https://, for sessions an SDK is handed (msal's http_client)."""
    adapter = GuardedAdapter(address_policy(settings), settings.name)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def address_policy(settings: ProviderSettings) -> AddressPolicy:
    """What this provider's calls may reach past the public-address rule: the allow-list, read against its URLs."""
    return AddressPolicy.of(settings.provider_allow_hosts, (settings.issuer, settings.api_base, settings.auth_base),
                            loopback=settings.insecure_loopback)


def check_address(url: str, settings: ProviderSettings) -> str:
    """Refuse a URL whose host resolves to a private address, for an SDK that opens its own connections.

    slack_sdk connects through urllib, with no hook to hand it a checked address: the name is resolved and checked
    here just before the SDK is given the URL, and the SDK resolves it again (a check, not a pin as GuardedAdapter
    makes, so a DNS answer that changes in between is not caught there).
    """
    _Guard(address_policy(settings), settings.name).check_url(url)
    return url


class _Guard:
    """One provider's address check: resolve a host, refuse it unless every answer may be called."""

    def __init__(self, policy: AddressPolicy, provider: str) -> None:
        self.policy, self.provider = policy, provider

    def addresses(self, host: str, port: int, default_port: int) -> tuple[str, ...]:
        """The checked addresses of host:port; OSError when it does not resolve, RefusedAddress when refused."""
        addresses = resolve(host, port)
        reason = self.policy.refusal(host, port, default_port, addresses)
        if reason:
            raise RefusedAddress(self.provider, not_called(host, reason))
        return addresses

    def check_url(self, url: str) -> None:
        found = url_endpoint(url)
        if found is None:
            return  # not http(s): check_url refuses it, or requests does
        host, port = found
        try:
            self.addresses(host, port, DEFAULT_PORTS[urlsplit(url).scheme.lower()])
        except (OSError, UnicodeError) as exc:
            raise Transient(self.provider, f"{host} does not resolve: {type(exc).__name__}") from exc

    def connection(self, base: type[HTTPConnection]) -> type[HTTPConnection]:
        """A urllib3 connection class that connects only to addresses this guard checked (pinned)."""
        guard = self

        # The base is chosen at run time (urllib3's HTTP or HTTPS connection), which mypy cannot subclass.
        class Guarded(base):  # type: ignore[valid-type,misc]
            _dns_host: str  # urllib3's: the name (here, the pinned address) it connects to
            def _new_conn(self) -> Any:
                host = self._dns_host
                try:
                    addresses = guard.addresses(self.host, self.port, self.default_port)
                except (OSError, UnicodeError) as exc:
                    # urllib3 types the reason a socket.gaierror; the address check's refusals are other OSErrors.
                    raise NameResolutionError(self.host, self, exc) from exc  # type: ignore[arg-type]
                failure: Exception | None = None
                try:
                    for address in addresses:
                        # urllib3 connects to _dns_host; the TLS handshake after this (SNI, certificate name) and the
                        # Host header use `host`, restored below, so only the socket goes to the checked address.
                        self._dns_host = address
                        try:
                            return super()._new_conn()
                        except (NewConnectionError, ConnectTimeoutError) as exc:
                            failure = exc
                finally:
                    self._dns_host = host
                raise failure or NewConnectionError(self, f"{host} has no address to connect to")

        return Guarded


class GuardedAdapter(HTTPAdapter):
    """requests' adapter for every provider call: each connection resolves its host, refuses it if an answer is
    not public (as the feed fetcher does, providers.addresses) and connects to a checked address, so a redirect or
    a discovered endpoint (token, userinfo, JWKS) is checked as the configured URLs are.

    Through a proxy, the proxy resolves the name: the destination is resolved and checked here first (a check, not
    a pin), and the proxy itself, which the operator chose, is not checked.
    """

    def __init__(self, policy: AddressPolicy, provider: str, **kwargs: Any) -> None:
        self.guard = _Guard(policy, provider)  # before super().__init__, which builds the pool manager
        self.pools = {"http": type("GuardedHTTPConnectionPool", (HTTPConnectionPool,),
                                   {"ConnectionCls": self.guard.connection(HTTPConnection)}),
                      "https": type("GuardedHTTPSConnectionPool", (HTTPSConnectionPool,),
                                    {"ConnectionCls": self.guard.connection(HTTPSConnection)})}
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs)
        self.poolmanager.pool_classes_by_scheme = self.pools

    def send(self, request: requests.PreparedRequest, *args: Any, **kwargs: Any) -> requests.Response:
        if request.url and select_proxy(request.url, kwargs.get("proxies") or {}):  # requests passes it by name
            self.guard.check_url(request.url)
        return super().send(request, *args, **kwargs)


def checked_session(settings: ProviderSettings, *urls: str | None) -> requests.Session:
    """http_session(settings), once each of the given URLs (the settings' bases) is https, or allowed loopback."""
    for url in urls:
        if url:
            check_url(url, settings.insecure_loopback)
    return http_session(settings)


def raise_for_status(provider: str, response: requests.Response) -> None:
    """Map an HTTP status onto the provider error tree; 2xx passes."""
    status = response.status_code
    if status < 400:
        return
    if status == 429:
        raise RateLimited(provider, f"{provider} rate limit", retry_after=_retry_after(response))
    if status == 401:
        raise AuthExpired(provider, f"{provider} refused the token (401)")
    if status >= 500:
        raise Transient(provider, f"{provider} failed ({status})")
    raise Permanent(provider, f"{provider} refused the request ({status})")


def _retry_after(response: requests.Response) -> float:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.isdigit() else 60.0

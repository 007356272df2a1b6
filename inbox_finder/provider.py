"""The provider boundary: the small interface every mailbox kind implements, and its registry.

Providers are found by URL scheme through the entry-point group ``inbox_finder.providers``;
the built-in ones are declared there too, so a third-party package adds a scheme the same way.
Importing this module imports no provider (and so no Google or Microsoft SDK).
"""

from __future__ import annotations

import importlib
import logging
import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from .errors import ConfigError
from .model import Candidate

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "inbox_finder.providers"

# The built-in schemes, also declared as entry points in pyproject.toml (a test keeps the two
# equal). Looking them up here first spares every lookup a scan of all installed packages'
# metadata (~10 ms of start-up); other schemes come from the entry-point group.
BUILTIN_SCHEMES = {
    "maildir": "inbox_finder.providers.local:MaildirProvider",
    "mbox": "inbox_finder.providers.mbox:MboxProvider",
    "eml": "inbox_finder.providers.local:EmlDirProvider",
    "imap": "inbox_finder.providers.imap:ImapProvider",
    "imaps": "inbox_finder.providers.imap:ImapProvider",
    "outlook": "inbox_finder.providers.outlook:OutlookProvider",
    "gmail": "inbox_finder.providers.gmail:GmailProvider",
}

DEFAULT_SENDER_DOMAINS = ("salesforce.com",)


@dataclass(frozen=True)
class Query:
    """What the engine asks a provider for; providers narrow server-side as far as they can."""

    since: datetime | None = None
    # A superset filter: a provider may return more, never fewer, than mail From these domains.
    sender_domains: tuple[str, ...] = DEFAULT_SENDER_DOMAINS
    # A cursor from an earlier ``sync_cursor()``: providers that understand it return only mail
    # added since (a superset is fine); others ignore it and return everything.
    after_cursor: str | None = None


@dataclass(frozen=True)
class SourceOptions:
    """Options shared by every source: CLI flags plus the provider keys of a config profile."""

    ca_file: str | None = None
    timeout: float = 30.0
    profile: Mapping[str, Any] = field(default_factory=dict)
    profile_name: str | None = None


class Provider(ABC):
    """A read-only mailbox: candidates newest first, raw bytes on demand."""

    #: Human name of the mailbox kind, for messages.
    kind: ClassVar[str] = "mailbox"

    @classmethod
    @abstractmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        """Build a provider from a source URL; raise ConfigError for a malformed one."""

    @abstractmethod
    def search(self, query: Query) -> Iterator[Candidate]:
        """Yield candidates strictly newest first by receive time (ties: any stable order)."""

    @abstractmethod
    def fetch(self, candidate: Candidate) -> bytes:
        """Return the raw RFC 822 bytes of one candidate without changing the mailbox."""

    def fetch_headers(self, candidate: Candidate) -> bytes | None:
        """Return the raw header block if cheaper than a full fetch; None when not supported."""
        return candidate.headers

    def sync_cursor(self) -> str | None:
        """A cheap opaque cursor that changes whenever new mail may have arrived (None: unknown).

        Scans compare it with the stored one and skip the search when it is unchanged; it is
        taken *before* searching, so mail arriving during a scan is seen by the next one.
        """
        return None

    def wait_for_change(self, timeout: float, stop: threading.Event) -> bool | None:
        """Block until new mail may have arrived (True), ``timeout`` passed or ``stop`` was set
        (False). None: this provider cannot push changes; the caller polls instead."""
        return None

    def close(self) -> None:  # noqa: B027 - optional hook, most local providers hold nothing
        """Release connections and files."""

    @property
    @abstractmethod
    def source(self) -> str:
        """The source as shown to users (no secrets)."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def split_scheme(url: str) -> tuple[str, str]:
    """Split ``scheme:rest`` (``scheme://rest`` too); ConfigError when there is no scheme."""
    scheme, sep, rest = url.partition(":")
    if not sep or not scheme or not scheme.replace("+", "").replace("-", "").isalnum():
        raise ConfigError(
            f"not a source URL or profile name: {url!r} (expected e.g. maildir:PATH, "
            "mbox:PATH, eml:DIR or imaps://USER@HOST)"
        )
    return scheme.lower(), rest


def available_schemes() -> dict[str, str]:
    """Map every registered scheme to its ``module:Class`` entry point value."""
    from importlib.metadata import entry_points  # lazy: scans every installed distribution

    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**BUILTIN_SCHEMES, **found}


def provider_class(scheme: str) -> type[Provider]:
    """Load the provider class registered for ``scheme``; ConfigError naming the known ones."""
    target = BUILTIN_SCHEMES.get(scheme)
    if target is None:
        schemes = available_schemes()
        target = schemes.get(scheme)
    if target is None:
        known = ", ".join(sorted(schemes))
        raise ConfigError(f"unknown source scheme {scheme!r}; known schemes: {known}")
    module_name, _, attr = target.partition(":")
    loaded = getattr(importlib.import_module(module_name), attr, None)
    if not (isinstance(loaded, type) and issubclass(loaded, Provider)):
        raise ConfigError(f"entry point for scheme {scheme!r} is not a Provider class: {target}")
    return loaded


def open_provider(url: str, options: SourceOptions | None = None) -> Provider:
    """Create the provider for a source URL (not a profile name; see config.resolve_source)."""
    scheme, _ = split_scheme(url)
    cls = provider_class(scheme)
    log.debug("opening %s source with %s", scheme, cls.__name__)
    return cls.from_url(url, options or SourceOptions())

"""The provider boundary: the small interface every mailbox kind implements.

A provider yields candidates newest first by the server's receive time and hands out raw
RFC 822 bytes on demand, read-only. The registry (``registry.py``) maps URL schemes to
providers. Importing this module imports no provider (and so no Google or Microsoft SDK).
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, ClassVar, Self

from inbox_finder.boundary.folders import FolderScope
from inbox_finder.boundary.keys import (
    COMMON_KEYS,
    ProfileKey,
    ProfileValues,
    declare,
    validate_profile,
)
from inbox_finder.errors import ConfigError
from inbox_finder.model import Candidate, Finding, FolderRole
from inbox_finder.trust.policy import DEFAULT_SENDER_DOMAINS


@dataclass(frozen=True)
class Query:
    """What the engine asks a provider for; providers narrow server-side as far as they can."""

    since: datetime | None = None
    # A superset filter: a provider may return more, never fewer, than mail From these domains.
    sender_domains: tuple[str, ...] = DEFAULT_SENDER_DOMAINS
    # A cursor from an earlier ``sync_cursor()``: providers that understand it return only mail
    # added since (a superset is fine); others ignore it and return everything.
    after_cursor: str | None = None
    # Narrow the provider's own folder scope further (names as the user sees them; see
    # boundary/folders.py): only these folders (empty: no further limit), never these.
    folders: tuple[str, ...] = ()
    exclude_folders: tuple[str, ...] = ()
    # A superset filter too: a provider may narrow to mail whose Subject contains one of these
    # (case-insensitive substrings), never drop one that does; empty: no Subject narrowing.
    subject_words: tuple[str, ...] = ()

    @property
    def scope(self) -> FolderScope:
        """The folder restriction this query adds."""
        return FolderScope.of(self.folders, self.exclude_folders)


@dataclass(frozen=True)
class SourceOptions:
    """Options shared by every source: CLI flags plus the provider keys of a config profile.

    ``profile`` may be a plain mapping; providers read it through ``Provider.read_profile``,
    which validates it against their declared keys.
    ``folders`` / ``exclude_folders`` restrict the whole-mailbox default scope (``--folder``,
    ``--exclude-folder`` merged with the profile keys by ``api.open_source``).
    """

    ca_file: str | None = None
    timeout: float = 30.0
    profile: Mapping[str, Any] = field(default_factory=dict)
    profile_name: str | None = None
    folders: tuple[str, ...] = ()
    exclude_folders: tuple[str, ...] = ()

    @property
    def scope(self) -> FolderScope:
        """The folder scope these options ask for."""
        return FolderScope.of(self.folders, self.exclude_folders)


class Provider(ABC):
    """A read-only mailbox: candidates newest first, raw bytes on demand."""

    #: Human name of the mailbox kind, for messages.
    kind: ClassVar[str] = "mailbox"
    #: The profile keys this provider reads, besides ``keys.COMMON_KEYS`` (one line per key).
    profile_keys: ClassVar[tuple[ProfileKey, ...]] = ()
    #: ``module:attr`` of a click command run as ``inbox-finder login SCHEME`` (None: no login).
    login_command: ClassVar[str | None] = None

    @classmethod
    def declared_keys(cls) -> dict[str, ProfileKey]:
        """Every key a profile of this provider may set: the common keys plus its own."""
        return declare(COMMON_KEYS, cls.profile_keys)

    @classmethod
    def read_profile(cls, options: SourceOptions) -> ProfileValues:
        """The validated profile (ConfigError naming an unknown key or a wrong type)."""
        name = options.profile_name
        where = f"[mailbox.{name}]" if name else f"the {cls.kind} profile"
        return validate_profile(cls.declared_keys(), options.profile, where)

    @classmethod
    def describe_credentials(cls, url: str, profile: ProfileValues) -> dict[str, str]:
        """Where each credential would come from, for ``config check``; never the secret."""
        return {}

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

    def describe_folder(self, finding: Finding) -> tuple[str | None, FolderRole | None]:
        """Where a finding's mail lives as the user names it: (folder, trash/junk role).

        Called only for findings that are returned (``engine.name_folders``), so a provider
        may resolve names lazily: Graph folder ids, Gmail user label ids. The default keeps
        what the candidate carried.
        """
        return finding.folder, finding.folder_role

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

    def source_aliases(self) -> tuple[str, ...]:
        """Earlier spellings of ``source`` for the same mailbox (scan state files written by
        older versions name the source that way and are taken over, not refused)."""
        return ()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


# The SOURCE that stands for every mail store a desktop client keeps under the user's home.
LOCAL_SOURCE = "local:"


def is_local_source(source: object) -> bool:
    """True for ``local:`` (any case, surrounding blanks allowed)."""
    return isinstance(source, str) and source.strip().lower() == LOCAL_SOURCE


def split_scheme(url: str) -> tuple[str, str]:
    """Split ``scheme:rest`` (``scheme://rest`` too); ConfigError when there is no scheme."""
    scheme, sep, rest = url.partition(":")
    if not sep or not scheme or not scheme.replace("+", "").replace("-", "").isalnum():
        raise ConfigError(
            f"not a source URL or profile name: {url!r} (expected e.g. maildir:PATH, "
            "mbox:PATH, eml:DIR or imaps://USER@HOST)"
        )
    return scheme.lower(), rest

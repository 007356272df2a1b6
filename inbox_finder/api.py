"""The library API: ``find_token`` and ``find_tokens``."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from inbox_finder.boundary.folders import FolderScope
from inbox_finder.boundary.provider import Provider, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.config import Config, load_config, profile_for
from inbox_finder.engine import Selection, iter_findings, merge_copies
from inbox_finder.errors import ConfigError, NotFoundError
from inbox_finder.model import Finding, require_aware
from inbox_finder.trust.policy import TrustPolicy

DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class OpenedSource:
    """A provider opened from a URL or profile, with the policy and defaults that apply."""

    provider: Provider
    policy: TrustPolicy
    default_username: str | None


def open_source(
    source: str,
    config: Config,
    *,
    ca_file: str | None = None,
    timeout: float | None = None,
    verify_dkim: bool = False,
    folders: Iterable[str] = (),
    exclude_folders: Iterable[str] = (),
) -> OpenedSource:
    """Resolve a URL or profile name and open its provider (no network I/O yet).

    ``folders`` (``--folder``) replaces the profile's ``folders`` and the URL's folder;
    ``exclude_folders`` (``--exclude-folder``) adds to the profile's ``exclude_folders``.
    """
    url, name, profile = profile_for(source, config)
    profile_ca = profile.get("ca_file")
    profile_timeout = profile.get("timeout")
    if profile_timeout is not None and not isinstance(profile_timeout, int | float):
        raise ConfigError(f"profile {name}: timeout must be a number of seconds")
    scope = FolderScope.of(
        tuple(folders) or _profile_names(profile, "folders", name),
        (*_profile_names(profile, "exclude_folders", name), *exclude_folders),
    )
    options = SourceOptions(
        ca_file=ca_file or (str(profile_ca) if profile_ca else None),
        timeout=float(timeout or profile_timeout or DEFAULT_TIMEOUT),
        profile=profile,
        profile_name=name,
        folders=scope.include,
        exclude_folders=scope.exclude,
    )
    policy = config.trust
    extra = profile.get("sender_domains")
    if extra:
        if not isinstance(extra, list):
            raise ConfigError(f"profile {name}: sender_domains must be a list")
        policy = policy.with_extra_domains([str(d) for d in extra])
    if verify_dkim:
        policy = replace(policy, verify_dkim=True)
    username = profile.get("username")
    return OpenedSource(open_provider(url, options), policy, str(username) if username else None)


def _profile_names(profile: Mapping[str, Any], key: str, name: str | None) -> tuple[str, ...]:
    """A profile's folder list: a list of names (one string is taken as a one-name list)."""
    value = profile.get(key)
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(i, str) and i.strip() for i in items):
        raise ConfigError(f"profile {name}: {key} must be a list of folder names")
    return tuple(items)


def _since(value: datetime | str | None) -> datetime | None:
    if value is None or isinstance(value, datetime):
        return None if value is None else require_aware(value, "since")
    from inbox_finder.dates import parse_since

    return parse_since(value)


def find_tokens(
    source: str | Provider,
    *,
    username: str | None = None,
    since: datetime | str | None = None,
    config: Config | str | os.PathLike[str] | None = None,
    ca_file: str | None = None,
    timeout: float | None = None,
    policy: TrustPolicy | None = None,
    limit: int | None = None,
    verify_dkim: bool = False,
    folders: Iterable[str] = (),
    exclude_folders: Iterable[str] = (),
) -> list[Finding]:
    """All findings newest first (at most ``limit``), optionally for one username.

    The whole mailbox is searched unless ``folders`` names the only folders to search or
    ``exclude_folders`` some to skip. Copies of one mail in several folders are returned once
    (``Finding.also_in`` names the other folders). ``verify_dkim`` also requires a verifying
    DKIM signature aligned with the From domain.
    """
    selection = Selection(username=username, since=_since(since))
    if isinstance(source, Provider):
        scope = Selection(
            selection.username, selection.since, tuple(folders), tuple(exclude_folders)
        )
        return _collect(source, scope, policy or TrustPolicy(verify_dkim=verify_dkim), limit)
    cfg = config if isinstance(config, Config) else load_config(config)
    opened = open_source(
        source,
        cfg,
        ca_file=ca_file,
        timeout=timeout,
        verify_dkim=verify_dkim,
        folders=folders,
        exclude_folders=exclude_folders,
    )
    if selection.username is None and opened.default_username:
        selection = Selection(opened.default_username, selection.since)
    with opened.provider as provider:
        return _collect(provider, selection, policy or opened.policy, limit)


def _collect(
    provider: Provider, selection: Selection, policy: TrustPolicy, limit: int | None
) -> list[Finding]:
    # merge_copies stops at the limit-th mail: the provider is not asked for more.
    return merge_copies(iter_findings(provider, selection, policy), limit)


def find_token(
    source: str | Provider,
    *,
    username: str | None = None,
    since: datetime | str | None = None,
    config: Config | str | os.PathLike[str] | None = None,
    ca_file: str | None = None,
    timeout: float | None = None,
    policy: TrustPolicy | None = None,
    verify_dkim: bool = False,
    folders: Iterable[str] = (),
    exclude_folders: Iterable[str] = (),
) -> Finding:
    """The newest finding (for ``username`` if given) in the whole mailbox, or in ``folders``
    minus ``exclude_folders``; NotFoundError when there is none."""
    found = find_tokens(
        source,
        username=username,
        since=since,
        config=config,
        ca_file=ca_file,
        timeout=timeout,
        policy=policy,
        limit=1,
        verify_dkim=verify_dkim,
        folders=folders,
        exclude_folders=exclude_folders,
    )
    if not found:
        who = f" for {username}" if username else ""
        raise NotFoundError(f"no security token email found{who}")
    return found[0]

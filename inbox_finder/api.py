"""The library API: ``find_token`` and ``find_tokens``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from inbox_finder.boundary.provider import Provider, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.config import Config, load_config, profile_for
from inbox_finder.engine import Selection, iter_findings
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
) -> OpenedSource:
    """Resolve a URL or profile name and open its provider (no network I/O yet)."""
    url, name, profile = profile_for(source, config)
    profile_timeout = profile.get("timeout")
    if profile_timeout is not None and not isinstance(profile_timeout, int | float):
        raise ConfigError(f"profile {name}: timeout must be a number of seconds")
    options = SourceOptions(
        ca_file=_ca_file(ca_file, profile),
        timeout=float(timeout or profile_timeout or DEFAULT_TIMEOUT),
        profile=profile,
        profile_name=name,
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


def _ca_file(ca_file: str | None, profile: Mapping[str, Any]) -> str | None:
    """--ca-file over the profile's ca_file, checked (exit 2 naming a bad one)."""
    if not ca_file and not profile.get("ca_file"):
        return None  # no ssl import for a local lookup
    from inbox_finder.net.tls import resolve_ca_file

    return resolve_ca_file(ca_file, profile)


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
) -> list[Finding]:
    """All findings newest first (at most ``limit``), optionally for one username.

    ``verify_dkim`` also requires a verifying DKIM signature aligned with the From domain.
    """
    selection = Selection(username=username, since=_since(since))
    if isinstance(source, Provider):
        return _collect(source, selection, policy or TrustPolicy(verify_dkim=verify_dkim), limit)
    cfg = config if isinstance(config, Config) else load_config(config)
    opened = open_source(source, cfg, ca_file=ca_file, timeout=timeout, verify_dkim=verify_dkim)
    if selection.username is None and opened.default_username:
        selection = Selection(opened.default_username, selection.since)
    with opened.provider as provider:
        return _collect(provider, selection, policy or opened.policy, limit)


def _collect(
    provider: Provider, selection: Selection, policy: TrustPolicy, limit: int | None
) -> list[Finding]:
    out: list[Finding] = []
    for finding in iter_findings(provider, selection, policy):
        out.append(finding)
        if limit is not None and len(out) >= limit:
            break  # stop early: the provider is not asked for more
    return out


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
) -> Finding:
    """The newest finding (for ``username`` if given); NotFoundError when there is none."""
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
    )
    if not found:
        who = f" for {username}" if username else ""
        raise NotFoundError(f"no security token email found{who}")
    return found[0]

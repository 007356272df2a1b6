"""The library API: ``find_token``, ``find_tokens`` and ``wait_for_token``.

Trust: the policy a lookup applies is merged from every place that states one, and nothing
any of them checks is ever dropped — the config file's ``[trust]`` table, the profile's own
``sender_domains`` and ``verify_dkim`` keys, an explicit ``policy=`` and ``verify_dkim=True``.
Sender domains and authserv-ids are unioned and DKIM is required if any of them asks for it
(``TrustPolicy.merged``), so passing a policy (say, to inject a DNS lookup for DKIM) never
loosens what the config asks for.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from inbox_finder.boundary.folders import FolderScope
from inbox_finder.boundary.provider import Provider, SourceOptions, is_local_source
from inbox_finder.boundary.registry import open_provider
from inbox_finder.config import Config, load_config, profile_for
from inbox_finder.engine import (
    RejectionCounts,
    Selection,
    Unreadable,
    iter_findings,
    merge_copies,
    name_folders,
    newest_per_username,
    rejection_summary,
    warn_unreadable,
)
from inbox_finder.errors import ConfigError, NotFoundError, PartialSearchError
from inbox_finder.model import Finding, require_aware
from inbox_finder.trust.policy import TrustPolicy

DEFAULT_TIMEOUT = 30.0
MAX_TIMEOUT = 86400.0  # a network timeout beyond a day is a typo (and overflows some sockets)
DEFAULT_INTERVAL = 15.0
Sources = Sequence[str | Provider]


@dataclass(frozen=True)
class OpenedSource:
    """A provider opened from a URL or profile, with the policy and defaults that apply."""

    provider: Provider
    policy: TrustPolicy
    default_username: str | None
    profile: Mapping[str, Any] = field(default_factory=dict)  # validated keys, for verify


def _network_timeout(value: object, where: str) -> float | None:
    """A finite number of seconds within (0, MAX_TIMEOUT], or None; ConfigError otherwise."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{where} must be a number of seconds")
    if not 0 < value <= MAX_TIMEOUT:  # also false for nan
        raise ConfigError(f"{where} must be more than 0 and at most {MAX_TIMEOUT:.0f} seconds")
    return float(value)


def _profile_policy(
    policy: TrustPolicy, profile: Mapping[str, Any], name: str | None
) -> TrustPolicy:
    """``policy`` plus the profile's own trust keys (validated values; they only add to it)."""
    extra = profile.get("sender_domains")
    if extra:
        policy = policy.with_extra_domains(list(extra))
    return replace(policy, verify_dkim=True) if profile.get("verify_dkim") else policy


def open_source(
    source: str,
    config: Config,
    *,
    ca_file: str | None = None,
    timeout: float | None = None,
    verify_dkim: bool = False,
    policy: TrustPolicy | None = None,
    folders: Iterable[str] = (),
    exclude_folders: Iterable[str] = (),
) -> OpenedSource:
    """Resolve a URL or profile name and open its provider (no network I/O yet).

    The policy is the config's ``[trust]`` merged with ``policy``, the profile's trust keys
    and ``verify_dkim`` (see the module docstring): it is never looser than the config's.
    ``folders`` (``--folder``) replaces the profile's ``folders`` and the URL's folder;
    ``exclude_folders`` (``--exclude-folder``) adds to the profile's ``exclude_folders``.
    """
    url, name, profile = profile_for(source, config)  # validated: typed values, no guessing
    profile_timeout = _network_timeout(profile["timeout"], f"profile {name}: timeout")
    scope = FolderScope.of(
        tuple(folders) or tuple(profile.get("folders") or ()),
        (*(profile.get("exclude_folders") or ()), *exclude_folders),
    )
    options = SourceOptions(
        ca_file=_ca_file(ca_file, profile),
        timeout=_network_timeout(timeout, "timeout") or profile_timeout or DEFAULT_TIMEOUT,
        profile=profile,
        profile_name=name,
        folders=scope.include,
        exclude_folders=scope.exclude,
    )
    merged = config.trust if policy is None else config.trust.merged(policy)
    merged = _profile_policy(merged, profile, name)
    if verify_dkim:
        merged = replace(merged, verify_dkim=True)
    return OpenedSource(open_provider(url, options), merged, profile["username"], profile)


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


@dataclass
class _Lookup:
    """One lookup's answer and what a NotFoundError needs to explain an empty one."""

    findings: list[Finding]
    selection: Selection
    source: str
    rejected: RejectionCounts = field(default_factory=RejectionCounts)
    unreadable: list[Unreadable] = field(default_factory=list)

    def not_found(self, waited: str = "") -> NotFoundError:
        """The one-line NotFoundError: for whom, since when, where, and what was rejected."""
        who = f" for {self.selection.username}" if self.selection.username else ""
        since = self.selection.since
        when = f" since {since.astimezone():%Y-%m-%d %H:%M %Z}" if since else ""
        summary = rejection_summary(self.rejected)
        why = f"; {summary}" if summary else ""
        return NotFoundError(
            f"no security token email found{who}{when} in {self.source}{waited}{why}",
            self.rejected,
        )


def _warn_if_maybe_stale(
    findings: Sequence[Finding], unreadable: Sequence[Unreadable], everything: bool = False
) -> None:
    """``warn_unreadable`` for the findings returned; with none the NotFoundError's summary
    counts the unreadable mails instead."""
    if findings:
        warn_unreadable(unreadable, findings, everything=everything)


def _lookup(
    source: str | Provider,
    selection: Selection,
    config: Config | None,
    *,
    ca_file: str | None,
    timeout: float | None,
    policy: TrustPolicy | None,
    verify_dkim: bool,
    limit: int | None,
    per_username: bool,
) -> _Lookup:
    """One lookup; ``selection.folders``/``exclude_folders`` narrow a source's folder scope."""
    if isinstance(source, Provider):
        base = policy or TrustPolicy()
        merged = base if config is None else config.trust.merged(base)
        if verify_dkim:
            merged = replace(merged, verify_dkim=True)
        return _collect(source, selection, merged, limit, per_username)
    opened = open_source(
        source,
        config if config is not None else load_config(None),
        ca_file=ca_file,
        timeout=timeout,
        verify_dkim=verify_dkim,
        policy=policy,
        folders=selection.folders,
        exclude_folders=selection.exclude_folders,
    )
    # The folders went into the provider's options; the query adds nothing more.
    selection = Selection(selection.username or opened.default_username, selection.since)
    with opened.provider as provider:
        return _collect(provider, selection, opened.policy, limit, per_username)


def _collect(
    provider: Provider,
    selection: Selection,
    policy: TrustPolicy,
    limit: int | None,
    per_username: bool,
) -> _Lookup:
    result = _Lookup([], selection, provider.source)
    rejected, unreadable = result.rejected, result.unreadable
    if per_username:  # folders are named for the findings kept only (a Graph call each)
        unnamed = iter_findings(
            provider, selection, policy, rejected=rejected, named=False, unreadable=unreadable
        )
        result.findings = name_folders(provider, newest_per_username(unnamed)[:limit])
    else:
        findings = iter_findings(
            provider, selection, policy, rejected=rejected, unreadable=unreadable
        )
        # Copies of one mail in several folders are one finding (``also_in``); reading stops
        # at the limit-th mail, so the provider is not asked for more.
        result.findings = merge_copies(findings, limit)
    return result


def _config(
    config: Config | str | os.PathLike[str] | None, source: str | Provider | Sources
) -> Config | None:
    """The Config to use: a given one, the file named, or (for a source string) the default."""
    if isinstance(config, Config):
        return config
    if isinstance(source, str | Provider):
        source = [source]
    if config is None and all(isinstance(s, Provider) for s in source):
        return None  # a Provider instance does not read the user's config file unless asked
    return load_config(config)


def _expand_local(source: str | Provider | Sources) -> str | Provider | Sources:
    """``local:`` (alone or in a list) -> the URLs of every discovered local mail store."""
    listed = [source] if isinstance(source, str | Provider) else list(source)
    if not any(is_local_source(s) for s in listed):
        return source
    from inbox_finder.sources import local_sources  # lazy: discovery only for local:

    expanded: list[str | Provider] = []
    for one in listed:
        expanded.extend(local_sources() if is_local_source(one) else [one])
    return expanded


def find_tokens(
    source: str | Provider | Sources,
    *,
    username: str | None = None,
    since: datetime | str | None = None,
    config: Config | str | os.PathLike[str] | None = None,
    ca_file: str | None = None,
    timeout: float | None = None,
    policy: TrustPolicy | None = None,
    limit: int | None = None,
    verify_dkim: bool = False,
    per_username: bool = False,
    required: bool = False,
    folders: Iterable[str] = (),
    exclude_folders: Iterable[str] = (),
    jobs: int | None = None,
) -> list[Finding]:
    """All findings newest first (at most ``limit``), optionally for one username.

    The whole mailbox is searched unless ``folders`` names the only folders to search or
    ``exclude_folders`` some to skip. Copies of one mail in several folders are returned once
    (``Finding.also_in`` names the other folders).

    ``per_username`` keeps only the newest finding of each username. ``required`` raises
    NotFoundError (with the counts of rejected mails) instead of returning an empty list.
    ``policy`` and ``verify_dkim`` add to the config's and the profile's trust settings and
    never remove one of them (see the module docstring); ``verify_dkim`` requires a
    verifying DKIM signature aligned with the From domain. A Provider instance reads the
    config's ``[trust]`` only when ``config`` is given.

    ``source`` may be a list of sources: they are searched ``jobs`` at a time (default: the
    config's ``[run] jobs``, else 4) and their findings merged newest first, as if searched
    one by one. When any of them fails, PartialSearchError carries the findings of the others
    (``.findings``) and each failure (``.failures``); a list of one is that one source.
    ``"local:"`` is every local mail store discovered under $HOME (ConfigError if none).
    """
    source = _expand_local(source)
    selection = Selection(username, _since(since), tuple(folders), tuple(exclude_folders))
    options: dict[str, Any] = {
        "ca_file": ca_file,
        "timeout": timeout,
        "policy": policy,
        "verify_dkim": verify_dkim,
        "limit": limit,
        "per_username": per_username,
    }
    cfg = _config(config, source)
    everything = limit is None and not per_username
    if not isinstance(source, str | Provider) and len(source) != 1:
        from inbox_finder.many import find_many

        unreadable: list[Unreadable] = []  # of every source: judged against the merged answer

        def lookup(one: str | Provider) -> tuple[list[Finding], RejectionCounts]:
            answer = _lookup(one, selection, cfg, **options)
            unreadable.extend(answer.unreadable)
            return answer.findings, answer.rejected

        try:
            found = find_many(
                source, lookup, selection, cfg, jobs=jobs, required=required, **options
            )
        except PartialSearchError as exc:
            _warn_if_maybe_stale(exc.findings, unreadable, everything)
            raise
        _warn_if_maybe_stale(found, unreadable, everything)
        return found
    source = source if isinstance(source, str | Provider) else source[0]
    result = _lookup(source, selection, cfg, **options)
    if required and not result.findings:
        raise result.not_found()
    # Newer than a finding returned, an unreadable mail may hold the newer token; a listing
    # of every token mail misses each of them.
    _warn_if_maybe_stale(result.findings, result.unreadable, everything)
    return result.findings


def find_token(
    source: str | Provider | Sources,
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
    jobs: int | None = None,
) -> Finding:
    """The newest finding (for ``username`` if given) in the whole mailbox, or in ``folders``
    minus ``exclude_folders``; NotFoundError when there is none.

    The NotFoundError says how many candidate token mails were rejected and why (also in its
    ``rejected`` dict). ``policy`` and ``verify_dkim`` only ever add checks: see find_tokens.
    A list of sources gives the newest of all of them (PartialSearchError if any failed).
    """
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
        required=True,
        folders=folders,
        exclude_folders=exclude_folders,
        jobs=jobs,
    )
    return found[0]


def _seconds(value: float | timedelta, what: str, *, positive: bool) -> float:
    seconds = value.total_seconds() if isinstance(value, timedelta) else float(value)
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        sign = "more than 0" if positive else "0 or more"
        raise ConfigError(f"{what} must be a finite number of seconds, {sign}")
    return seconds


def wait_for_token(
    source: str | Provider,
    *,
    timeout: float | timedelta,
    interval: float | timedelta = DEFAULT_INTERVAL,
    username: str | None = None,
    since: datetime | str | None = None,
    config: Config | str | os.PathLike[str] | None = None,
    ca_file: str | None = None,
    network_timeout: float | None = None,
    policy: TrustPolicy | None = None,
    verify_dkim: bool = False,
    folders: Iterable[str] = (),
    exclude_folders: Iterable[str] = (),
    on_wait: Callable[[float], object] | None = None,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], object] = time.sleep,
) -> Finding:
    """Poll every ``interval`` until a token email received since ``since`` turns up.

    For right after somebody clicked *Reset My Security Token*. ``since`` defaults to the
    moment of the call (whole seconds: IMAP INTERNALDATE has none finer). Gives up with
    NotFoundError once ``timeout`` (seconds or a timedelta) has passed, never sleeping past
    it: the last pause is cut to the time left, and a last lookup is made at the deadline.
    ``on_wait(seconds_left)`` is called before each pause (a countdown); ``clock`` and
    ``sleep`` are injectable for tests. ``network_timeout`` is find_token's ``timeout``.
    """
    budget = _seconds(timeout, "the wait timeout", positive=False)
    pause = _seconds(interval, "the polling interval", positive=True)
    start = datetime.now(UTC).replace(microsecond=0)
    selection = Selection(username, _since(since) or start, tuple(folders), tuple(exclude_folders))
    cfg = _config(config, source)
    deadline = clock() + budget
    while True:
        result = _lookup(
            source,
            selection,
            cfg,
            ca_file=ca_file,
            timeout=network_timeout,
            policy=policy,
            verify_dkim=verify_dkim,
            limit=1,
            per_username=False,
        )
        if result.findings:
            _warn_if_maybe_stale(result.findings, result.unreadable)
            return result.findings[0]
        left = deadline - clock()
        if left <= 0:
            raise result.not_found(f" (waited {budget:g}s)")
        if on_wait is not None:
            on_wait(left)
        sleep(min(pause, left))

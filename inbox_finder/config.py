"""The TOML config file: ``[mailbox.NAME]`` profiles and the ``[trust]`` table.

    [trust]
    sender_domains = ["mail.example-relay.com"]     # trusted in addition to salesforce.com
    authserv_ids = ["mx.google.com", "mx.example.com"]  # replaces the default list

    [mailbox.work]
    url = "imaps://dana@imap.example.com"
    username = "dana@example.com"                   # default --username for this profile
    password_env = "WORK_IMAP_PASSWORD"

    [group.prod]
    members = ["work", "ops"]                       # usable as a SOURCE: every member

    [run]
    jobs = 4                                        # sources searched at once (--jobs)
    per_host = 8                                    # of them, at most this many per server

    default = "work"                                # at the top: `find` with no SOURCE

``default`` (a top-level key, so it goes before the first table) names what ``find`` searches
when given no SOURCE: a profile, a group or a URL (``local:`` = every discovered local store).

Keys of a ``[mailbox.NAME]`` table are declared by its provider (``Provider.profile_keys``
plus ``boundary.keys.COMMON_KEYS``) and validated when the profile is used: an unknown key or
a wrong type is a ConfigError. ``inbox-finder config check`` validates every profile at once.

Location: ``--config PATH``, else ``$INBOX_FINDER_CONFIG``, else ``config.toml`` in the
platform's user config dir. A missing default file means an empty config; a missing file that
was named explicitly is an error.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from inbox_finder.boundary.keys import ProfileValues, validate_profile
from inbox_finder.boundary.provider import split_scheme
from inbox_finder.boundary.registry import provider_class
from inbox_finder.errors import ConfigError
from inbox_finder.trust.policy import TrustPolicy

ENV_CONFIG = "INBOX_FINDER_CONFIG"
_TOP_LEVEL = {"mailbox", "trust", "group", "run", "default"}
MAX_JOBS = 64  # more threads than this only queue on the servers' connection limits
_TRUST_KEYS = {"sender_domains", "authserv_ids", "verify_dkim"}
_RUN_KEYS = {"jobs", "per_host"}


@dataclass(frozen=True)
class Config:
    """A loaded config file."""

    path: Path | None = None
    profiles: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    trust: TrustPolicy = field(default_factory=TrustPolicy)
    groups: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    jobs: int | None = None
    default: str | None = None  # what ``find`` searches when given no SOURCE
    per_host: int | None = None


def default_config_path() -> Path:
    """``config.toml`` in the platform's user config directory."""
    from platformdirs import user_config_path  # small, but only needed here

    return user_config_path("inbox-finder") / "config.toml"


def _str_list(value: Any, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ConfigError(f"{where} must be a list of non-empty strings")
    return tuple(v.strip().lower() for v in value)


def _parse_trust(table: Any, path: Path) -> TrustPolicy:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [trust] must be a table")
    unknown = set(table) - _TRUST_KEYS
    if unknown:
        raise ConfigError(f"{path}: unknown key(s) in [trust]: {', '.join(sorted(unknown))}")
    policy = TrustPolicy()
    if "sender_domains" in table:
        policy = policy.with_extra_domains(
            _str_list(table["sender_domains"], "trust.sender_domains")
        )
    if "authserv_ids" in table:
        policy = replace(
            policy, authserv_ids=_str_list(table["authserv_ids"], "trust.authserv_ids")
        )
    if "verify_dkim" in table:
        if not isinstance(table["verify_dkim"], bool):
            raise ConfigError(f"{path}: trust.verify_dkim must be true or false")
        policy = replace(policy, verify_dkim=table["verify_dkim"])
    return policy


def _parse_profiles(table: Any, path: Path) -> dict[str, dict[str, Any]]:
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [mailbox] must hold tables such as [mailbox.work]")
    profiles = {}
    for name, profile in table.items():
        if not isinstance(profile, dict):
            raise ConfigError(f"{path}: [mailbox.{name}] must be a table")
        url = profile.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f'{path}: [mailbox.{name}] needs a url, e.g. url = "mbox:~/mail"')
        profiles[name] = dict(profile)
    return profiles


def _parse_groups(
    table: Any, profiles: Mapping[str, Any], path: Path
) -> dict[str, tuple[str, ...]]:
    """``[group.NAME] members = [...]``: profile names only, each one declared."""
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: [group] must hold tables such as [group.prod]")
    groups = {}
    for name, group in table.items():
        where = f"{path}: [group.{name}]"
        if not isinstance(group, dict) or set(group) != {"members"}:
            raise ConfigError(f'{where} must be a table with one key, members = ["work", ...]')
        if name in profiles:
            raise ConfigError(f"{where} has the name of a [mailbox.{name}] profile")
        members = group["members"]
        if not isinstance(members, list) or not members:
            raise ConfigError(f"{where}: members must be a non-empty list of profile names")
        for member in members:
            if not isinstance(member, str) or member not in profiles:
                known = ", ".join(sorted(profiles)) or "none"
                raise ConfigError(f"{where}: unknown member {member!r}; profiles: {known}")
        groups[name] = tuple(dict.fromkeys(members))
    return groups


def parse_jobs(value: Any, where: str) -> int:
    """A number of sources searched at once: an integer from 1 to MAX_JOBS."""
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_JOBS:
        raise ConfigError(f"{where} must be a whole number from 1 to {MAX_JOBS}")
    return value


def _parse_run(table: Any, path: Path) -> dict[str, int]:
    """``[run]``: ``jobs`` and ``per_host``, each a whole number from 1 to MAX_JOBS."""
    if not isinstance(table, dict) or set(table) - _RUN_KEYS:
        raise ConfigError(f"{path}: [run] must be a table with the keys jobs and per_host")
    return {key: parse_jobs(value, f"{path}: run.{key}") for key, value in table.items()}


def _parse_default(
    value: Any, profiles: Mapping[str, Any], groups: Mapping[str, Any], path: Path
) -> str | None:
    """The top-level ``default``: a URL, or the name of a profile or group in this file."""
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(
            f'{path}: default must be a profile, group or URL in quotes, e.g. default = "work"'
        )
    name = value.strip()
    if ":" not in name and name not in profiles and name not in groups:
        known = ", ".join(sorted({*profiles, *groups})) or "none"
        raise ConfigError(f"{path}: default {name!r} is no profile or group; known: {known}")
    return name


def load_config(path: str | os.PathLike[str] | None = None) -> Config:
    """Load the config file (see module doc for where it is looked up)."""
    explicit = path or os.environ.get(ENV_CONFIG) or None
    file = Path(explicit).expanduser() if explicit else default_config_path()
    try:
        text = file.read_bytes()
    except FileNotFoundError:
        if explicit:
            raise ConfigError(f"config file not found: {file}") from None
        return Config()
    except OSError as exc:
        raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from exc
    import tomllib  # lazy: only when there is a config file

    try:
        data = tomllib.loads(text.decode("utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"bad config file {file}: {exc}") from exc
    unknown = set(data) - _TOP_LEVEL
    if unknown:
        names = ", ".join(sorted(unknown))
        raise ConfigError(
            f"{file}: unknown section(s) {names}; expected [mailbox.NAME], [group.NAME], "
            "[trust], [run] or the key default"
        )
    profiles = _parse_profiles(data.get("mailbox", {}), file)
    groups = _parse_groups(data.get("group", {}), profiles, file)
    run = _parse_run(data.get("run", {}), file)
    return Config(
        path=file,
        profiles=profiles,
        trust=_parse_trust(data.get("trust", {}), file),
        groups=groups,
        jobs=run.get("jobs"),
        per_host=run.get("per_host"),
        default=_parse_default(data.get("default"), profiles, groups, file),
    )


def profile_for(source: str, config: Config) -> tuple[str, str | None, ProfileValues]:
    """Resolve SOURCE: a URL (has a ``:``) or a profile name -> (url, profile name, keys).

    The keys are validated against the declarations of the URL's provider (a URL alone gets
    the defaults).
    """
    if ":" in source:
        return source, None, validated_profile(source, None, {}, config)
    profile = config.profiles.get(source)
    if profile is None:
        where = f" in {config.path}" if config.path else " (no config file found)"
        known = ", ".join(sorted(config.profiles)) or "none"
        raise ConfigError(
            f"{source!r} is neither a source URL nor a profile{where}; profiles: {known}"
        )
    url = profile.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(f'[mailbox.{source}] needs a url, e.g. url = "mbox:~/mail"')
    return url.strip(), source, validated_profile(url.strip(), source, profile, config)


def validated_profile(
    url: str, name: str | None, raw: Mapping[str, Any], config: Config
) -> ProfileValues:
    """``raw`` checked against the keys the provider of ``url`` declares."""
    cls = provider_class(split_scheme(url)[0])
    where = f"[mailbox.{name}]" if name else f"the {cls.kind} profile"
    try:
        return validate_profile(cls.declared_keys(), raw, where)
    except ConfigError as exc:
        if config.path is None:
            raise
        raise ConfigError(f"{config.path}: {exc}") from None

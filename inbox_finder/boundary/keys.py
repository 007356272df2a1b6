"""Declared profile keys: every ``[mailbox.NAME]`` key a provider reads is declared once.

A provider lists its keys in ``Provider.profile_keys``; the keys every source shares are in
``COMMON_KEYS`` here. Validation (unknown keys with a did-you-mean, types), the display of
``inbox-finder config check`` (secrets never shown) and ``config keys`` all derive from these
declarations, so adding a key is one line::

    ProfileKey("folders", KeyType.STR_LIST, default=(), help="folders to search"),
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from inbox_finder.errors import ConfigError


class KeyType(StrEnum):
    """What a key's value must be; the value is the wording of a type error."""

    STR = "a string"
    INT = "a whole number"
    FLOAT = "a number"
    BOOL = "true or false"
    STR_LIST = "a list of strings"
    PATH = "a path (a string)"


class Secret(StrEnum):
    """How a key relates to a secret; ``config check`` shows such keys without the secret."""

    ENV = "env"  # names an environment variable that holds the secret
    COMMAND = "command"  # a command that prints the secret (never run by config check)
    FILE = "file"  # the path of a file that holds secrets
    VALUE = "value"  # the value itself is secret (masked when shown)


@dataclass(frozen=True)
class ProfileKey:
    """One declared profile key: name, type, default, secret kind and one line of help."""

    name: str
    type: KeyType = KeyType.STR
    default: Any = None
    help: str = ""
    secret: Secret | None = None
    choices: tuple[str, ...] = ()  # allowed values of a STR key (compared case-insensitively)

    def parse(self, value: Any, where: str) -> Any:
        """The typed value (paths expanded, strings stripped); ConfigError naming the type."""
        parsed: Any = _PARSERS[self.type](value)
        if parsed is None:
            got = type(value).__name__
            raise ConfigError(f"key {self.name} in {where} must be {self.type}, not {got}")
        if isinstance(parsed, str) and not parsed:
            raise ConfigError(
                f"key {self.name} in {where} must not be empty (remove it to use the default)"
            )
        if self.choices:
            parsed = parsed.lower()
            if parsed not in self.choices:
                allowed = " or ".join(repr(c) for c in self.choices)
                raise ConfigError(f"key {self.name} in {where} must be {allowed}, not {value!r}")
        return parsed

    def show(self, value: Any) -> str:
        """The value as ``config check`` prints it: never a secret itself."""
        if self.secret is Secret.ENV:
            state = "set" if os.environ.get(str(value)) else "not set"
            return f"${value} ({state})"
        if self.secret is Secret.COMMAND:
            return f"command `{value}` (not run)"
        if self.secret is Secret.VALUE:
            return mask(str(value))
        if self.secret is Secret.FILE:
            return f"file {value}" + ("" if Path(value).exists() else " (missing)")
        if isinstance(value, tuple):
            return ", ".join(value) or "(none)"
        if isinstance(value, bool):
            return "true" if value else "false"
        return f"{value:g}" if isinstance(value, float) else str(value)

    def public(self, value: Any) -> Any:
        """The value for JSON output: secrets as ``show`` describes them, paths as strings."""
        if self.secret is not None:
            return self.show(value)
        if isinstance(value, tuple):
            return list(value)
        return str(value) if isinstance(value, Path) else value


def mask(secret: str) -> str:
    """``…abcd``: the last four characters of a long secret, nothing of a short one."""
    return "…" + secret[-4:] if len(secret) >= 16 else "…"


def _str(value: Any) -> str | None:
    return value.strip() if isinstance(value, str) else None


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    ok = isinstance(value, int | float) and not isinstance(value, bool)
    return float(value) if ok else None


def _bool(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _str_list(value: Any) -> tuple[str, ...] | None:
    if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
        return None
    items = tuple(v.strip() for v in value)
    return None if not all(items) else items


def _path(value: Any) -> Path | str | None:
    if isinstance(value, os.PathLike):
        value = os.fspath(value)
    text = _str(value)
    return Path(text).expanduser() if text else text  # "" is reported as empty by parse()


_PARSERS = {
    KeyType.STR: _str,
    KeyType.INT: _int,
    KeyType.FLOAT: _float,
    KeyType.BOOL: _bool,
    KeyType.STR_LIST: _str_list,
    KeyType.PATH: _path,
}


def secret_source_keys(prefix: str, what: str) -> tuple[ProfileKey, ...]:
    """``PREFIX_env``, ``PREFIX_cmd`` and ``PREFIX_cmd_timeout``: where a secret comes from."""
    return (
        ProfileKey(f"{prefix}_env", secret=Secret.ENV, help=f"variable holding {what}"),
        ProfileKey(f"{prefix}_cmd", secret=Secret.COMMAND, help=f"command printing {what}"),
        ProfileKey(
            f"{prefix}_cmd_timeout",
            KeyType.FLOAT,
            30.0,
            help=f"seconds {prefix}_cmd may take",
        ),
    )


#: Keys every source takes: read by config.py, api.py and the Salesforce login check.
COMMON_KEYS: tuple[ProfileKey, ...] = (
    ProfileKey("url", help="the source URL, e.g. imaps://USER@HOST or mbox:PATH (required)"),
    ProfileKey("username", help="default --username: the Salesforce username"),
    ProfileKey("ca_file", KeyType.PATH, help="extra CA certificate (PEM) to trust for TLS"),
    ProfileKey("timeout", KeyType.FLOAT, help="network connect/read timeout in seconds (30)"),
    ProfileKey(
        "sender_domains",
        KeyType.STR_LIST,
        (),
        help="sender domains trusted in addition to [trust] sender_domains",
    ),
    ProfileKey(
        "folders",
        KeyType.STR_LIST,
        (),
        help="search only these folders (default: the whole mailbox); --folder replaces it",
    ),
    ProfileKey(
        "exclude_folders",
        KeyType.STR_LIST,
        (),
        help="folders never searched; --exclude-folder adds to it",
    ),
    ProfileKey(
        "verify_dkim",
        KeyType.BOOL,
        False,
        help="also require a verifying DKIM signature for this mailbox (adds to [trust])",
    ),
    *secret_source_keys("sf_password", "the Salesforce password (verify)"),
)

#: The one retry policy's keys (inbox_finder.net.retry.RetryPolicy.from_profile), the same for
#: every network provider; unset means the provider's own default.
RETRY_KEYS: tuple[ProfileKey, ...] = (
    ProfileKey("retries", KeyType.INT, help="transient faults retried, 0-10 (IMAP 2, Outlook 4)"),
    ProfileKey(
        "retry_backoff", KeyType.FLOAT, help="seconds before the first retry (0.5; Outlook 1)"
    ),
    ProfileKey(
        "retry_max_seconds", KeyType.FLOAT, help="time budget for all retries (Gmail, Outlook 60)"
    ),
)

#: The IMAP password and XOAUTH2 token sources (secret_sources.imap_password / oauth_token).
PASSWORD_KEYS = secret_source_keys("password", "the mailbox password")
OAUTH_TOKEN_KEYS = secret_source_keys("oauth_token", "an OAuth access token")


class ProfileValues(Mapping[str, Any]):
    """Validated values of every declared key (the default where a key is unset)."""

    def __init__(
        self, keys: Mapping[str, ProfileKey], values: Mapping[str, Any], explicit: Iterable[str]
    ) -> None:
        self._keys = dict(keys)
        self._values = dict(values)
        self._explicit = frozenset(explicit)

    def __getitem__(self, name: str) -> Any:
        return self._values[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    @property
    def declared(self) -> Mapping[str, ProfileKey]:
        """The declarations these values were validated against."""
        return self._keys

    def is_set(self, name: str) -> bool:
        """True when the profile itself set ``name`` (not a default)."""
        return name in self._explicit

    def set_items(self) -> Iterator[tuple[ProfileKey, Any]]:
        """(declaration, value) of every key the profile set, in declaration order."""
        for name, key in self._keys.items():
            if name in self._explicit:
                yield key, self._values[name]


def declare(*groups: Iterable[ProfileKey]) -> dict[str, ProfileKey]:
    """Merge declarations by name; a later declaration of a name replaces an earlier one."""
    return {key.name: key for group in groups for key in group}


def unknown_key_error(name: str, known: Iterable[str], where: str) -> ConfigError:
    """``unknown key 'pasword_cmd' in [mailbox.work]; did you mean password_cmd?``."""
    import difflib  # lazy: only an error needs it

    names = sorted(known)
    close = difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]}?" if close else f"known keys: {', '.join(names)}"
    return ConfigError(f"unknown key {name!r} in {where}; {hint}")


def validate_profile(
    keys: Mapping[str, ProfileKey], raw: Mapping[str, Any], where: str
) -> ProfileValues:
    """Check ``raw`` against ``keys`` (ConfigError on an unknown key or a wrong type)."""
    if isinstance(raw, ProfileValues) and raw.declared == keys:
        return raw  # already validated against the same declarations
    for name in raw:
        if name not in keys:
            raise unknown_key_error(str(name), keys, where)
    values: dict[str, Any] = {}
    explicit = []
    for name, key in keys.items():
        value = raw.get(name)
        if value is None:  # TOML has no null: None only comes from library callers
            values[name] = key.default
        else:
            values[name] = key.parse(value, where)
            explicit.append(name)
    return ProfileValues(keys, values, explicit)

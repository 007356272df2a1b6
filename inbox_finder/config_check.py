"""Check a whole config file and describe each profile without revealing a secret.

``check_config`` validates every ``[mailbox.NAME]`` profile against its provider's declared
keys and builds the provider (no network I/O: URL, paths and value ranges are checked), then
reports the keys set — secrets as where they come from, never their values — and where each
credential would come from. No password command is run and no keyring is read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from inbox_finder.api import open_source
from inbox_finder.boundary.keys import ProfileValues, mask
from inbox_finder.boundary.provider import split_scheme
from inbox_finder.boundary.registry import provider_class
from inbox_finder.config import Config, profile_for
from inbox_finder.errors import ConfigError
from inbox_finder.salesforce.credentials import describe_salesforce_password

_SF_KEYS = ("sf_password_env", "sf_password_cmd")


@dataclass(frozen=True)
class ProfileReport:
    """One checked profile: its keys as shown (never a secret) and its credential sources."""

    name: str
    url: str
    kind: str
    keys: dict[str, str]
    credentials: dict[str, str]
    values: dict[str, Any]  # the keys for JSON: typed values, secrets as described

    def to_dict(self) -> dict[str, Any]:
        """The JSON shape of ``config check --json``."""
        return {
            "url": self.url,
            "kind": self.kind,
            "keys": self.values,
            "credentials": self.credentials,
        }


def display_url(url: str) -> str:
    """The URL with a password (which no built-in scheme accepts) masked."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return url
    if not password:
        return url
    netloc = parts.netloc.replace(f":{password}@", f":{mask(password)}@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def check_profile(name: str, config: Config) -> ProfileReport:
    """Validate one profile and open (not connect) its provider; ConfigError when bad."""
    url, _, values = profile_for(name, config)
    try:
        open_source(name, config).provider.close()  # from_url checks URL, paths and ranges
    except ConfigError as exc:
        where = f"{config.path}: " if config.path else ""
        raise ConfigError(f"{where}[mailbox.{name}]: {exc}") from None
    cls = provider_class(split_scheme(url)[0])
    shown = {key.name: key.show(value) for key, value in values.set_items()}
    public = {key.name: key.public(value) for key, value in values.set_items()}
    shown["url"] = public["url"] = display_url(url)
    credentials = dict(cls.describe_credentials(url, values))
    if _wants_salesforce(values):
        username = values["username"]
        credentials["salesforce password"] = describe_salesforce_password(username, values)
    return ProfileReport(name, display_url(url), cls.kind, shown, credentials, public)


def _wants_salesforce(values: ProfileValues) -> bool:
    return bool(values["username"]) or any(values.is_set(key) for key in _SF_KEYS)


def check_config(config: Config) -> list[ProfileReport]:
    """Every profile checked, in file order; ConfigError (exit 2) at the first bad one."""
    return [check_profile(name, config) for name in config.profiles]


def trust_report(config: Config) -> dict[str, Any]:
    """The effective ``[trust]`` settings."""
    policy = config.trust
    return {
        "sender_domains": list(policy.sender_domains),
        "authserv_ids": list(policy.authserv_ids),
        "verify_dkim": policy.verify_dkim,
    }

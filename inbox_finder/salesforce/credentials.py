"""Salesforce credentials: where the password comes from, and a token inside password+token.

The password sources, in order: $INBOX_FINDER_SF_PASSWORD, the profile's sf_password_env /
sf_password_cmd, the keyring (service inbox-finder-salesforce, user USERNAME), a prompt on a
terminal. Neither the password nor a token reaches a log line or an error message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from inbox_finder.errors import NotFoundError
from inbox_finder.secret_sources import (
    SecretSource,
    describe_secret,
    from_env,
    from_keyring,
    from_profile_command,
    from_profile_env,
    from_prompt,
    resolve_secret,
)

SF_PASSWORD_ENV = "INBOX_FINDER_SF_PASSWORD"  # noqa: S105 - the variable name, not a secret
SF_KEYRING_SERVICE = "inbox-finder-salesforce"
TOKEN_RE = re.compile(r"[A-Za-z0-9]{20,30}")


def salesforce_password_sources(
    username: str | None, profile: Mapping[str, Any] | None = None
) -> list[SecretSource]:
    """Env, profile sf_password_env / sf_password_cmd, keyring (with a username), prompt."""
    profile = profile or {}
    who = f" for {username}" if username else ""
    sources = [
        from_env(SF_PASSWORD_ENV),
        from_profile_env(profile, "sf_password_env"),
        from_profile_command(profile, "sf_password_cmd"),
    ]
    if username:
        sources.append(from_keyring(SF_KEYRING_SERVICE, username))
    sources.append(from_prompt(f"Salesforce password{who}: "))
    return sources


def salesforce_password(username: str | None, profile: Mapping[str, Any] | None = None) -> str:
    """The Salesforce password: env, profile sf_password_env / sf_password_cmd, keyring, prompt."""
    who = f" for {username}" if username else ""
    hint = (
        f"set {SF_PASSWORD_ENV}, a profile's sf_password_env or sf_password_cmd, store it with "
        f"`keyring set {SF_KEYRING_SERVICE} {username or 'USERNAME'}`, or run on a terminal"
    )
    sources = salesforce_password_sources(username, profile)
    return resolve_secret(f"Salesforce password{who}", sources, hint)


def describe_salesforce_password(
    username: str | None, profile: Mapping[str, Any] | None = None
) -> str:
    """Where ``salesforce_password`` would take the password from (nothing is looked up)."""
    return describe_secret(salesforce_password_sources(username, profile))


def split_token(combined: str, password: str) -> str:
    """The token at the end of ``password+token``; NotFoundError when there is none."""
    candidates = [combined, combined.strip()]
    inner = candidates[-1]
    if len(inner) >= 2 and inner[0] == inner[-1] and inner[0] in "'\"":
        candidates.append(inner[1:-1])  # a quoted value copied from a config file
    follows: int | None = None
    for text in candidates:
        if text.startswith(password):
            rest = text[len(password) :]
            if TOKEN_RE.fullmatch(rest):
                return rest
            follows = len(rest) if follows is None else min(follows, len(rest))
    if follows is None:
        raise NotFoundError("the combined string does not start with the Salesforce password")
    raise NotFoundError(
        "what follows the password is not a plausible security token "
        f"(20-30 letters and digits; {follows} characters follow)"
    )

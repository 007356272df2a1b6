"""Secret lookup (passwords, access tokens) from env, profile, command, keyring or a prompt.

A secret never appears in an exception message or a log line; only the *source* is named
("password_cmd exited with status 1", "from the keyring"). ``resolve_secret`` is generic so
the Gmail and Outlook providers can chain their own sources; ``imap_password`` is the IMAP
order documented in DESIGN.md. ``describe_secret`` says where a chain would take its secret
from without looking anything up (no command is run, no keyring read).

A command's secret is the first line of its stdout (as git credential helpers and msmtp read
it: ``pass show`` prints more lines). A secret holding CR, LF or NUL, from any source, is
refused (AuthError): it could never be sent intact and would split a protocol line.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox_finder.errors import AuthError, ConfigError

log = logging.getLogger(__name__)

PASSWORD_ENV = "INBOX_FINDER_PASSWORD"  # noqa: S105 - the variable name, not a secret
KEYRING_SERVICE = "inbox-finder"
DEFAULT_COMMAND_TIMEOUT = 30.0


_FORBIDDEN = ("\r", "\n", "\0")


def _nothing() -> str | None:
    return None


@dataclass(frozen=True)
class SecretSource:
    """One place a secret may come from; ``lookup`` returns None when it has nothing.

    ``describe`` says where the secret would come from without looking it up (None: this
    source is not configured); ``certain`` is False for a source that may still be empty
    when configured (the keyring), so a description goes on to the next source.
    """

    name: str
    lookup: Callable[[], str | None]
    describe: Callable[[], str | None] = _nothing
    certain: bool = True


def resolve_secret(what: str, sources: Iterable[SecretSource], hint: str) -> str:
    """Return the first secret any source yields; AuthError ``no {what}: {hint}`` otherwise."""
    for source in sources:
        value = source.lookup()
        if value:
            if any(c in value for c in _FORBIDDEN):
                raise AuthError(
                    f"the {what} from {source.name} contains a line break or NUL; "
                    "refusing to send it (a command's secret is its first line)"
                )
            log.debug("%s taken from %s", what, source.name)
            return value
        log.debug("%s: nothing from %s", what, source.name)
    raise AuthError(f"no {what}: {hint}")


def describe_secret(sources: Iterable[SecretSource]) -> str:
    """Where ``resolve_secret`` would take the secret from, e.g. ``from $WORK_PW (set)``."""
    parts: list[str] = []
    for source in sources:
        text = source.describe()
        if text is None:
            continue
        parts.append(text)
        if source.certain:
            break
    return ", else ".join(parts) or "nowhere (no source configured)"


def _env_state(var: str) -> str:
    return f"from ${var} ({'set' if os.environ.get(var) else 'not set'})"


def from_env(var: str) -> SecretSource:
    """The value of environment variable ``var`` (unset or empty: nothing)."""
    return SecretSource(
        f"${var}",
        lambda: os.environ.get(var) or None,
        lambda: _env_state(var) if os.environ.get(var) else None,
    )


def from_profile_env(profile: Mapping[str, Any], key: str) -> SecretSource:
    """Profile key ``key`` names an env var; naming an unset one is an error, not a skip."""

    def lookup() -> str | None:
        var = profile.get(key)
        if var is None:
            return None
        if not isinstance(var, str) or not var:
            raise ConfigError(f"profile key {key} must be the name of an environment variable")
        value = os.environ.get(var)
        if not value:
            raise AuthError(f"profile key {key} names ${var}, but it is not set")
        return value

    def describe() -> str | None:
        var = profile.get(key)
        return None if var is None else _env_state(str(var))

    return SecretSource(f"profile {key}", lookup, describe)


def from_profile_command(profile: Mapping[str, Any], key: str) -> SecretSource:
    """Profile key ``key`` is a command printing the secret (``{key}_timeout`` in seconds)."""

    def lookup() -> str | None:
        command = profile.get(key)
        if command is None:
            return None
        if not isinstance(command, str) or not command.strip():
            raise ConfigError(f"profile key {key} must be a non-empty command string")
        timeout = profile.get(f"{key}_timeout", DEFAULT_COMMAND_TIMEOUT)
        if not isinstance(timeout, int | float) or isinstance(timeout, bool) or timeout <= 0:
            raise ConfigError(f"profile key {key}_timeout must be a positive number of seconds")
        return run_secret_command(command, key=key, timeout=float(timeout))

    def describe() -> str | None:
        command = profile.get(key)
        return None if command is None else f"from command `{command}`"

    return SecretSource(f"profile {key}", lookup, describe)


def run_secret_command(command: str, *, key: str = "password_cmd", timeout: float = 30.0) -> str:
    """Run ``command`` (shlex-split, no shell, stdin closed) and return its first stdout line.

    Errors name the program and the exit status, never what the command printed: a failing
    password helper may well have printed half a secret.
    """
    import shlex  # lazy, like getpass below: most lookups run no command and ask nothing

    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(f"profile key {key}: cannot parse the command ({exc})") from exc
    if not argv:
        raise ConfigError(f"profile key {key} must be a non-empty command string")
    program = Path(argv[0]).name
    log.debug("running %s program %s", key, program)
    try:
        # stderr is inherited so the helper's own diagnostics (gpg, pass) reach the user.
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError as exc:
        raise AuthError(f"{key}: program not found: {program}") from exc
    except subprocess.TimeoutExpired:
        # from None: TimeoutExpired carries the captured output.
        raise AuthError(f"{key} ({program}) timed out after {timeout:g}s") from None
    except OSError as exc:
        raise AuthError(f"{key} ({program}) could not be run: {exc.strerror}") from exc
    if done.returncode != 0:
        raise AuthError(f"{key} ({program}) exited with status {done.returncode}")
    # The first line, as git credential helpers and msmtp take it: `pass show` adds lines
    # (which are never decoded or looked at).
    first, newline, _ = done.stdout.partition(b"\n")
    try:
        line = first.decode("utf-8").removesuffix("\r")
    except UnicodeDecodeError:
        raise AuthError(f"{key} ({program}) printed something that is not UTF-8") from None
    if not line:
        where = " on its first line" if newline else ""
        raise AuthError(f"{key} ({program}) printed nothing{where}")
    return line


def from_keyring(service: str, name: str) -> SecretSource:
    """``keyring.get_password(service, name)``; a missing or broken backend counts as nothing."""

    def lookup() -> str | None:
        try:
            import keyring  # lazy: its backend discovery is slow and may touch D-Bus
        except ImportError:
            log.debug("keyring not installed")
            return None
        try:
            value = keyring.get_password(service, name)
        except Exception as exc:  # any backend failure (D-Bus, locked store) = not available
            log.debug("keyring not available (%s)", type(exc).__name__)
            return None
        return value if isinstance(value, str) and value else None

    return SecretSource("the keyring", lookup, lambda: f"keyring {service}/{name}", certain=False)


def from_prompt(prompt: str) -> SecretSource:
    """A hidden prompt, only when stdin is a terminal (never in cron, pipes or tests)."""

    def lookup() -> str | None:
        try:
            interactive = sys.stdin is not None and sys.stdin.isatty()
        except (AttributeError, ValueError):
            interactive = False
        if not interactive:
            return None
        import getpass

        try:
            return getpass.getpass(prompt) or None
        except EOFError:
            return None

    return SecretSource("a terminal prompt", lookup, lambda: "prompt (on a terminal)")


def imap_password_sources(
    user: str, host: str, profile: Mapping[str, Any] | None = None
) -> list[SecretSource]:
    """The IMAP password sources: env, profile password_env, password_cmd, keyring, prompt."""
    profile = profile or {}
    account = f"{user}@{host}"
    return [
        from_env(PASSWORD_ENV),
        from_profile_env(profile, "password_env"),
        from_profile_command(profile, "password_cmd"),
        from_keyring(KEYRING_SERVICE, account),
        from_prompt(f"Password for {account}: "),
    ]


def imap_password(user: str, host: str, profile: Mapping[str, Any] | None = None) -> str:
    """The IMAP password: env, profile password_env, password_cmd, keyring, prompt (in order)."""
    account = f"{user}@{host}"
    hint = (
        f"set {PASSWORD_ENV}, a profile's password_env or password_cmd, "
        f"store it with `keyring set {KEYRING_SERVICE} {account}`, or run on a terminal"
    )
    sources = imap_password_sources(user, host, profile)
    return resolve_secret(f"password for {account}", sources, hint)


def oauth_token_sources(profile: Mapping[str, Any] | None = None) -> list[SecretSource]:
    """The XOAUTH2 access token sources: profile oauth_token_env, then oauth_token_cmd."""
    profile = profile or {}
    return [
        from_profile_env(profile, "oauth_token_env"),
        from_profile_command(profile, "oauth_token_cmd"),
    ]


def oauth_token(user: str, host: str, profile: Mapping[str, Any] | None = None) -> str:
    """An OAuth access token for XOAUTH2: profile oauth_token_env, then oauth_token_cmd."""
    hint = "set the profile key oauth_token_env (an env var) or oauth_token_cmd (a command)"
    sources = oauth_token_sources(profile)
    return resolve_secret(f"OAuth access token for {user}@{host}", sources, hint)

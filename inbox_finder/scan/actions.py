"""Scan actions: run a command, update a dotenv file. Secrets go by env/stdin, never argv.

The ``--exec`` child's environment is the scan's own minus every variable the tool or a
config profile reads a secret from (``child_env``), plus INBOX_FINDER_TOKEN, _USERNAME and
_RECEIVED (and the ``--verify`` verdict). It runs through the platform's shell
(``oscompat.shell_name``) in a process group of its own, so a timeout kills everything it
started, not only the shell.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from inbox_finder.errors import ActionError, ConfigError
from inbox_finder.fileutil import write_private
from inbox_finder.model import Finding
from inbox_finder.oscompat import own_group_kwargs, stop_group
from inbox_finder.salesforce.credentials import SF_PASSWORD_ENV
from inbox_finder.secret_sources import PASSWORD_ENV

EXEC_TIMEOUT = 300.0
KILL_GRACE = 2.0  # seconds between asking a timed-out command's group to stop and killing it
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

# Variables the tool itself reads secrets from, whatever the config says.
FIXED_SECRET_VARS = (PASSWORD_ENV, SF_PASSWORD_ENV)
# Profile keys that name the variable holding a secret (IMAP password, Salesforce password,
# XOAUTH2 access token, Microsoft app secret). Any other ``*_env`` key is treated alike.
SECRET_ENV_KEYS = ("password_env", "sf_password_env", "oauth_token_env", "client_secret_env")


def secret_env_vars(profiles: Iterable[Mapping[str, Any]]) -> frozenset[str]:
    """Every variable the tool or one of ``profiles`` reads a secret from."""
    names = set(FIXED_SECRET_VARS)
    for profile in profiles:
        for key, value in profile.items():
            if (key in SECRET_ENV_KEYS or key.endswith("_env")) and isinstance(value, str):
                names.add(value)
    return frozenset(names)


def child_env(
    secret_vars: Collection[str], finding: Finding, extra: Mapping[str, str] | None = None
) -> dict[str, str]:
    """The ``--exec`` child's environment: ours minus ``secret_vars``, plus the finding."""
    env = {k: v for k, v in os.environ.items() if k not in secret_vars}
    env.update(extra or {})  # e.g. INBOX_FINDER_TOKEN_VALID from scan --verify
    env["INBOX_FINDER_TOKEN"] = finding.token
    env["INBOX_FINDER_USERNAME"] = finding.username or ""
    env["INBOX_FINDER_RECEIVED"] = finding.received.isoformat()
    return env


@dataclass(frozen=True)
class EnvTarget:
    """A ``FILE:KEY`` dotenv target."""

    path: Path
    key: str

    @classmethod
    def parse(cls, spec: str) -> EnvTarget:
        """Parse ``FILE:KEY`` (the last colon splits, so paths may contain colons)."""
        file, sep, key = spec.rpartition(":")
        if not sep or not file or not _KEY.match(key):
            raise ConfigError(f"--write-env needs FILE:KEY with KEY like SF_TOKEN, got {spec!r}")
        return cls(Path(file).expanduser(), key)


def run_exec(
    command: str,
    finding: Finding,
    timeout: float = EXEC_TIMEOUT,
    extra_env: Mapping[str, str] | None = None,
    secret_vars: Collection[str] = FIXED_SECRET_VARS,
) -> None:
    """Run ``command`` through the shell with the token in its environment and JSON on stdin."""
    env = child_env(secret_vars, finding, extra_env)
    try:
        proc = subprocess.Popen(  # noqa: S602 - the user's own command line, as cron would run it
            command,
            shell=True,
            stdin=subprocess.PIPE,
            text=True,
            env=env,
            **own_group_kwargs(),  # own process group: a timeout can kill all of it
        )
    except OSError as exc:
        raise ActionError(f"--exec command could not start: {exc.strerror}") from exc
    try:
        proc.communicate(finding.to_json() + "\n", timeout=timeout)
    except subprocess.TimeoutExpired:
        stop_group(proc, KILL_GRACE)
        raise ActionError(
            f"--exec command timed out after {timeout:g}s (see --exec-timeout); "
            "its process group was killed"
        ) from None
    except BaseException:
        stop_group(proc, KILL_GRACE)
        raise
    if proc.returncode != 0:
        raise ActionError(f"--exec command exited with status {proc.returncode}")


def write_env(target: EnvTarget, finding: Finding) -> None:
    """Set ``KEY=token`` in a dotenv file atomically, keeping every other line.

    A new file is 0600; an existing one keeps owner, group and mode; a symlink is written
    through; a missing directory is an error.
    """
    try:
        lines = target.path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        lines = []
    except (OSError, UnicodeDecodeError) as exc:
        raise ActionError(f"cannot read {target.path}: {exc}") from exc
    entry = f"{target.key}={finding.token}"
    pattern = re.compile(rf"^\s*(?:export\s+)?{re.escape(target.key)}\s*=")
    replaced = False
    for i, line in enumerate(lines):
        if pattern.match(line):
            prefix = "export " if line.lstrip().startswith("export ") else ""
            lines[i] = prefix + entry
            replaced = True
    if not replaced:
        lines.append(entry)
    try:
        write_private(target.path, "\n".join(lines) + "\n", create_dirs=False)
    except OSError as exc:
        raise ActionError(
            f"cannot write {target.path}: {exc.strerror or exc}; left unchanged"
        ) from exc

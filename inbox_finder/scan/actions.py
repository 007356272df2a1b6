"""Scan actions: run a command, update a dotenv file. Secrets go by env/stdin, never argv."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from inbox_finder.errors import ActionError, ConfigError
from inbox_finder.fileutil import write_private
from inbox_finder.model import Finding

EXEC_TIMEOUT = 300.0
_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


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
) -> None:
    """Run ``command`` through /bin/sh with the token in its environment and JSON on stdin."""
    env = {
        **os.environ,
        **(extra_env or {}),  # e.g. INBOX_FINDER_TOKEN_VALID from scan --verify
        "INBOX_FINDER_TOKEN": finding.token,
        "INBOX_FINDER_USERNAME": finding.username or "",
        "INBOX_FINDER_RECEIVED": finding.received.isoformat(),
    }
    env.pop("INBOX_FINDER_PASSWORD", None)  # the mailbox password is none of its business
    try:
        done = subprocess.run(  # noqa: S602 - the user's own command line, as cron would run it
            command,
            shell=True,
            input=finding.to_json() + "\n",
            text=True,
            env=env,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ActionError(f"--exec command timed out after {timeout:.0f}s") from exc
    except OSError as exc:
        raise ActionError(f"--exec command could not start: {exc.strerror}") from exc
    if done.returncode != 0:
        raise ActionError(f"--exec command exited with status {done.returncode}")


def write_env(target: EnvTarget, finding: Finding) -> None:
    """Set ``KEY=token`` in a dotenv file atomically (0600), keeping every other line."""
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
        write_private(target.path, "\n".join(lines) + "\n")
    except OSError as exc:
        raise ActionError(f"cannot write {target.path}: {exc.strerror}") from exc

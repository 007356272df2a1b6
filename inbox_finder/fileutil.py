"""Small file helpers: atomic, private (0600) writes for credentials, caches and state."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path

PRIVATE_MODE = 0o600


def write_private(path: str | os.PathLike[str], data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically (temp file + rename), created with mode 0600."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    import tempfile  # lazy: start-up of read-only commands

    # mkstemp creates the file 0600 from the start: the secret is never readable by others.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, PRIVATE_MODE)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def require_private(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a secret-holding file that other users can read (like ssh does for its keys)."""
    try:
        shared = is_group_or_world_readable(path)
    except FileNotFoundError:
        return  # the caller reports a missing file in its own words
    if shared:
        from inbox_finder.errors import ConfigError

        raise ConfigError(
            f"{what} {path} is readable by other users; refusing to use it (run: chmod 600 {path})"
        )


def is_group_or_world_readable(path: str | os.PathLike[str]) -> bool:
    """True when a credential file could be read by users other than its owner."""
    mode = Path(path).stat().st_mode
    return bool(mode & (stat.S_IRWXG | stat.S_IRWXO))

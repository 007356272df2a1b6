"""Small file helpers: atomic writes that keep what a file is (owner, mode, symlinks).

``write_private`` replaces a file's content atomically (temp file in the target's directory,
then rename over the target). A new file is created 0600; an existing file keeps its owner,
group and mode; a symlink is written through to its target, never replaced by a regular file.
When that cannot be done (an owner the process may not give away, a file with several hard
links, a directory it may not create files in), it refuses with ``UnsafeWriteError`` and leaves
the file as it was. Owner and mode are POSIX notions: on Windows the replacement inherits the
folder's ACL (see ``oscompat``).
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from pathlib import Path

from inbox_finder.oscompat import O_DIRECTORY, POSIX

PRIVATE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700


class UnsafeWriteError(OSError):
    """A file cannot be replaced without changing what it is; nothing was written."""

    def __init__(self, message: str, code: int = errno.EPERM) -> None:
        super().__init__(code, message)
        self.message = message

    def __str__(self) -> str:
        return self.message


def real_target(path: str | os.PathLike[str]) -> Path:
    """The file a write to ``path`` must change: every symlink followed (dangling ones too)."""
    return Path(os.path.realpath(Path(path).expanduser()))


def make_private_dirs(directory: Path) -> None:
    """Create ``directory`` and missing parents, each 0700 whatever the umask."""
    missing: list[Path] = []
    current = directory
    while not current.exists():
        missing.append(current)
        current = current.parent
    for folder in reversed(missing):
        with contextlib.suppress(FileExistsError):
            folder.mkdir(mode=PRIVATE_DIR_MODE)
            os.chmod(folder, PRIVATE_DIR_MODE)  # mkdir's mode is masked by the umask


def check_writable(path: str | os.PathLike[str], *, create_dirs: bool = False) -> Path:
    """The real target of a write to ``path``; UnsafeWriteError when it cannot be done safely."""
    target = real_target(path)
    parent = target.parent
    if not parent.is_dir():
        if not create_dirs:
            raise UnsafeWriteError(f"directory {parent} does not exist", errno.ENOENT)
        make_private_dirs(parent)
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        st = None
    if st is not None:
        if stat.S_ISLNK(st.st_mode):
            raise UnsafeWriteError(f"{path} is a symlink loop", errno.ELOOP)
        if not stat.S_ISREG(st.st_mode):
            raise UnsafeWriteError(f"{target} is not a regular file", errno.EINVAL)
        if st.st_nlink > 1:
            raise UnsafeWriteError(
                f"{target} has {st.st_nlink} hard links; replacing it would split them"
            )
        if not _can_own(st):
            raise UnsafeWriteError(
                f"{target} belongs to uid {st.st_uid} gid {st.st_gid}; a replacement could not "
                "keep that owner"
            )
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UnsafeWriteError(
            f"cannot create a file in {parent} (permission denied), so {target.name} cannot be "
            "replaced atomically",
            errno.EACCES,
        )
    return target


def _can_own(st: os.stat_result) -> bool:
    """Whether a new file can be given ``st``'s owner and group (chown rules of Linux)."""
    if not POSIX or os.geteuid() == 0:
        return True
    return st.st_uid == os.geteuid() and (st.st_gid == os.getegid() or st.st_gid in os.getgroups())


def write_private(
    path: str | os.PathLike[str], data: bytes | str, *, create_dirs: bool = True
) -> Path:
    """Replace the file at ``path`` with ``data`` atomically; return the file actually written.

    New files are 0600; an existing file keeps owner, group and mode; symlinks are written
    through. ``create_dirs`` creates a missing directory (0700 each) instead of refusing.
    """
    target = check_writable(path, create_dirs=create_dirs)
    raw = data.encode("utf-8") if isinstance(data, str) else data
    try:
        old: os.stat_result | None = os.stat(target)
    except FileNotFoundError:
        old = None
    import tempfile  # lazy: start-up of read-only commands

    # mkstemp creates the file 0600 from the start: the secret is never readable by others.
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(raw)
            fh.flush()
            if POSIX and old is not None:
                # Owner first: chown may clear set-id bits that the chmod below puts back.
                _give_owner(fh.fileno(), target, old)
                os.fchmod(fh.fileno(), stat.S_IMODE(old.st_mode))
            elif POSIX:
                os.fchmod(fh.fileno(), PRIVATE_MODE)
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    _sync_dir(target.parent)
    return target


def _give_owner(fd: int, target: Path, old: os.stat_result) -> None:
    try:
        os.fchown(fd, old.st_uid, old.st_gid)
    except PermissionError as exc:  # e.g. root without CAP_CHOWN in a container
        raise UnsafeWriteError(
            f"{target} belongs to uid {old.st_uid} gid {old.st_gid}; a replacement could not "
            f"keep that owner ({exc.strerror})"
        ) from exc


def _sync_dir(directory: Path) -> None:
    """Make the rename durable (a crash right after must not bring back the old file)."""
    if not POSIX:
        return  # Windows cannot open a directory; NTFS journals the rename itself
    try:
        fd = os.open(directory, os.O_RDONLY | O_DIRECTORY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def require_private(path: str | os.PathLike[str], what: str) -> None:
    """Refuse a secret-holding file that other users can read (like ssh does for its keys).

    POSIX only: Windows reports no meaningful mode bits; there the profile's ACL protects it.
    """
    if not POSIX:
        return
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

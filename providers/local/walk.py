"""Walking local mail trees safely: folder discovery, regular files only, files that move.

Every local provider lists directories with ``os.scandir`` and opens files through
``open_regular``, so a lookup never hangs and never reads outside the tree:

* only regular files are read; a FIFO, socket, device or directory entry is skipped without
  being opened (``open_regular`` also opens with ``O_NONBLOCK`` and checks ``fstat`` after
  opening, so an entry swapped for a FIFO between listing and opening cannot block);
* a symlink is followed only to a regular file inside the tree; a dangling one or one that
  points out of the tree is skipped;
* a file that vanishes between listing and reading is skipped (Maildir: looked for under its
  other name first, since a mail client moves ``new/NAME`` to ``cur/NAME:2,FLAGS``).

Maildir folders: the directory itself (``INBOX``), Maildir++ subfolders (``.Name``,
``.Parent.Child``, names in modified UTF-7 as Dovecot and Courier write them) and nested
fs-layout folders (``Parent/Child/{cur,new,tmp}``), recursively.
"""

from __future__ import annotations

import base64
import errno
import os
import stat
from collections.abc import Iterator
from pathlib import Path

from inbox_finder.errors import MailboxError
from inbox_finder.mail.headers import HEADER_END, MAX_HEADER_BYTES, header_block
from inbox_finder.oscompat import O_BINARY, O_CLOEXEC, O_NONBLOCK

HEAD_READ = 16384  # enough for nearly every header block; longer ones are read again
MAX_DEPTH = 16  # nested folder levels walked below the root
MAILDIR_SUBS = ("new", "cur")
_OPEN_FLAGS = os.O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_BINARY


def decode_mutf7(name: str) -> str:
    """A folder name in IMAP's modified UTF-7 (RFC 3501 5.1.3) as text; ``name`` if it is not."""
    out: list[str] = []
    i = 0
    while i < len(name):
        if name[i] != "&":
            out.append(name[i])
            i += 1
            continue
        end = name.find("-", i)
        if end < 0:
            return name
        chunk = name[i + 1 : end]
        if not chunk:
            out.append("&")
        else:
            b64 = chunk.replace(",", "/")
            try:
                out.append(base64.b64decode(b64 + "=" * (-len(b64) % 4)).decode("utf-16-be"))
            except (ValueError, UnicodeDecodeError):
                return name
        i = end + 1
    return "".join(out)


class Tree:
    """The root of a local mail tree: what may be read, and how."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._real = os.path.realpath(root)

    def inside(self, path: str) -> bool:
        """True when ``path`` (resolved) lies within the tree."""
        real = os.path.realpath(path)
        return real == self._real or real.startswith(self._real.rstrip(os.sep) + os.sep)

    def readable(self, entry: os.DirEntry[str]) -> bool:
        """A regular file, or a symlink to a regular file inside the tree; nothing is opened."""
        try:
            if entry.is_symlink():
                return self.inside(entry.path) and entry.is_file(follow_symlinks=True)
            return entry.is_file(follow_symlinks=False)
        except OSError:
            return False  # vanished, or a loop

    def walkable(self, entry: os.DirEntry[str]) -> bool:
        """A directory (a symlinked one only if it stays inside the tree)."""
        try:
            if entry.is_symlink():
                return self.inside(entry.path) and entry.is_dir(follow_symlinks=True)
            return entry.is_dir(follow_symlinks=False)
        except OSError:
            return False

    def files(self, directory: Path) -> Iterator[os.DirEntry[str]]:
        """Readable, non-hidden files of ``directory`` (nothing if it is gone)."""
        for entry in _scan(directory):
            if not entry.name.startswith(".") and self.readable(entry):
                yield entry

    def subdirs(self, directory: Path) -> Iterator[os.DirEntry[str]]:
        """Walkable subdirectories of ``directory``, hidden ones included, sorted by name."""
        return iter(sorted((e for e in _scan(directory) if self.walkable(e)), key=_name))

    def open(self, path: Path) -> int | None:
        """A read-only descriptor of ``path`` if it is (still) a regular file in the tree."""
        if os.path.islink(path) and not self.inside(str(path)):
            return None
        return open_regular(path)

    def read_head(self, path: Path) -> bytes | None:
        """The header block of ``path``; None when it is gone or not a regular file."""
        fd = self.open(path)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as fh:
            try:
                data = fh.read(HEAD_READ)
                if HEADER_END.search(data) is None and len(data) == HEAD_READ:
                    data += fh.read(MAX_HEADER_BYTES - HEAD_READ)
            except OSError as exc:
                raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc
        return header_block(data)

    def read_all(self, path: Path) -> bytes | None:
        """The whole file; None when it is gone or not a regular file."""
        fd = self.open(path)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as fh:
            try:
                return fh.read()
            except OSError as exc:
                raise MailboxError(f"cannot read {path}: {exc.strerror}") from exc


def _name(entry: os.DirEntry[str]) -> str:
    return entry.name


def _scan(directory: Path) -> list[os.DirEntry[str]]:
    try:
        with os.scandir(directory) as it:
            return list(it)
    except (FileNotFoundError, NotADirectoryError):
        return []  # removed meanwhile: nothing left to read there
    except OSError as exc:
        raise MailboxError(f"cannot list {directory}: {exc.strerror}") from exc


def open_regular(path: Path) -> int | None:
    """Open ``path`` read-only without blocking; None unless it is a regular file."""
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except FileNotFoundError:
        return None
    except OSError as exc:
        if exc.errno in (errno.ELOOP, errno.ENXIO, errno.ENOTDIR, errno.EISDIR):
            return None  # a symlink loop, a socket, a path that is no longer what it was
        raise MailboxError(f"cannot open {path}: {exc.strerror}") from exc
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            return None
        os.set_blocking(fd, True)
    except OSError:
        os.close(fd)
        raise
    return fd


def is_maildir(path: Path) -> bool:
    """True when ``path`` has a ``cur/`` or ``new/`` directory."""
    return any((path / sub).is_dir() for sub in MAILDIR_SUBS)


def maildir_folders(tree: Tree) -> list[tuple[str, Path, tuple[str, ...]]]:
    """(name, directory, other spellings) of every Maildir folder under the tree's root.

    The root itself is ``INBOX``; ``.A.B`` is ``A/B``; a nested ``A/B/cur`` is ``A/B``.
    """
    found: list[tuple[str, Path, tuple[str, ...]]] = []
    root = tree.root
    if is_maildir(root):
        found.append(("INBOX", root, ()))
    for entry in tree.subdirs(root):
        if entry.name.startswith(".") and entry.name not in (".", ".."):
            parts = [decode_mutf7(p) for p in entry.name[1:].split(".")]
            if all(parts) and is_maildir(Path(entry.path)):
                name = "/".join(parts)
                found.append((name, Path(entry.path), (".".join(parts), entry.name[1:])))
    found.extend(_nested(tree, root, (), set()))
    return found


def _nested(
    tree: Tree, directory: Path, prefix: tuple[str, ...], seen: set[tuple[int, int]]
) -> Iterator[tuple[str, Path, tuple[str, ...]]]:
    """fs-layout folders below ``directory`` (hidden and cur/new/tmp directories excluded)."""
    if len(prefix) >= MAX_DEPTH:
        return
    for entry in tree.subdirs(directory):
        if entry.name.startswith(".") or entry.name in ("cur", "new", "tmp"):
            continue
        try:
            st = entry.stat()
        except OSError:
            continue
        if (st.st_dev, st.st_ino) in seen:
            continue  # a symlink back into the tree
        seen.add((st.st_dev, st.st_ino))
        path = Path(entry.path)
        parts = (*prefix, decode_mutf7(entry.name))
        if is_maildir(path):
            yield "/".join(parts), path, ()
        yield from _nested(tree, path, parts, seen)


def moved_maildir_file(folder: Path, sub: str, name: str) -> Path | None:
    """Where a Maildir file listed as ``sub/name`` is now (moved new/ -> cur/, flags changed)."""
    unique = name.split(":", 1)[0].split("!", 1)[0]
    for other in (sub, *(s for s in MAILDIR_SUBS if s != sub)):
        for entry in _scan(folder / other):
            if entry.name == unique or entry.name.startswith((unique + ":", unique + "!")):
                return Path(entry.path)
    return None

"""Finding the mail stores desktop clients keep on disk, without parsing a message.

A provider package that can find its own stores exposes a *discoverer*: a function taking the
``Places`` to look in (home, environment, platform) and yielding ``Store`` records. The
discoverers are listed in ``DISCOVERERS`` (``module:function``) and imported only when
discovery runs, so ``inbox-finder find imaps://…`` never pays for them.

Discoverers must be cheap and safe: they stat and list directories and read small client
configuration files (``profiles.ini``, ``prefs.js``), never parse a message, never follow a
symlink out of the store, and never open a FIFO or device. An unreadable entry is skipped.
The helpers below (``entries``, ``walk_files``, ``read_small``, ``shape``) do the listing and
reading that way, so every discoverer shares one safe walk.
"""

from __future__ import annotations

import errno
import importlib
import logging
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from inbox_finder.oscompat import O_BINARY, O_CLOEXEC, O_NONBLOCK

log = logging.getLogger(__name__)

SizeUnit = Literal["messages", "bytes"]


@dataclass(frozen=True)
class Places:
    """Where to look: the user's home, the environment and the platform (``sys.platform``)."""

    home: Path
    env: Mapping[str, str] = field(default_factory=dict)
    platform: str = sys.platform

    @classmethod
    def current(cls) -> Places:
        """The running user's places (HOME from the environment, as a user would expect)."""
        env = dict(os.environ)
        home = env.get("HOME") or env.get("USERPROFILE") or str(Path.home())
        return cls(home=Path(home), env=env, platform=sys.platform)


@dataclass(frozen=True)
class Store:
    """One discovered mail store: the URL to search it, which client keeps it, and its size."""

    url: str
    client: str
    path: Path
    size: int | None = None
    size_unit: SizeUnit = "bytes"

    def as_json(self) -> dict[str, object]:
        """The ``sources --json`` object for this store."""
        return {
            "url": self.url,
            "client": self.client,
            "path": str(self.path),
            "size": self.size,
            "size_unit": self.size_unit,
        }


Discoverer = Callable[[Places], Iterable[Store]]

# ``module:function`` of every built-in discoverer, in the order their stores are listed.
DISCOVERERS: tuple[str, ...] = (
    "inbox_finder.providers.thunderbird.discover:thunderbird_stores",
    "inbox_finder.providers.local.discover:evolution_stores",
    "inbox_finder.providers.local.discover:mutt_stores",
    "inbox_finder.providers.applemail.discover:discover_applemail",
    "inbox_finder.providers.mh.discover:discover_mh",
    "inbox_finder.providers.msg.discover:discover_msg",
    "inbox_finder.providers.evolution.discover:discover_evolution_cache",
)


def _load(target: str) -> Discoverer:
    module, _, name = target.partition(":")
    fn: Discoverer = getattr(importlib.import_module(module), name)
    return fn


def discover(places: Places | None = None, discoverers: Iterable[str] = DISCOVERERS) -> list[Store]:
    """Every store the discoverers find under ``places``, each (scheme, path) listed once."""
    where = places or Places.current()
    seen: set[tuple[str, str]] = set()
    stores: list[Store] = []
    for target in discoverers:
        for store in _safe(target, where):
            # The same directory may be two stores of different kinds (a Maildir tree with MH
            # folders beside it), but one kind found twice ($MAIL and ~/Maildir) is listed once.
            scheme = store.url.partition(":")[0].lower()
            key = (scheme, os.path.normcase(os.path.realpath(store.path)))
            if key not in seen:
                seen.add(key)
                stores.append(store)
    return stores


def _safe(target: str, places: Places) -> Iterator[Store]:
    # One broken client directory (permissions, a vanished file) must not hide the others.
    try:
        yield from _load(target)(places)
    except (OSError, ValueError) as exc:  # ValueError: e.g. undecodable client settings
        log.debug("discovery %s skipped: %s", target, exc)


# --- the shared safe walk -----------------------------------------------------------------

FileKind = Literal["dir", "file"]
_OPEN_FLAGS = os.O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_BINARY
SMALL_FILE = 4 << 20  # client configuration files (prefs.js) are well below this
MAX_WALK_DEPTH = 16  # nested folder levels walked below a store's root


@dataclass(frozen=True)
class Entry:
    """One directory entry that is safe to use: a directory or a regular file in the root."""

    name: str
    path: Path
    kind: FileKind
    size: int


def inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """True when ``path``, symlinks resolved, lies within ``root`` (resolved)."""
    real, base = os.path.realpath(path), os.path.realpath(root)
    return real == base or real.startswith(base.rstrip(os.sep) + os.sep)


def entries(directory: Path, root: Path | None = None) -> list[Entry]:
    """The directories and regular files of ``directory``, sorted by name; nothing is opened.

    A symlink counts only when it resolves inside ``root`` (default: ``directory``); FIFOs,
    sockets, devices, dangling links and unreadable entries are left out.
    """
    base = directory if root is None else root
    try:
        with os.scandir(directory) as it:
            listed = list(it)
    except OSError:
        return []
    found: list[Entry] = []
    for item in listed:
        try:
            if item.is_symlink() and not inside(item.path, base):
                continue
            st = item.stat(follow_symlinks=True)
        except OSError:
            continue  # vanished, a loop, no permission
        if stat.S_ISDIR(st.st_mode):
            found.append(Entry(item.name, Path(item.path), "dir", 0))
        elif stat.S_ISREG(st.st_mode):
            found.append(Entry(item.name, Path(item.path), "file", st.st_size))
    return sorted(found, key=lambda e: e.name)


def walk_files(root: Path, max_depth: int = MAX_WALK_DEPTH) -> Iterator[tuple[Path, Entry]]:
    """(directory, file entry) of every regular file below ``root``, hidden ones included.

    Symlinked directories are walked only when they stay inside ``root``, each directory once.
    """
    seen: set[str] = set()
    todo: list[tuple[Path, int]] = [(root, 0)]
    while todo:
        directory, depth = todo.pop()
        real = os.path.realpath(directory)
        if real in seen:
            continue
        seen.add(real)
        for entry in entries(directory, root):
            if entry.kind == "file":
                yield directory, entry
            elif depth + 1 < max_depth:
                todo.append((entry.path, depth + 1))


def read_small(path: Path, root: Path | None = None, limit: int = SMALL_FILE) -> bytes | None:
    """At most ``limit`` bytes of a regular file; None for anything else or on any error.

    Opened without blocking and checked after opening, so a FIFO or device (or one swapped in
    after a listing) is never read; a symlink out of ``root`` (when given) is not followed.
    """
    if root is not None and not inside(path, root):
        return None
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        if exc.errno not in (errno.ENOENT, errno.ENXIO, errno.ELOOP, errno.EISDIR):
            log.debug("cannot open %s: %s", path, exc.strerror)
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        os.set_blocking(fd, True)
        with os.fdopen(os.dup(fd), "rb") as fh:
            return fh.read(limit)
    except OSError:
        return None
    finally:
        os.close(fd)


def is_mbox_file(path: Path, root: Path | None = None) -> bool:
    """A regular file starting with an mbox ``From `` line (five bytes are read)."""
    return read_small(path, root, 5) == b"From "


MH_SAMPLE = 3  # numbered files looked at to tell MH messages from mbox files named 2024


def shape(directory: Path, root: Path | None = None) -> frozenset[str]:
    """What kinds of mail folder ``directory`` and its direct subdirectories hold.

    ``maildir`` (a ``cur/`` or ``new/``), ``mh`` (numbered message files or ``.mh_sequences``, no
    ``cur/``/``new/``), ``mbox`` (a file starting with ``From ``). Lets discoverers of different
    clients claim only the stores of their own kind under a shared root such as ``~/Mail``.
    """
    base = directory if root is None else root
    kinds: set[str] = set()
    for folder in (directory, *(e.path for e in entries(directory, base) if e.kind == "dir")):
        listed = entries(folder, base)
        dirs = {e.name for e in listed if e.kind == "dir"}
        files = [e for e in listed if e.kind == "file"]
        if dirs & {"cur", "new"}:
            kinds.add("maildir")
            continue
        # MH keeps one message per file named by its number (and often .mh_sequences); a
        # numbered file that starts with a From_ line is an mbox (an archive named 2024).
        sample = [e for e in files if e.name.isdigit()][:MH_SAMPLE]
        numbered_mbox = sum(is_mbox_file(e.path, base) for e in sample)
        if any(e.name == ".mh_sequences" for e in files) or numbered_mbox < len(sample):
            kinds.add("mh")
        others = (e for e in files if not e.name.isdigit())
        if numbered_mbox or any(is_mbox_file(e.path, base) for e in others):
            kinds.add("mbox")
    return frozenset(kinds)


def data_home(places: Places) -> Path:
    """``$XDG_DATA_HOME``, else ``~/.local/share``."""
    value = places.env.get("XDG_DATA_HOME")
    return Path(value) if value and os.path.isabs(value) else places.home / ".local" / "share"


def cache_home(places: Places) -> Path:
    """``$XDG_CACHE_HOME``, else ``~/.cache``."""
    value = places.env.get("XDG_CACHE_HOME")
    return Path(value) if value and os.path.isabs(value) else places.home / ".cache"

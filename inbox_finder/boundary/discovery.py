"""Finding the mail stores desktop clients keep on disk, without parsing a message.

A provider package that can find its own stores exposes a *discoverer*: a function taking the
``Places`` to look in (home, environment, platform) and yielding ``Store`` records. The
discoverers are listed in ``DISCOVERERS`` (``module:function``) and imported only when
discovery runs, so ``inbox-finder find imaps://…`` never pays for them.

Discoverers must be cheap and safe: they stat and list directories and read small client
configuration files (``profiles.ini``, ``prefs.js``), never parse a message, never follow a
symlink out of the store, and never open a FIFO or device. An unreadable entry is skipped.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

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
    "inbox_finder.providers.applemail.discover:discover_applemail",
    "inbox_finder.providers.mh.discover:discover_mh",
    "inbox_finder.providers.msg.discover:discover_msg",
)


def _load(target: str) -> Discoverer:
    module, _, name = target.partition(":")
    fn: Discoverer = getattr(importlib.import_module(module), name)
    return fn


def discover(places: Places | None = None, discoverers: Iterable[str] = DISCOVERERS) -> list[Store]:
    """Every store the discoverers find under ``places``, each path listed once."""
    where = places or Places.current()
    seen: set[str] = set()
    stores: list[Store] = []
    for target in discoverers:
        for store in _safe(target, where):
            key = os.path.normcase(str(store.path))
            if key not in seen:
                seen.add(key)
                stores.append(store)
    return stores


def _safe(target: str, places: Places) -> Iterator[Store]:
    # One broken client directory (permissions, a vanished file) must not hide the others.
    try:
        yield from _load(target)(places)
    except OSError as exc:
        log.debug("discovery %s skipped: %s", target, exc)

"""Which sources a run searches: groups and ``local:`` expanded, shards, and their labels.

A command line names sources as URLs, ``[mailbox.NAME]`` profiles, ``[group.NAME]`` groups or
``local:`` (every local store discovery finds); ``expand_sources`` turns them into the list a
run searches, each once, in the order given. ``--shard K/N`` splits such a list between N
workers by a hash of each name, so the split is the same on every machine and every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from inbox_finder.boundary.provider import Provider, is_local_source
from inbox_finder.errors import ConfigError

if TYPE_CHECKING:
    from inbox_finder.boundary.discovery import Places
    from inbox_finder.config import Config


def local_sources(places: Places | None = None) -> list[str]:
    """The URLs of every discovered local mail store; ConfigError when there is none."""
    from inbox_finder.boundary.discovery import Places, discover  # lazy: only for local:

    where = places or Places.current()
    stores = discover(where)
    if not stores:
        raise ConfigError(f"no local mail store found under {where.home}; give a SOURCE")
    return [store.url for store in stores]


def expand_sources(
    sources: Sequence[str], config: Config, *, all_profiles: bool = False
) -> list[str]:
    """URLs, profile names and ``[group.NAME]`` names -> sources, each once, in given order.

    ``local:`` stands for every discovered local store (``local_sources``);
    ``all_profiles`` appends every ``[mailbox.*]`` profile (sorted by name).
    """
    expanded: dict[str, None] = {}
    for source in (*sources, *(sorted(config.profiles) if all_profiles else ())):
        if is_local_source(source):
            members: Sequence[str] | None = local_sources()
        else:
            members = config.groups.get(source) if ":" not in source else None
        for member in members or (source,):
            expanded.setdefault(member, None)
    return list(expanded)


def source_label(source: str | Provider) -> str:
    """How messages name a source: the profile name, or the URL with any password masked."""
    if isinstance(source, Provider):
        return source.source
    if ":" not in source:
        return source
    from inbox_finder.config_check import display_url

    return display_url(source)


def shard_of(source: str, count: int) -> int:
    """The shard (0..count-1) a source belongs to: sha256 of its profile name or URL."""
    import hashlib  # lazy: only --shard needs it (start-up of every find)

    digest = hashlib.sha256(source.encode("utf-8")).digest()
    return int.from_bytes(digest, "big") % count


def parse_shard(text: str) -> tuple[int, int]:
    """``K/N`` with 0 <= K < N -> (K, N); ConfigError otherwise."""
    index, slash, count = text.strip().partition("/")
    if not (slash and index.isdigit() and count.isdigit()) or not 0 <= int(index) < int(count):
        raise ConfigError(f"--shard must be K/N with 0 <= K < N (e.g. 0/3), not {text!r}")
    return int(index), int(count)


def in_shard(sources: Sequence[str], shard: tuple[int, int] | None) -> list[str]:
    """The sources of shard ``(K, N)``: N workers split a list with no overlap and no gap."""
    if shard is None:
        return list(sources)
    index, count = shard
    return [source for source in sources if shard_of(source, count) == index]

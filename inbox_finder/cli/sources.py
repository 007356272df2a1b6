"""``sources``: list the mail stores desktop clients keep under the user's home."""

from __future__ import annotations

import json
from collections.abc import Sequence

import click

from inbox_finder.boundary.discovery import Places, Store, discover


def size_text(store: Store) -> str:
    """The store's cheap size for people: ``12 messages``, ``3.4 MB``, ``?`` when unknown."""
    if store.size is None:
        return "?"
    if store.size_unit == "messages":
        return f"{store.size} message{'s' * (store.size != 1)}"
    if store.size < 1000:
        return f"{store.size} bytes"
    size, units = store.size / 1000, ["kB", "MB", "GB", "TB"]
    while size >= 1000 and len(units) > 1:
        size, units = size / 1000, units[1:]
    return f"{size:.1f} {units[0]}"


def store_lines(stores: Sequence[Store]) -> list[str]:
    """One aligned line per store: URL, client, size."""
    url_width = max((len(s.url) for s in stores), default=0)
    client_width = max((len(s.client) for s in stores), default=0)
    return [
        f"{s.url:<{url_width}}  {s.client:<{client_width}}  {size_text(s)}".rstrip() for s in stores
    ]


@click.command("sources")
@click.option("--json", "json_out", is_flag=True, help="Print a JSON array of the stores.")
def sources_cmd(json_out: bool) -> int | None:
    """List the local mail stores `find` with no SOURCE (or `find local:`) searches.

    Thunderbird profiles, Evolution and mutt/neomutt mail (and the other clients listed in
    the README) under $HOME, with a cheap size; nothing is parsed or changed. Exit 1 when
    there is none.
    """
    places = Places.current()
    stores = discover(places)
    if json_out:
        click.echo(json.dumps([s.as_json() for s in stores], ensure_ascii=False, indent=2))
    else:
        for line in store_lines(stores):
            click.echo(line)
    if not stores:
        click.echo(f"inbox-finder: no local mail store found under {places.home}", err=True)
        return 1
    return None

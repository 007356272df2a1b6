"""Finding Apple Mail's store: ``~/Library/Mail/V<n>``, the newest version folder, on macOS.

Only on ``darwin`` (elsewhere ``applemail:DIR`` still searches a copied store). The count
is of ``.emlx`` files, from directory listings alone: no message is opened.
"""

from __future__ import annotations

from collections.abc import Iterator

from inbox_finder.boundary.discovery import Places, Store

CLIENT = "Apple Mail"


def discover_applemail(places: Places) -> Iterator[Store]:
    """The Apple Mail store of ``places`` (macOS only): its newest ``V<n>`` folder."""
    if places.platform != "darwin":
        return
    from ..local.walk import Tree  # lazy: only when discovering
    from .store import mailboxes, message_files, newest_version

    root = places.home / "Library" / "Mail"
    if root.is_symlink() or not root.is_dir():
        return
    version = newest_version(root)
    if version == root or version.is_symlink():
        return  # no V<n> folder: not a store Mail writes
    tree = Tree(version)
    boxes = mailboxes(tree)
    if boxes:
        count = sum(len(message_files(tree, box.path)) for box in boxes)
        yield Store(f"applemail:{version}", CLIENT, version, count, "messages")

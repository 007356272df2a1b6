"""The layout of Apple Mail's store: version folders, accounts, ``.mbox`` mailboxes.

``~/Library/Mail/V10/<account>/<Name>.mbox/<UUID>/Data/<d>/<d>/Messages/<N>.emlx`` (the
``Data`` levels vary with the message count; older versions keep ``Messages/`` right in the
``.mbox``). A mailbox nested in another (``Salesforce.mbox/Tokens.mbox``) is the folder
``Salesforce/Tokens``. ``MailData`` (the Envelope Index) and ``Attachments`` are not walked.
When several accounts hold a mailbox of the same name (every account has an INBOX), each
is named ``<account>/<name>`` so that ``--folder`` can tell them apart.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from ..local.walk import MAX_DEPTH, Tree

MAILBOX_SUFFIXES = (".mbox", ".imapmbox")
SKIPPED = frozenset({"MailData", "Attachments", "Attachments.noindex"})
VERSION = re.compile(r"V([0-9]{1,4})")
MESSAGE_FILE = re.compile(r"[0-9]{1,12}(?:\.partial)?\.emlx")


@dataclass(frozen=True)
class Mailbox:
    """One ``.mbox`` folder: its name parts, its account directory and where it is."""

    parts: tuple[str, ...]
    account: str | None
    path: Path


def newest_version(root: Path) -> Path:
    """``root/V<n>`` with the highest n when ``root`` holds version folders, else ``root``."""
    best: tuple[int, Path] | None = None
    for entry in Tree(root).subdirs(root):
        m = VERSION.fullmatch(entry.name)
        if m and (best is None or int(m[1]) > best[0]):
            best = (int(m[1]), Path(entry.path))
    return best[1] if best else root


def _stem(name: str) -> str | None:
    for suffix in MAILBOX_SUFFIXES:
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[: -len(suffix)]
    return None


def mailboxes(tree: Tree) -> list[Mailbox]:
    """Every mailbox at or below the tree's root, in walk order."""
    found: list[Mailbox] = []
    root = tree.root
    stem = _stem(root.name)
    if stem is not None:
        found.append(Mailbox((stem,), None, root))
        _walk(tree, root, None, (stem,), 0, found)
    else:
        _walk(tree, root, None, (), 0, found)
    return found


def _walk(
    tree: Tree,
    directory: Path,
    account: str | None,
    parts: tuple[str, ...],
    depth: int,
    found: list[Mailbox],
) -> None:
    if depth >= MAX_DEPTH:
        return
    for entry in tree.subdirs(directory):
        if entry.name.startswith(".") or entry.name in SKIPPED:
            continue
        stem = _stem(entry.name)
        if stem is not None:
            box = Mailbox((*parts, stem), account, Path(entry.path))
            found.append(box)
            _walk(tree, box.path, account, box.parts, depth + 1, found)
        elif not parts:  # above the mailboxes: account directories
            _walk(tree, Path(entry.path), account or entry.name, parts, depth + 1, found)


def folder_names(boxes: list[Mailbox]) -> list[str]:
    """The folder name of each mailbox: its path, qualified by account where names repeat."""
    plain = ["/".join(b.parts) for b in boxes]
    repeated = {n for n, c in Counter(plain).items() if c > 1}
    return [
        f"{b.account}/{n}" if n in repeated and b.account else n
        for b, n in zip(boxes, plain, strict=True)
    ]


def message_files(tree: Tree, box: Path) -> list[Path]:
    """The ``.emlx`` files of one mailbox (not of the mailboxes nested in it)."""
    return [
        Path(e.path)
        for messages in message_dirs(tree, box)
        for e in tree.files(messages)
        if MESSAGE_FILE.fullmatch(e.name)
    ]


def message_dirs(tree: Tree, box: Path) -> list[Path]:
    """The ``Messages`` directories of one mailbox (not of the mailboxes nested in it)."""
    out: list[Path] = []
    _messages(tree, box, 0, out)
    return out


def _messages(tree: Tree, directory: Path, depth: int, out: list[Path]) -> None:
    if depth >= MAX_DEPTH:
        return
    if directory.name == "Messages":
        out.append(directory)
    for entry in tree.subdirs(directory):
        name = entry.name
        if name.startswith(".") or name in SKIPPED or _stem(name) is not None:
            continue  # a nested mailbox is a folder of its own
        _messages(tree, Path(entry.path), depth + 1, out)

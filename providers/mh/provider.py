"""``mh:DIR``: MH folders (nmh, Claws Mail, Sylpheed) read by walking their numbered files.

An MH folder is a directory whose messages are files named by number (``1``, ``2``, …), with
subfolders as subdirectories; nmh keeps sequences in ``.mh_sequences`` and Claws Mail its
caches in ``.claws_mark`` / ``.claws_cache``. The stdlib ``mailbox.MH`` class locks folders
and may rewrite ``.mh_sequences``, so it is not used: the tree is walked read-only like an
eml folder (walk.py: regular files only, no symlink out of DIR followed, no FIFO opened), and
only numbered files are messages. Files nmh's ``rmm`` renamed to ``,N`` or ``#N`` are deleted
mail and are skipped, as are the hidden state files. Receive time is the usual rule for a
file with no delivery evidence in its name (see providers/local/_base.py): Date, unless it
is later than the file's mtime (when inc or the client wrote it) + 15 minutes.
"""

from __future__ import annotations

import re

from ..local.eml import EmlDirProvider

_NUMBER = re.compile(r"[0-9]{1,10}")


class MhProvider(EmlDirProvider):
    """An MH folder tree: DIR and every subfolder below it; numbered files are messages."""

    scheme = "mh"
    kind = "MH folder"
    cursor_prefix = "mh1:"
    directory_kind = "an MH folder (a directory)"
    legacy_cursor = None  # no earlier cursor form exists

    @staticmethod
    def is_message(name: str) -> bool:
        """True for MH message files: a plain number (``,N`` and ``#N`` are deleted mail)."""
        return _NUMBER.fullmatch(name) is not None

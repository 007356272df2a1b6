"""Scan cursors of the IMAP provider: UIDVALIDITY and UIDNEXT of every searched folder.

``imap2:{"FOLDER": [UIDVALIDITY, UIDNEXT], ...}`` (JSON, keys sorted, so equal mailboxes give
equal cursors). New mail in a folder — delivered, copied or moved in — moves its UIDNEXT, so:

* an idle scan compares the cursor and stops: with LIST-STATUS (RFC 5819) that is one LIST
  round trip for every folder, else one STATUS per folder (one EXAMINE for a single folder);
* a scan after a change skips folders whose pair is unchanged and searches the others from
  their old UIDNEXT (``UID N:*``); a folder with a new UIDVALIDITY (rebuilt) or no entry yet
  (created or renamed since) is searched whole, and the scan's fingerprints keep tokens
  reported before from being reported again;
* a deleted folder simply drops out of the next cursor.

The single-folder cursor of earlier versions, ``imap:UIDVALIDITY:UIDNEXT``, is read as the
entry of the folder it described (the URL's folder, INBOX when the URL named none).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

PREFIX = "imap2:"
LEGACY_PREFIX = "imap:"

Pair = tuple[int, int]  # (UIDVALIDITY, UIDNEXT)


def make_cursor(pairs: Mapping[str, Pair | None]) -> str | None:
    """The cursor for these folders; None when one of them gave no UIDVALIDITY/UIDNEXT."""
    if any(pair is None for pair in pairs.values()):
        return None
    data = {name: list(pair) for name, pair in pairs.items() if pair is not None}
    return PREFIX + json.dumps(data, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def parse_cursor(cursor: str | None, legacy_folder: str) -> dict[str, Pair] | None:
    """Folder -> (UIDVALIDITY, UIDNEXT) from one of our cursors; None for anything else."""
    if not cursor:
        return None
    if cursor.startswith(PREFIX):
        try:
            data = json.loads(cursor[len(PREFIX) :])
        except ValueError:
            return None
        if not isinstance(data, dict):
            return None
        out: dict[str, Pair] = {}
        for name, pair in data.items():
            if (
                isinstance(pair, list)
                and len(pair) == 2
                and all(isinstance(n, int) and not isinstance(n, bool) for n in pair)
            ):
                out[str(name)] = (pair[0], pair[1])
        return out
    parts = cursor.split(":")
    if len(parts) == 3 and cursor.startswith(LEGACY_PREFIX) and all(p.isdigit() for p in parts[1:]):
        return {legacy_folder: (int(parts[1]), int(parts[2]))}
    return None

"""Scan cursors of local folder trees: directory mtimes per folder.

Adding, removing or renaming a file changes its directory's mtime, so a folder whose
directories kept their mtimes since the last scan holds no new mail and is not read again.
The cursor maps folder names to those mtimes (JSON, keys sorted: equal trees give equal
cursors). A folder created since has no entry and is read whole; one renamed is a new name
(read whole; the scan's fingerprints keep its old tokens from being reported twice); one
deleted drops out.

Two details keep this exact. A directory changed within the last ``SETTLE`` seconds is stored
as an *unsettled* stamp, a negative number made from its entry count: a file added in the same
clock tick as our stat would leave the mtime as we saw it, but not the count. An unsettled
stamp never equals a real mtime, so such a folder is read again by the next scan, while an
unchanged one still gives the same cursor twice. And the single-folder cursors of
earlier versions (``maildir:NEW:CUR``, ``eml:MTIME``) are read as the entry of the top folder.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

SETTLE = 2.0  # seconds
UNSETTLED = -2  # unsettled stamps are UNSETTLED - entry count: never a real mtime
MISSING = -1


def mtime_ns(path: Path, *, for_cursor: bool = False) -> int:
    """A directory's mtime in ns (MISSING when it is gone; UNSETTLED when very recent)."""
    try:
        stamp = os.stat(path).st_mtime_ns
    except OSError:
        return MISSING
    if for_cursor and time.time() - stamp / 1e9 < SETTLE:
        try:
            with os.scandir(path) as entries:
                count = sum(1 for _ in entries)
        except OSError:
            return MISSING
        return UNSETTLED - count
    return stamp


def make_cursor(prefix: str, stamps: dict[str, Any]) -> str:
    """``prefix`` + the JSON of folder -> mtimes."""
    return prefix + json.dumps(stamps, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def parse_json_cursor(cursor: str | None, prefix: str) -> dict[str, Any] | None:
    """The JSON object after ``prefix`` in one of our cursors; None for anything else."""
    if not cursor or not cursor.startswith(prefix):
        return None
    try:
        data = json.loads(cursor[len(prefix) :])
    except ValueError:
        return None
    return data if isinstance(data, dict) else None


def parse_cursor(
    cursor: str | None, prefix: str, legacy: str | None, top: str
) -> dict[str, Any] | None:
    """Folder -> mtimes from one of our cursors; the earlier ``legacy:A[:B]`` form (None: the
    provider never wrote one) is the entry of folder ``top`` (``-`` meaning a missing
    directory). None for anything else."""
    if not cursor:
        return None
    if cursor.startswith(prefix):
        return parse_json_cursor(cursor, prefix)
    if legacy is not None and cursor.startswith(legacy):
        parts = cursor[len(legacy) :].split(":")
        try:
            stamps = [MISSING if p == "-" else int(p) for p in parts]
        except ValueError:
            return None
        return {top: stamps if len(stamps) > 1 else stamps[0]}
    return None

"""Cheap byte-level header tests, run before any RFC 5322 parsing.

These are *superset* narrowings: they may let through mail that the trust rule later rejects,
never the other way round, so they can drop most mail before the costly header parse without
losing a token mail. Every provider and the engine use these same functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

MAX_HEADER_BYTES = 256 * 1024
HEADER_END = re.compile(rb"\r?\n\r?\n")
# A From field: optional white space before the colon (RFC 5322 obsolete syntax, still seen),
# then the value with any folded continuation lines.
_FROM_FIELD = re.compile(rb"^from[ \t]*:[ \t]*(.*(?:\r?\n[ \t].*)*)", re.IGNORECASE | re.MULTILINE)
_FOLD = re.compile(rb"\r?\n[ \t]+")


def header_block(data: bytes) -> bytes:
    """The header block at the start of ``data`` (up to the first blank line, capped)."""
    m = HEADER_END.search(data, 0, MAX_HEADER_BYTES)
    return data[: m.end()] if m else data[:MAX_HEADER_BYTES]


def from_header_mentions(block: bytes, domains: Iterable[str]) -> bool:
    """Does any From field of ``block`` mention one of ``domains``? A byte test, no parsing.

    A superset of the trust rule (an address's domain is ASCII and appears verbatim in the
    unfolded value). No domains means no narrowing: everything matches.
    """
    wanted = [d.lower().encode() for d in domains if d]
    if not wanted:
        return True
    for m in _FROM_FIELD.finditer(block):
        value = _FOLD.sub(b" ", m.group(1)).lower()
        if any(d in value for d in wanted):
            return True
    return False

"""Make a real IMAP server look like one without some capabilities (used by fault_proxy.py).

A server announces its capabilities in three places: the greeting's ``[CAPABILITY ...]``
response code, the tagged OK of LOGIN/AUTHENTICATE (same code), and untagged ``* CAPABILITY``
responses. ``CapabilityFilter`` removes the hidden names (and their ``NAME=value`` forms, e.g.
``SORT=DISPLAY``) from those lines only; everything else passes byte for byte. It works on
whole lines: a chunk's unfinished last line waits for the next chunk (IMAP responses always
end with CRLF, so nothing waits for long). No pytest here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Only lines that start as a capability announcement: a message literal is left alone.
_ANNOUNCEMENT = re.compile(
    rb"^(?:\* CAPABILITY |\* OK \[CAPABILITY |[A-Za-z0-9.]+ OK \[CAPABILITY )", re.I
)


class CapabilityFilter:
    """Drops ``hidden`` capabilities from the server's announcements (see module doc)."""

    def __init__(self, hidden: Iterable[str]) -> None:
        self.hidden = frozenset(name.upper() for name in hidden)
        self.pending = b""
        self.removed = 0  # capability words taken out so far (tests check it did something)

    def _keep(self, word: bytes) -> bool:
        name = word.split(b"=", 1)[0].decode("ascii", "replace").upper()
        return name not in self.hidden

    def _line(self, line: bytes) -> bytes:
        match = _ANNOUNCEMENT.match(line)
        if match is None:
            return line
        head, rest = line[: match.end()], line[match.end() :]
        end = rest.find(b"]") if b"[" in head else -1
        if end < 0:
            end = len(rest.rstrip(b"\r\n"))
        caps, tail = rest[:end], rest[end:]
        words = caps.split(b" ")
        kept = [w for w in words if self._keep(w)]
        self.removed += len(words) - len(kept)
        return head + b" ".join(kept) + tail

    def feed(self, data: bytes) -> bytes:
        """The bytes to forward now: every complete line of ``data``, filtered."""
        data = self.pending + data
        cut = data.rfind(b"\n") + 1
        whole, self.pending = data[:cut], data[cut:]
        return b"".join(self._line(line) for line in whole.splitlines(keepends=True))

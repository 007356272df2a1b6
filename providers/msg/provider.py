"""``msg:DIR``: a folder tree of Outlook ``.msg`` files, read-only (the ``outlook`` extra).

Every ``*.msg`` file in DIR and its subdirectories is a message; folders are directories, as
for ``eml:DIR`` (walk.py: regular files only, no symlink out of DIR, no FIFO opened). Each
file is read once per search for its transport headers and delivery time (mapi.py), and
the candidates come newest first by ``PR_MESSAGE_DELIVERY_TIME`` (else the local-store rule
on the headers, bounded by the file's mtime).

What the engine checks is an RFC 822 message made from the file: the transport headers as
the receiving server wrote them (From, Date, Authentication-Results: the usual trust rules
apply), with the MIME structure replaced by the bodies Outlook kept (PR_BODY as text/plain,
PR_HTML as text/html, 8bit UTF-8; with neither, what rtf.py recovers from PR_RTF_COMPRESSED).
Outlook does not keep the original body bytes, so a DKIM signature cannot verify
(``--verify-dkim`` rejects every ``.msg``).

A ``.msg`` without transport headers — a draft, a mail saved before it was sent, or one
composed by any program — proves nothing about its sender: it is never a candidate (an
info line, shown with ``--verbose``, names the file and why).
"""

from __future__ import annotations

import logging
import os
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Self

from inbox_finder.boundary.folders import FolderInfo, role_from_name
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.errors import MessageVanishedError
from inbox_finder.model import Candidate, ReceivedSource

from ..local._base import FILE_TIME, Entry, receive_time
from ..local.eml import EmlDirProvider
from .mapi import MsgParts, olefile_module, read_parts

log = logging.getLogger(__name__)

BOUNDARY = "inbox-finder.msg.alternative"
# Header fields that describe the original MIME structure, which the .msg no longer holds.
_MIME_FIELDS = re.compile(
    r"^(content-[a-z-]+|mime-version)[ \t]*:.*(?:\r?\n[ \t].*)*\r?\n?", re.IGNORECASE | re.MULTILINE
)


def header_bytes(headers: str) -> bytes:
    """The transport headers as a header block: CRLF line ends, one blank line after."""
    lines = headers.replace("\r\n", "\n").replace("\r", "\n").strip("\n").split("\n")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8", "surrogateescape")


def _text(text: str) -> bytes:
    """A body as UTF-8 with CRLF line ends."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    return "\r\n".join(lines).encode("utf-8", "surrogateescape")


def _part(content_type: str, body: bytes) -> bytes:
    head = f"Content-Type: {content_type}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n"
    return head.encode() + b"\r\n" + body + (b"" if body.endswith(b"\r\n") else b"\r\n")


def to_rfc822(parts: MsgParts) -> bytes:
    """An RFC 822 message: the transport headers over the bodies Outlook kept (8bit UTF-8)."""
    headers = _MIME_FIELDS.sub("", (parts.headers or "").replace("\r\n", "\n"))
    block = header_bytes(headers)[:-2] + b"MIME-Version: 1.0\r\n"
    bodies = [("text/plain", parts.body), ("text/html", parts.html)]
    present = [(kind, _text(text)) for kind, text in bodies if text and text.strip()]
    if len(present) == 1:
        return block + _part(*present[0])
    if not present:
        return block + _part("text/plain", b"")
    boundary = BOUNDARY
    while any(boundary.encode() in body for _, body in present):
        boundary += "=_"  # a body that happens to hold the boundary: make it longer
    head = f'Content-Type: multipart/alternative; boundary="{boundary}"\r\n\r\n'.encode()
    inner = b"".join(f"--{boundary}\r\n".encode() + _part(k, b) for k, b in present)
    return block + head + inner + f"--{boundary}--\r\n".encode()


class MsgDirProvider(EmlDirProvider):
    """A folder tree of Outlook ``.msg`` files; receive time is the delivery time in each."""

    scheme = "msg"
    kind = "folder of .msg files"
    cursor_prefix = "msg1:"
    directory_kind = "a folder of .msg files"
    legacy_cursor = None  # no earlier cursor form exists

    @classmethod
    def from_url(cls, url: str, options: SourceOptions) -> Self:
        olefile_module()  # the missing extra is a usage error (exit 2) before anything else
        return super().from_url(url, options)

    @staticmethod
    def is_message(name: str) -> bool:
        """True for Outlook message files (``*.msg``)."""
        return name.lower().endswith(".msg")

    def _listed(self, folders: list[FolderInfo]) -> Iterator[Entry]:
        entries: list[Entry] = []
        for folder in folders:
            prefix = f"{folder.key}/" if folder.key else ""
            for file in self._tree.files(self.path / folder.key):
                if self.is_message(file.name):
                    entry = self._entry(prefix + file.name, folder.key)
                    if entry is not None:
                        entries.append(entry)
        entries.sort(key=lambda e: (e.delivered, e.ref), reverse=True)
        return iter(entries)

    def _entry(self, ref: str, key: str) -> Entry | None:
        loaded = self._load(ref)
        if loaded is None:
            return None
        parts, mtime = loaded
        if parts.headers is None:
            log.info(
                "skip %s: no transport headers (a draft or a mail saved unsent): "
                "its sender cannot be proven",
                ref,
            )
            return None
        block = header_bytes(parts.headers)
        received: tuple[datetime, ReceivedSource]
        if parts.delivered is not None:
            received = (parts.delivered, "delivery-time")
        else:
            received = receive_time(block, mtime, FILE_TIME)
        return Entry(
            ref, received[0], _constant(block), received=received, folder=key or None,
            folder_role=role_from_name(key) if key else None,
        )  # fmt: skip

    def _load(self, ref: str) -> tuple[MsgParts, datetime] | None:
        """The parts and mtime of one file; None when it is gone or not an Outlook message."""
        fd = self._tree.open(self.path / ref)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as fh:
            mtime = datetime.fromtimestamp(os.fstat(fh.fileno()).st_mtime, UTC)
            try:
                return read_parts(fh), mtime
            except Exception as exc:  # olefile reports a malformed file as OSError, ValueError…
                log.warning("skip %s: not a readable Outlook message (%s)", ref, exc)
                return None

    def fetch(self, candidate: Candidate) -> bytes:
        loaded = self._load(candidate.ref)
        if loaded is None or loaded[0].headers is None:  # gone, or replaced by a draft
            raise MessageVanishedError(f"{candidate.ref} is gone from {self.path}")
        return to_rfc822(loaded[0])


def _constant(block: bytes) -> Callable[[], bytes]:
    return lambda: block

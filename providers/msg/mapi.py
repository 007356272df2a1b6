"""Reading an Outlook ``.msg`` file: the MAPI properties a token lookup needs ([MS-OXMSG]).

A ``.msg`` is a Compound File Binary container (read with ``olefile``, BSD-licensed, the
optional ``outlook`` extra). Fixed-size properties of the message sit in the
``__properties_version1.0`` stream: a 32-byte header, then 16-byte entries (property tag =
type in the low 16 bits and id in the high 16, flags, 8 bytes of value). A variable-size
property is the stream ``__substg1.0_IIIITTTT`` (id and type in hex). Read here:

* ``PR_TRANSPORT_MESSAGE_HEADERS`` (0x007D): the header block as the receiving server
  delivered it — From, Date, Received, Authentication-Results;
* ``PR_MESSAGE_DELIVERY_TIME`` (0x0E06, PT_SYSTIME: 100 ns ticks since 1601): receive time;
* ``PR_BODY`` (0x1000) and ``PR_HTML`` (0x1013, bytes in ``PR_INTERNET_CPID``, 0x3FDE);
* ``PR_RTF_COMPRESSED`` (0x1009) when the message has neither: the body kept as RTF alone,
  read by rtf.py (encapsulated HTML as HTML, other RTF as text).

Strings are PT_UNICODE (0x001F, UTF-16LE) or PT_STRING8 (0x001E, in the message's code page).
"""

from __future__ import annotations

import codecs
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import IO, Any

from inbox_finder.errors import ConfigError

PT_LONG, PT_SYSTIME, PT_STRING8, PT_UNICODE, PT_BINARY = 0x0003, 0x0040, 0x001E, 0x001F, 0x0102
TRANSPORT_HEADERS, BODY, HTML, RTF_COMPRESSED = 0x007D, 0x1000, 0x1013, 0x1009
DELIVERY_TIME, MESSAGE_CODEPAGE, INTERNET_CPID = 0x0E06, 0x3FFD, 0x3FDE
PROPERTIES = "__properties_version1.0"
TOP_HEADER = 32  # bytes before the first entry of the top-level message's property stream
MAX_TEXT = 32 << 20  # bytes of one body or header stream read at most
INSTALL_HINT = "msg: sources need the outlook extra: pip install 'inbox-finder[outlook]'"
_EPOCH_1601 = datetime(1601, 1, 1, tzinfo=UTC)
# Windows code pages whose Python codec is not simply "cp<N>".
_CODE_PAGES = {65001: "utf-8", 20127: "ascii", 28591: "latin-1", 28592: "iso8859-2",
               28605: "iso8859-15", 50220: "iso2022-jp", 50221: "iso2022-jp",
               50222: "iso2022-jp", 51932: "euc-jp", 20932: "euc-jp", 54936: "gb18030",
               936: "gbk", 949: "cp949", 1200: "utf-16-le"}  # fmt: skip


@dataclass(frozen=True)
class MsgParts:
    """What a lookup uses of one ``.msg``: headers, delivery time and the bodies as text."""

    headers: str | None
    delivered: datetime | None
    body: str | None
    html: str | None


def olefile_module() -> Any:
    """The ``olefile`` module; ConfigError with the install hint when it is missing."""
    try:
        import olefile  # lazy: an optional extra
    except ImportError:
        raise ConfigError(INSTALL_HINT) from None
    return olefile


def codec_of(code_page: int | None) -> str:
    """The Python codec of a Windows code page (UTF-8 when unknown)."""
    if code_page is None:
        return "utf-8"
    name = _CODE_PAGES.get(code_page, f"cp{code_page}")
    try:
        return codecs.lookup(name).name
    except LookupError:
        return "utf-8"


def _filetime(ticks: int) -> datetime | None:
    if ticks <= 0:
        return None
    try:
        return _EPOCH_1601 + timedelta(microseconds=ticks // 10)
    except OverflowError:
        return None


def fixed_properties(data: bytes) -> dict[tuple[int, int], bytes]:
    """(id, type) -> the 8 value bytes of each entry of a top-level property stream."""
    found: dict[tuple[int, int], bytes] = {}
    for offset in range(TOP_HEADER, len(data) - 15, 16):
        tag, _flags, value = struct.unpack_from("<II8s", data, offset)
        found[(tag >> 16, tag & 0xFFFF)] = value
    return found


def read_parts(fh: IO[bytes]) -> MsgParts:
    """The parts of one ``.msg`` file; ValueError (or olefile's errors) when it is not one."""
    olefile = olefile_module()
    with olefile.OleFileIO(fh) as ole:
        if not ole.exists(PROPERTIES):
            raise ValueError("no top-level property stream: not an Outlook message")
        fixed = fixed_properties(_stream(ole, PROPERTIES))
        code_page = _long(fixed, MESSAGE_CODEPAGE)
        ticks = fixed.get((DELIVERY_TIME, PT_SYSTIME))
        delivered = _filetime(struct.unpack("<q", ticks)[0]) if ticks else None
        html = _string(ole, HTML, code_page) or _binary_text(ole, HTML, _long(fixed, INTERNET_CPID))
        body = _string(ole, BODY, code_page)
        if not (body and body.strip()) and not (html and html.strip()):
            body, html = _rtf_body(ole)
        return MsgParts(
            headers=_string(ole, TRANSPORT_HEADERS, code_page) or None,
            delivered=delivered,
            body=body,
            html=html,
        )


def _rtf_body(ole: Any) -> tuple[str | None, str | None]:
    """(text, html) from PR_RTF_COMPRESSED; (None, None) when there is none to read."""
    name = f"__substg1.0_{RTF_COMPRESSED:04X}{PT_BINARY:04X}"
    if not ole.exists(name):
        return None, None
    from .rtf import MAX_COMPRESSED, rtf_bodies  # lazy: most messages have a text body

    with ole.openstream(name) as stream:
        data: bytes = stream.read(MAX_COMPRESSED + 16)
    return rtf_bodies(data)


def _long(fixed: dict[tuple[int, int], bytes], prop: int) -> int | None:
    value = fixed.get((prop, PT_LONG))
    return struct.unpack("<I", value[:4])[0] if value else None


def _stream(ole: Any, name: str) -> bytes:
    with ole.openstream(name) as stream:
        data: bytes = stream.read(MAX_TEXT)
        return data


def _string(ole: Any, prop: int, code_page: int | None) -> str | None:
    """A string property, PT_UNICODE or PT_STRING8 (None when the message has neither)."""
    for kind, codec in ((PT_UNICODE, "utf-16-le"), (PT_STRING8, codec_of(code_page))):
        name = f"__substg1.0_{prop:04X}{kind:04X}"
        if ole.exists(name):
            return _stream(ole, name).decode(codec, "replace").rstrip("\0")
    return None


def _binary_text(ole: Any, prop: int, code_page: int | None) -> str | None:
    """A PT_BINARY property holding text in ``code_page`` (PR_HTML)."""
    name = f"__substg1.0_{prop:04X}{PT_BINARY:04X}"
    if not ole.exists(name):
        return None
    return _stream(ole, name).decode(codec_of(code_page), "replace").rstrip("\0")

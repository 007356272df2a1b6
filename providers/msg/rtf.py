"""The body of an Outlook ``.msg`` kept only as compressed RTF (``PR_RTF_COMPRESSED``).

Outlook and Exchange may keep a message's body as RTF alone, with no ``PR_BODY`` or
``PR_HTML``. The stream is compressed as [MS-OXRTFCP] specifies (decompressed with
``compressed_rtf``, MIT-licensed, part of the ``outlook`` extra). What Outlook writes there
for a received HTML mail is *encapsulated HTML* ([MS-OXRTFEX]): ``\\fromhtml1`` in the
header, the original markup in ``{\\*\\htmltagN …}`` groups and the text between them, with
``\\htmlrtf … \\htmlrtf0`` around what the conversion added. ``rtf_bodies`` recovers that HTML
(then read like any HTML body), or, for ``\\fromtext`` and plain RTF, the text.

The reader follows the de-encapsulation rules of [MS-OXRTFEX] 2.1.3.1: escapes and Unicode
control words become characters, in the code page of the current font (``\\fcharset`` /
``\\cpg`` of the font table, else ``\\ansicpg``) outside tags and the default one inside them;
``\\par``, ``\\tab`` and the quote and dash words become their text; the header's tables and
every other destination are skipped. It is one pass over the bytes with an explicit group
stack: nesting depth, input and output are bounded, and nothing it is given makes it raise.
"""

from __future__ import annotations

import logging
import re
import struct
from dataclasses import dataclass, replace

from .mapi import codec_of  # the Windows code page table of the MAPI strings

log = logging.getLogger(__name__)

MAX_COMPRESSED = 1 << 20  # bytes of PR_RTF_COMPRESSED decompressed at most (a mail: a few KB)
MAX_OUTPUT = 8 << 20  # characters recovered at most
MAX_DEPTH = 512  # groups nested deeper than this are read as part of the deepest one

_TOKEN = re.compile(
    rb"\\([a-zA-Z]{1,32})(-?[0-9]{1,10})? ?"  # control word, optional parameter, one space
    rb"|\\'([0-9a-fA-F]{2})"  # \'hh: one byte in the current code page
    rb"|\\([^a-zA-Z'])"  # control symbol: \{ \} \\ \~ \- \_ \* and \<newline>
    rb"|([{}])"
    rb"|([^\\{}\r\n]+)",  # a text run (CR and LF in RTF are not text)
    re.DOTALL,
)
# Control words that stand for text ([MSFT-RTF] "Special characters").
_WORD_TEXT = {
    b"par": "\r\n", b"line": "\r\n", b"row": "\r\n", b"sect": "\r\n", b"page": "\r\n",
    b"tab": "\t", b"cell": "\t", b"lquote": "\u2018", b"rquote": "\u2019",
    b"ldblquote": "\u201c", b"rdblquote": "\u201d", b"bullet": "\u2022",
    b"endash": "\u2013", b"emdash": "\u2014", b"enspace": " ", b"emspace": " ",
    b"qmspace": " ",
}  # fmt: skip
_SYMBOL_TEXT = {
    b"{": "{", b"}": "}", b"\\": "\\", b"~": "\xa0", b"_": "\u2011", b"-": "",
    b"\n": "\r\n", b"\r": "\r\n",
}  # fmt: skip
# Destinations whose content is never text of the body.
_SKIPPED = frozenset(
    b"colortbl stylesheet info pict object header headerl headerr headerf footer footerl "
    b"footerr footerf footnote fldinst listtable listoverridetable rsidtbl generator "
    b"xmlnstbl themedata colorschememapping latentstyles datastore filetbl revtbl "
    b"pgdsctbl nonshppict author operator title subject company comment".split()
)
# \fcharset values -> Windows code pages ([MSFT-RTF] font table).
_CHARSETS = {
    0: None, 1: None, 2: None, 77: 10000, 128: 932, 129: 949, 130: 1361, 134: 936, 136: 950,
    161: 1253, 162: 1254, 163: 1258, 177: 1255, 178: 1256, 186: 1257, 204: 1251, 222: 874,
    238: 1250, 254: 437,
}  # fmt: skip


@dataclass(frozen=True)
class _Group:
    """What a group inherits from its parent and may change for itself."""

    skip: bool = False  # a destination that is not body text
    tag: bool = False  # inside {\*\htmltagN …}: original HTML
    htmlrtf: bool = False  # \htmlrtf on: RTF the conversion added
    fonts: bool = False  # inside the font table
    font: int | None = None
    uc: int = 1  # bytes of fallback after each \uN


def decompress(data: bytes) -> bytes | None:
    """The RTF of a PR_RTF_COMPRESSED stream; None when it is too large or not one."""
    if len(data) < 16:
        return None
    size, raw_size = struct.unpack_from("<II", data)
    if size > MAX_COMPRESSED or raw_size > MAX_COMPRESSED * 8:
        log.debug("compressed RTF of %d bytes not read", size)
        return None
    try:
        import compressed_rtf  # lazy: only RTF-only bodies need it

        rtf: bytes = compressed_rtf.decompress(data[: size + 4])
    except Exception as exc:  # a third-party decoder of untrusted bytes: any failure is "none"
        log.debug("compressed RTF not readable (%s)", type(exc).__name__)
        return None
    return rtf


def _codec(code_page: int | None) -> str:
    return codec_of(code_page) if code_page else "cp1252"


class _Reader:
    """One pass of the de-encapsulating reader over an RTF document."""

    def __init__(self) -> None:
        self.html = False  # \fromhtml1: the document encapsulates HTML
        self.default_cp: int | None = None
        self.font_cp: dict[int, int | None] = {}
        self.defining: int | None = None  # the font table entry being read
        self.out: list[str] = []
        self.size = 0
        self.pending = bytearray()  # \'hh bytes waiting to be decoded together (DBCS)
        self.pending_codec = "cp1252"
        self.fallback = 0  # bytes still to drop after a \uN

    def emit(self, text: str) -> None:
        self.flush()
        self._add(text)

    def flush(self) -> None:
        if self.pending:
            self._add(bytes(self.pending).decode(self.pending_codec, "replace"))
            self.pending.clear()

    def _add(self, text: str) -> None:
        self.out.append(text)
        self.size += len(text)

    def codec(self, group: _Group) -> str:
        if group.tag or group.font is None:
            return _codec(self.default_cp)
        return _codec(self.font_cp.get(group.font, self.default_cp))

    def visible(self, group: _Group) -> bool:
        if group.skip or group.fonts:
            return False
        return group.tag or not (self.html and group.htmlrtf)

    def read(self, rtf: bytes) -> str:
        stack: list[_Group] = []
        overflow = 0  # groups opened beyond MAX_DEPTH: read as part of the deepest one
        group = _Group()
        first = False  # the next token is the first of a new group
        star = False  # that group began with \*
        pos, end = 0, len(rtf)
        while pos < end and self.size < MAX_OUTPUT:
            match = _TOKEN.match(rtf, pos)
            if match is None:
                pos += 1  # a lone backslash at the end, or a stray byte: not text
                continue
            pos = match.end()
            word, param, hexbyte, symbol, brace, text = match.groups()
            if brace == b"{":
                if len(stack) < MAX_DEPTH:
                    stack.append(group)
                    first, star = True, False
                else:
                    overflow += 1
                    first = star = False
                continue
            if brace == b"}":
                self.flush()
                if overflow:
                    overflow -= 1
                elif stack:
                    group = stack.pop()
                first = star = False
                continue
            if symbol == b"*":
                star = first
                continue
            name = word.lower() if word is not None else None
            if first:
                first = False
                group = self._open(group, name, star)
                if name is not None and group.skip:
                    continue
            if name is not None:
                value = int(param) if param is not None else None
                pos = self._word(name, value, group, pos)
                group = self._state(name, value, group)
            elif hexbyte is not None:
                self._byte(int(hexbyte, 16), group)
            elif symbol is not None:
                if self.visible(group) and symbol in _SYMBOL_TEXT:
                    self.emit(_SYMBOL_TEXT[symbol])
            elif text is not None:
                self._text(text, group)
        self.flush()
        # \uN pairs of UTF-16 surrogates become one character; a lone one becomes U+FFFD.
        joined = "".join(self.out)[:MAX_OUTPUT].encode("utf-16-le", "surrogatepass")
        return joined.decode("utf-16-le", "replace")

    def _byte(self, byte: int, group: _Group) -> None:
        """A \\'hh escape: one byte of text in the current code page."""
        if self.fallback:
            self.fallback -= 1
        elif self.visible(group):
            codec = self.codec(group)
            if codec != self.pending_codec:
                self.flush()
                self.pending_codec = codec
            self.pending.append(byte)

    def _text(self, text: bytes, group: _Group) -> None:
        """A run of text bytes (the first ones may be the fallback of a \\uN)."""
        if self.fallback:
            drop = min(self.fallback, len(text))
            self.fallback -= drop
            text = text[drop:]
        if group.fonts or not text or not self.visible(group):
            return  # font names, or text the body does not show
        codec = self.codec(group)
        if self.pending and codec == self.pending_codec:
            self.pending += text  # a DBCS trail byte written as itself: decode together
        else:
            self.emit(text.decode(codec, "replace"))

    def _open(self, parent: _Group, name: bytes | None, star: bool) -> _Group:
        """The state of a group from its first token (``name``: its control word, lower case)."""
        if parent.skip:
            return parent
        if star and self.html and name == b"htmltag":
            return replace(parent, tag=True)
        if (star and not parent.tag) or name in _SKIPPED:
            return replace(parent, skip=True)
        if name == b"fonttbl":
            return replace(parent, fonts=True)
        return parent

    def _word(self, name: bytes, value: int | None, group: _Group, pos: int) -> int:
        """Act on a control word; the position to read on from (``\\bin`` skips data)."""
        if name == b"bin":
            return pos + max(value or 0, 0)
        if group.skip:
            return pos
        if name == b"u" and value is not None:
            if self.visible(group):
                self.emit(chr((value + 0x10000 if value < 0 else value) & 0xFFFF or 0xFFFD))
            self.fallback = group.uc
        elif group.fonts:
            if name == b"f" and value is not None:
                self.defining = value
                self.font_cp.setdefault(value, None)
            elif name == b"fcharset" and self.defining is not None and value is not None:
                self.font_cp[self.defining] = _CHARSETS.get(value, self.font_cp[self.defining])
            elif name == b"cpg" and self.defining is not None and value:
                self.font_cp[self.defining] = value
        elif name == b"fromhtml" and value != 0:
            self.html = True
        elif name == b"ansicpg" and value:
            self.default_cp = value
        elif name in _WORD_TEXT and self.visible(group):
            self.emit(_WORD_TEXT[name])
        return pos

    @staticmethod
    def _state(name: bytes, value: int | None, group: _Group) -> _Group:
        """The group's state after a control word that changes it."""
        if name == b"htmlrtf":
            return replace(group, htmlrtf=value != 0)
        if name == b"f" and value is not None and not group.fonts:
            return replace(group, font=value)
        if name == b"uc" and value is not None:
            return replace(group, uc=max(value, 0))
        return group


def read_rtf(rtf: bytes) -> tuple[str | None, str | None]:
    """(text, html) of an RTF document: the encapsulated HTML as ``html``, else its text."""
    if not rtf.lstrip().startswith(b"{\\rtf"):
        return None, None
    reader = _Reader()
    content = reader.read(rtf)
    return (None, content) if reader.html else (content, None)


def rtf_bodies(compressed: bytes) -> tuple[str | None, str | None]:
    """(text, html) recovered from a PR_RTF_COMPRESSED stream; (None, None) if unreadable."""
    rtf = decompress(compressed)
    return read_rtf(rtf) if rtf is not None else (None, None)

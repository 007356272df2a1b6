"""HTML to plain text, tuned for reading token mails: inline tags join, blocks break lines.

A token split across inline tags (``<span>4jEA</span><span>KuW3…</span>``) comes out whole;
table cells on one row are joined by a space so ``Username:`` and its value share a line.
Quoted HTML (``<blockquote>``, Gmail/Outlook quote containers) is prefixed with ``> `` so the
quote filter drops it like plain-text quotes.
"""

from __future__ import annotations

from html.parser import HTMLParser

# Tags whose start or end begins a new line.
_BLOCK = frozenset(
    (
        "address article aside blockquote body br center dd div dl dt fieldset figure footer "
        "form h1 h2 h3 h4 h5 h6 header hr html li main nav ol p pre section table tbody tfoot "
        "thead tr ul"
    ).split()
)
_CELL = frozenset({"td", "th"})
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript", "xml"})
_VOID = frozenset("area base br col embed hr img input link meta param source track wbr".split())
# Quote containers that mail clients use for replies and forwards.
_QUOTE_CLASSES = ("gmail_quote", "yahoo_quoted", "moz-cite-prefix")
_QUOTE_IDS = ("divrplyfwdmsg", "appendonsend")

MAX_HTML_CHARS = 2_000_000  # a token mail is a few KB; cap hostile input
MAX_DEPTH = 256


class _TextBuilder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._line: list[str] = []
        self._skip = 0
        self._quote = 0
        self._stack: list[tuple[str, bool]] = []  # (tag, opened a quote)

    def _break(self) -> None:
        text = "".join(self._line).strip()
        if text:
            self.lines.append(("> " if self._quote else "") + text)
        self._line = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
            return
        if tag in _BLOCK:
            self._break()
        elif tag in _CELL:
            self._line.append(" ")
        if tag in _VOID:
            return
        attr = {k: (v or "").lower() for k, v in attrs}
        quoting = tag == "blockquote" or any(c in attr.get("class", "") for c in _QUOTE_CLASSES)
        quoting = quoting or attr.get("id", "") in _QUOTE_IDS
        if len(self._stack) < MAX_DEPTH:
            self._stack.append((tag, quoting))
            if quoting:
                self._break()
                self._quote += 1

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
            return
        if tag in _BLOCK:
            self._break()
        elif tag in _CELL:
            self._line.append(" ")
        # Pop to the matching open tag; tolerate the unbalanced markup mail is full of.
        for i in range(len(self._stack) - 1, -1, -1):
            if self._stack[i][0] == tag:
                for _, quoting in self._stack[i:]:
                    if quoting:
                        self._break()
                        self._quote -= 1
                del self._stack[i:]
                break

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self._line.append(data.replace("\n", " ").replace("\r", " "))

    def close(self) -> None:
        super().close()
        self._break()


def html_to_text(html: str) -> str:
    """Render HTML as plain text lines (see module doc for the rules)."""
    builder = _TextBuilder()
    builder.feed(html[:MAX_HTML_CHARS])
    builder.close()
    return "\n".join(builder.lines)

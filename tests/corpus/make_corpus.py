#!/usr/bin/env python3
"""Regenerate the golden .eml corpus in this directory, plus expected.json, then verify it.

Usage (from the repository root):

    .venv/bin/python tests/corpus/make_corpus.py           # write files, verify, print a table
    .venv/bin/python tests/corpus/make_corpus.py --check   # only verify the files on disk

The output is deterministic: every token, date and Message-ID is a literal or derived from a
literal in this file (nothing random at run time), so re-running it reproduces the same bytes.
Transfer encodings are produced with the standard encoders (email.quoprimime, base64, codecs).
All tokens and addresses are fictitious.

The cases are tables: ``corpus_positives.POSITIVES`` (token mails) and
``corpus_negatives.NEGATIVES`` (look-alikes); ``corpus_parts`` renders them.
"""

from __future__ import annotations

import html
import json
import re
import sys
from datetime import UTC, datetime
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from corpus_negatives import NEGATIVES, build_negative
from corpus_parts import Mail
from corpus_positives import POSITIVES, build_positive
from corpus_texts import TOKENS

HERE = Path(__file__).resolve().parent


def build() -> list[Mail]:
    """Every corpus file in file order: the token mails, then the look-alikes."""
    return [build_positive(row) for row in POSITIVES] + [build_negative(row) for row in NEGATIVES]


# --------------------------------------------------------------------------- verification


class _Text(HTMLParser):
    BLOCK = frozenset({"br", "p", "div", "tr", "table", "blockquote", "h1", "h2", "li"})

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.out: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: Any) -> None:
        if tag in ("head", "style", "script"):
            self._skip += 1
        elif tag in self.BLOCK:
            self.out.append("\n")
        elif tag == "td":
            self.out.append(" ")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("head", "style", "script"):
            self._skip -= 1
        elif tag in self.BLOCK:
            self.out.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.out.append(re.sub(r"[ \t\r\n]+", " ", data))  # HTML collapses whitespace


def html_to_text(source: str) -> str:
    parser = _Text()
    parser.feed(source)
    parser.close()
    text = html.unescape("".join(parser.out)).replace("\xa0", " ")
    return re.sub(r" *\n[ \n]*", "\n", re.sub(r" +", " ", text))


def message_text(msg: EmailMessage) -> list[tuple[str, str, str]]:
    """(content type, decoded source, text) for every text/* part."""
    parts = []
    for part in msg.walk():
        if part.get_content_maintype() != "text":
            continue
        source = part.get_content()
        text = html_to_text(source) if part.get_content_subtype() == "html" else source
        parts.append((part.get_content_type(), source, text))
    return parts


def received_instant(msg: EmailMessage) -> datetime:
    if msg["Date"] is not None:
        return msg["Date"].datetime.astimezone(UTC)
    top = msg.get_all("Received")[0]
    return parsedate_to_datetime(str(top).rsplit(";", 1)[1].strip()).astimezone(UTC)


def all_defects(msg: EmailMessage) -> list[str]:
    found = []
    for part in msg.walk():
        found += [type(d).__name__ for d in part.defects]
        for key in part:
            found += [f"{key}:{type(d).__name__}" for d in getattr(part[key], "defects", ())]
    return found


def check_tokens() -> list[str]:
    """Every frozen token is unique and token-shaped (mixed case, 24-25 alphanumerics)."""
    problems = []
    tokens = list(TOKENS.values())
    if len(set(tokens)) != len(tokens):
        problems.append("tokens are not unique")
    for t in tokens:
        if not (re.fullmatch(r"[A-Za-z0-9]{24,25}", t) and t != t.lower() and t != t.upper()):
            problems.append(f"bad token shape {t}")
    return problems


def check_file(m: Mail) -> list[str]:
    """One file on disk: well-formed, as generated, its token (or decoy) readable."""
    problems = []
    raw = (HERE / m.file).read_bytes()
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    where = m.file
    for key in ("From", "To", "Subject", "Message-ID", "MIME-Version", "Content-Type"):
        if msg[key] is None:
            problems.append(f"{where}: missing {key}")
    if msg["Date"] is None and not m.file.startswith("15_"):
        problems.append(f"{where}: missing Date")
    if defects := all_defects(msg):
        problems.append(f"{where}: parser defects {defects}")
    if any(len(line) > 998 for line in raw.split(b"\n")):
        problems.append(f"{where}: line longer than 998 octets")
    if b"\r" in raw:
        problems.append(f"{where}: CR found (corpus uses LF)")
    if received_instant(msg) != m.received:
        problems.append(f"{where}: received {received_instant(msg)} != {m.received}")
    if raw != m.data:
        problems.append(f"{where}: file on disk differs from the generator output")
    return problems + check_text(m, message_text(msg))


def check_text(m: Mail, texts: list[tuple[str, str, str]]) -> list[str]:
    """The decoded text parts carry the token whole (or the decoy, or the code)."""
    problems, where = [], m.file
    joined = re.sub(r"[ \t]+", " ", "\n".join(t for _, _, t in texts))
    if m.token is not None:
        if not all(m.token in t for _, _, t in texts):
            problems.append(f"{where}: token not whole in every text part")
        if m.username and m.username not in joined:
            problems.append(f"{where}: username not in text")
        label = (
            "セキュリティトークン (大文字と小文字を区別): "
            if m.language == "ja"
            else "Security token (case-sensitive): "
        )
        if label + m.token not in joined:
            problems.append(f"{where}: '<label> <token>' not found in decoded text")
    elif m.decoy is not None and m.decoy not in joined:
        problems.append(f"{where}: decoy not present")
    if m.reject == "verification-code" and "872221" not in joined:
        problems.append(f"{where}: verification code missing")
    return problems


def check_encodings(by: dict[str, Mail]) -> list[str]:
    """File-specific properties: the split token, the QP soft break, raw windows-1252."""
    problems = []
    m02 = by["02_current_html_only_split_token.eml"]
    src = message_text(
        BytesParser(policy=policy.default).parsebytes((HERE / m02.file).read_bytes())
    )[0][1]
    if m02.token in src or f"<span>{str(m02.token)[:12]}</span><span>" not in src:
        problems.append("02: token should be split across <span>s in the HTML source")
    m07 = by["07_qp_soft_break_in_token.eml"]
    tok07 = str(m07.token)
    raw07 = (HERE / m07.file).read_bytes().decode("ascii")
    if tok07 in raw07 or not any(
        f"{tok07[:i]}=\n{tok07[i:]}" in raw07 for i in range(1, len(tok07))
    ):
        problems.append("07: no QP soft break inside the token")
    m14 = (HERE / "14_external_email_cp1252.eml").read_bytes()
    if b"Soci\xe9t\xe9" not in m14 or b"\x96" not in m14:
        problems.append("14: expected raw windows-1252 bytes")
    return problems


def check_order(mails: list[Mail], by: dict[str, Mail]) -> list[str]:
    """The "newest" properties the tests rely on."""
    problems = []
    positives = [m for m in mails if m.token]
    newest = max(mails, key=lambda m: m.received)
    if not newest.token:
        problems.append(f"newest message overall {newest.file} is not a positive")
    dana_pos = max(
        (m for m in positives if m.username == "dana@example.com"), key=lambda m: m.received
    )
    if not [m for m in mails if not m.token and m.received > dana_pos.received]:
        problems.append("no negative is newer than dana@example.com's newest positive")
    a = by["16_tz_wallclock_later_but_older.eml"]
    b = by["17_tz_wallclock_earlier_but_newer.eml"]
    if not a.received < b.received:
        problems.append("16/17 instant order wrong")
    return problems


def verify(mails: list[Mail]) -> list[str]:
    """Every check; prints one table row per file and returns the problems found."""
    problems = check_tokens()
    rows = []
    for m in mails:
        found = check_file(m)
        problems += found
        rows.append((m, not found))
    by = {m.file: m for m in mails}
    problems += check_encodings(by) + check_order(mails, by)
    print(f"{'file':<46} {'token':<26} {'username':<40} {'received (UTC)':<26} reject / ok")
    for m, ok in rows:
        when = m.received.astimezone(UTC).isoformat()
        print(
            f"{m.file:<46} {m.token or '-':<26} {m.username or '-':<40} "
            f"{when:<26} {m.reject or ''} {'ok' if ok else 'FAIL'}"
        )
    return problems


def main(argv: list[str]) -> int:
    mails = build()
    if "--check" not in argv:
        for m in mails:
            (HERE / m.file).write_bytes(m.data)
        expected = [m.expected() for m in mails]
        (HERE / "expected.json").write_text(
            json.dumps(expected, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
        )
    problems = verify(mails)
    on_disk = json.loads((HERE / "expected.json").read_text(encoding="utf-8"))
    if on_disk != [m.expected() for m in mails]:
        problems.append("expected.json differs from the generator")
    for p in problems:
        print("PROBLEM:", p)
    print(
        f"{len(mails)} files, {sum(1 for m in mails if m.token)} positive, "
        f"{len(problems)} problem(s)"
    )
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

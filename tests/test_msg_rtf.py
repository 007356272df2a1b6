"""A ``.msg`` whose body Outlook kept as compressed RTF alone (no PR_BODY, no PR_HTML) is read:
the RTF is decompressed ([MS-OXRTFCP]) and the HTML or text inside it recovered
([MS-OXRTFEX]), so a newer token kept that way is the answer, not a warning.

The files come from the real MSG writer (@tutao/oxmsg, which also compresses the RTF: a
second implementation of the compression, beside the ``compressed_rtf`` that reads it)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from desktop_stores import msg_item, msg_writer_ready, write_msg_files
from hypothesis import given, settings
from hypothesis import strategies as st
from inbox_finder.providers.msg.rtf import MAX_DEPTH, decompress, read_rtf

from inbox_finder import engine, find_tokens
from inbox_finder.cli.main import main
from inbox_finder.testing.mail import (
    JA_TEXT,
    html_token_mail,
    japanese_token_mail,
    new_token,
    token_mail,
)

T = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DECOY = "DecoyOnlyInTheRtfRendering0"

# Encapsulated HTML as Outlook writes it for a received HTML mail: the markup in htmltag
# groups, the text between them, and what the RTF rendering alone needs inside
# \htmlrtf ... \htmlrtf0 (here also a decoy token that is not part of the HTML).
OUTLOOK_HTML_RTF = r"""{\rtf1\ansi\ansicpg1252\fromhtml1 \fbidis \deff0{\fonttbl
{\f0\fswiss\fcharset0 Arial;}
{\f1\fmodern Courier New;}
{\f2\fnil\fcharset2 Symbol;}
{\f3\fmodern\fcharset0 Courier New;}}
{\colortbl\red0\green0\blue0;\red5\green99\blue193;}
{\*\generator Microsoft Exchange Server;}
\uc1\pard\plain\deftab360 \f0\fs24
{\*\htmltag19 <html>}
{\*\htmltag34 <head>}
{\*\htmltag1 \par }
{\*\htmltag241 <style type="text/css">}
{\*\htmltag241 td \{ font-family: Arial \}}
{\*\htmltag249 </style>}
{\*\htmltag41 </head>}
{\*\htmltag2 \par }
{\*\htmltag50 <body>}\htmlrtf \lang1033 \ltrch\htmlrtf0
{\*\htmltag64}
{\*\htmltag72 <table>}\htmlrtf {\htmlrtf0
{\*\htmltag104 <tr>}\htmlrtf {\htmlrtf0 {\*\htmltag88 <td>}\htmlrtf {\htmlrtf0 We\rquote ve sent you a new Salesforce security token.{\*\htmltag116 <br>}\htmlrtf \line
\htmlrtf0 {\*\htmltag116 <br>}\htmlrtf \line
\htmlrtf0 {\*\htmltag92 </td>}\htmlrtf \cell }\htmlrtf0 {\*\htmltag96 </tr>}\htmlrtf \row }\htmlrtf0
{\*\htmltag104 <tr>}\htmlrtf {\htmlrtf0 {\*\htmltag88 <td>}\htmlrtf {\htmlrtf0 {\*\htmltag84 <b>}\htmlrtf {\b \htmlrtf0 Username:{\*\htmltag84 &nbsp;}\htmlrtf \'a0\htmlrtf0 \htmlrtf }\htmlrtf0 {\*\htmltag92 </b>}{\*\htmltag92 </td>}\htmlrtf \cell }\htmlrtf0 {\*\htmltag88 <td>}\htmlrtf {\htmlrtf0 {\*\htmltag84 <span>}\htmlrtf {\htmlrtf0 USERNAME{\*\htmltag92 </span>}\htmlrtf }\htmlrtf0 {\*\htmltag92 </td>}\htmlrtf \cell }\htmlrtf0 {\*\htmltag96 </tr>}\htmlrtf \row }\htmlrtf0
{\*\htmltag104 <tr>}\htmlrtf {\htmlrtf0 {\*\htmltag88 <td>}\htmlrtf {\htmlrtf0 {\*\htmltag84 <b>}\htmlrtf {\b \htmlrtf0 Security token (case-sensitive):{\*\htmltag84 &nbsp;}\htmlrtf \'a0\htmlrtf0 \htmlrtf }\htmlrtf0 {\*\htmltag92 </b>}{\*\htmltag92 </td>}\htmlrtf \cell }\htmlrtf0
{\*\htmltag88 <td>}\htmlrtf {\htmlrtf0 {\*\htmltag84 <span>}\htmlrtf {\htmlrtf0 HEAD{\*\htmltag92 </span>}\htmlrtf }\htmlrtf0 {\*\htmltag84 <span>}\htmlrtf {\htmlrtf0 TAIL{\*\htmltag92 </span>}\htmlrtf }\htmlrtf0 \htmlrtf {\v DECOY}\htmlrtf0 {\*\htmltag92 </td>}\htmlrtf \cell }\htmlrtf0 {\*\htmltag96 </tr>}\htmlrtf \row }\htmlrtf0
{\*\htmltag80 </table>}\htmlrtf }\htmlrtf0
{\*\htmltag58 </body>}
{\*\htmltag27 </html>}}"""


def outlook_html_rtf(token: str, username: str = "dana@example.com") -> str:
    half = len(token) // 2
    return (
        OUTLOOK_HTML_RTF.replace("USERNAME", username)
        .replace("HEAD", token[:half])
        .replace("TAIL", token[half:])
        .replace("DECOY", DECOY)
    )


def text_rtf(text: str, code_page: int = 932, charset: int = 128) -> str:
    """A plain-text body as Outlook encapsulates it (\\fromtext): the text in the font's
    code page as \\'hh escapes, one \\par per line."""

    def escaped(char: str) -> str:
        data = char.encode(f"cp{code_page}")
        if len(data) > 1 or data[0] >= 0x80:
            return "".join(f"\\'{b:02x}" for b in data)  # every byte of a DBCS character
        return "\\" + char if char in "{}\\" else char

    body = ["".join(map(escaped, line)) + "\\par\n" for line in text.split("\n")]
    return (
        f"{{\\rtf1\\ansi\\ansicpg1252\\fromtext \\fbidis \\deff0{{\\fonttbl\n"
        f"{{\\f0\\fswiss Arial;}}\n{{\\f1\\fnil\\fcharset{charset} MS Gothic;}}}}\n"
        f"\\uc1\\pard\\plain\\deftab360 \\f1\\fs20 " + "".join(body) + "}"
    )


@pytest.fixture
def writer() -> None:
    msg_writer_ready()


def write_rtf_only(path: Path, raw: bytes, when: datetime, rtf: str | None) -> dict[str, object]:
    """The item for a .msg of ``raw`` whose body is kept as RTF alone: ``rtf``, or (None)
    the writer's own encapsulation of the mail's HTML."""
    item = msg_item(path, raw, when)
    item["text"] = ""
    if rtf is None:
        item["draft"] = True  # the writer encapsulates the HTML as RTF instead of PR_HTML
    else:
        item["html"], item["rtf"] = "", rtf
    return item


@pytest.mark.usefixtures("writer")
@pytest.mark.parametrize("encapsulation", ["outlook", "writer"])
def test_a_newer_token_kept_as_rtf_alone_is_the_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], encapsulation: str
) -> None:
    old, new = new_token(), new_token()
    later = T + timedelta(days=1)
    rtf = outlook_html_rtf(new) if encapsulation == "outlook" else None
    write_msg_files(
        [
            msg_item(tmp_path / "old.msg", token_mail(old, when=T), T),
            write_rtf_only(tmp_path / "new.msg", html_token_mail(new, when=later), later, rtf),
        ]
    )
    engine._WARNED.clear()
    assert main(["find", f"msg:{tmp_path}", "-q"]) == 0
    assert capsys.readouterr() == (f"{new}\n", "")  # the token, and no "may not be the newest"
    found = find_tokens(f"msg:{tmp_path}")
    assert [(f.token, f.username, f.received) for f in found] == [
        (new, "dana@example.com", later),
        (old, "dana@example.com", T),
    ]


@pytest.mark.usefixtures("writer")
def test_a_japanese_text_body_kept_as_rtf_alone_is_read(tmp_path: Path) -> None:
    token = new_token()
    raw = japanese_token_mail(token, when=T)
    rtf = text_rtf(JA_TEXT.format(username="yamada@example.co.jp", token=token))
    write_msg_files([write_rtf_only(tmp_path / "ja.msg", raw, T, rtf)])
    [found] = find_tokens(f"msg:{tmp_path}")
    assert (found.token, found.username, found.language) == (token, "yamada@example.co.jp", "ja")


@pytest.mark.usefixtures("writer")
def test_an_unreadable_rtf_body_is_skipped_with_the_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    old = new_token()
    later = T + timedelta(days=1)
    not_rtf = "this is not RTF at all"
    write_msg_files(
        [
            msg_item(tmp_path / "old.msg", token_mail(old, when=T), T),
            write_rtf_only(tmp_path / "new.msg", html_token_mail(new_token(), when=later), later,
                           not_rtf),
        ]
    )  # fmt: skip
    engine._WARNED.clear()
    with caplog.at_level(logging.WARNING, logger="inbox_finder"):
        assert [f.token for f in find_tokens(f"msg:{tmp_path}")] == [old]
    assert "yielded no token" in caplog.text


def test_encapsulated_html_is_recovered_without_what_only_the_rtf_shows() -> None:
    text, html = read_rtf(outlook_html_rtf("AbCdEfGhIjKlMnOpQrStUvWxY").encode())
    assert text is None and html is not None
    assert DECOY not in html and "\\" not in html
    assert "<td><span>AbCdEfGhIjKl</span><span>MnOpQrStUvWxY</span>" in html
    assert "<b>Username:&nbsp;</b>" in html and "\xa0" not in html  # RTF's own nbsp left out
    assert "We\u2019ve sent you" in html and "td { font-family: Arial }" in html
    assert html.startswith("<html><head>\r\n<style")


def test_text_escapes_unicode_and_destinations() -> None:
    rtf = (
        rb"{\rtf1\ansi\ansicpg1252\deff0{\fonttbl{\f0\fswiss\fcharset0 Arial;}"
        rb"{\f1\fnil\fcharset128 MS Gothic;}}{\colortbl;\red0\green0\blue0;}"
        rb"{\*\generator Riched20;}{\info{\author Someone}}\pard\f0 caf\'e9\tab \{x\}\\"
        rb"\par\f1 \'83\'5a\'83\'4c\uc1\u12488?\u-10179?\u-8704?{\*\unknown hidden}"
        rb"\bin3 {}x\par}"
    )
    assert read_rtf(rtf) == ("caf\xe9\t{x}\\\r\nセキト\U0001f600\r\n", None)


@pytest.mark.parametrize(
    "rtf",
    [
        b"",
        b"not rtf",
        b"{\\rtf1" + b"{" * 100_000 + b"deep" + b"}" * 100_000,
        b"{\\rtf1 " + b"}" * 10_000 + b"after",
        b"{\\rtf1\\u99999999999 \\'zz\\bin-5 x\\",
    ],
    ids=["empty", "not rtf", "deep", "unbalanced", "bad words"],
)
def test_odd_rtf_never_raises(rtf: bytes) -> None:
    text, html = read_rtf(rtf)
    assert html is None and (text is None or len(text) <= len(rtf))
    if rtf.endswith(b"}" * 100_000):
        assert text == "deep"  # read at the depth limit, not lost
        assert MAX_DEPTH < 100_000


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400))
def test_any_bytes_after_an_rtf_header_read_without_error(tail: bytes) -> None:
    text, html = read_rtf(b"{\\rtf1\\ansi\\fromhtml1 " + tail)
    assert text is None and html is not None


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200), st.sampled_from([b"LZFu", b"MELA", b"????"]))
def test_any_compressed_stream_is_read_or_none(data: bytes, kind: bytes) -> None:
    head = (len(data) + 12).to_bytes(4, "little") + (len(data) * 8).to_bytes(4, "little")
    result = decompress(head + kind + data[:4].ljust(4, b"\0") + data[4:])
    assert result is None or isinstance(result, bytes)


def test_a_corrupt_compressed_stream_is_none_and_a_good_one_is_read() -> None:
    import compressed_rtf

    good = compressed_rtf.compress(b"{\\rtf1 hello}")
    assert decompress(good) == b"{\\rtf1 hello}"
    assert decompress(good[:-1] + bytes([good[-1] ^ 1])) is None  # the CRC no longer agrees
    too_big = (8 << 20).to_bytes(4, "little") + good[4:]
    assert decompress(too_big) is None


def test_groups_beyond_the_depth_limit_leave_the_others_as_they_were() -> None:
    deep = b"{" * (MAX_DEPTH + 100) + b"x" + b"}" * (MAX_DEPTH + 100)
    rtf = b"{\\rtf1 " + deep + b" after{\\*\\hidden not shown} end}"
    assert read_rtf(rtf) == ("x after end", None)

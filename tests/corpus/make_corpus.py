#!/usr/bin/env python3
"""Regenerate the golden .eml corpus in this directory, plus expected.json, then verify it.

Usage (from the repository root):

    .venv/bin/python tests/corpus/make_corpus.py           # write files, verify, print a table
    .venv/bin/python tests/corpus/make_corpus.py --check   # only verify the files on disk

The output is deterministic: every token, date and Message-ID is a literal or derived from a
literal in this file (nothing random at run time), so re-running it reproduces the same bytes.
Transfer encodings are produced with the standard encoders (email.quoprimime, base64, codecs).
All tokens and addresses are fictitious.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from email import policy, quoprimime
from email.header import Header
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime, formataddr, parsedate_to_datetime
from html.parser import HTMLParser
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
PACIFIC = ZoneInfo("America/Los_Angeles")  # Gmail stamps its Received headers in Pacific time
JST = timezone(timedelta(hours=9))

# One unique token per file (generated once with `secrets`, frozen here). Decoys are the
# token-shaped strings inside negative mails; they must never be reported as a finding.
TOKENS = {
    "01": "Bmq3Q2rmLKRsvNELAtb8txr3",
    "02": "nGCLiF9pHu5dhXxc2jZli6odU",
    "03": "QRZ9XITXGetYEwW5C0HUXZA3",
    "04": "LJFfEJSaMyYyw0J4xCLIife8",
    "05": "NB0W2DpOfTe2RPmq95Ezf9uYj",
    "06": "e6u610qcdh95Jio60lI8ywZIS",
    "07": "U5S8nh5eTzZdKcH47SodUWhf",
    "08": "P44usIRYJ35lbQtwuFvQ3SRK",
    "09": "F9ZvFYbeePOlpi21pXeFRR5Q",
    "10": "gDbaG35U7zlHwTEoifHYc2AI",
    "11": "OEnTyZASANlB3jbZb1raGyOfM",
    "12": "JNmrDwXbLZQaGvpBhbx21Jh6i",
    "13": "eAqpVEKebXuqkmsuHm60XhIP",
    "14": "qYmF9daE8dSHfurE99YDuXl9",
    "15": "fslfVMOUiSpR34uANxtutuuCK",
    "16": "WZjN03NxXOFlFU9sSukssODr",
    "17": "dFEjJO9enFghz5CtFOaMIS0z",
    "18": "qJ61AUtfNAhOhTlD4hxYLzTcP",
    # decoys in negatives
    "23": "z3WbikAGlXks5VIFHSqZRLzf",
    "24": "EwkY6lbW9m57rex7abONXOaH9",
    "25": "6WPkvzSXZm69bJvxjIzSUb2Y",
    "26": "DZM3ZCiKJW22tqMpu5o3SAlnI",
    "27": "vEi6b7HWBU0lH82ninMIoi3AH",
    "28": "EhFnPL8w5NhFHBPXfYghJ2Wsl",
}

HELP_URL = "https://help.salesforce.com/HTViewHelpDoc?id=user_security_token.htm"

CURRENT_TEXT = """\
We've sent you a new {brand} security token because you recently changed your password
or requested to reset your security token. Use this updated security token with API or
desktop clients that require it.

Username: {username}
Security token (case-sensitive): {token}

For more information on using your security token, see Reset Your Security Token at
{help_url}.

Thanks,
{brand}
"""

LEGACY_TEXT = """\
Dear Dana Martin,

Your new security token has been generated.

Security token (case-sensitive): {token}

Use this token when you log in to salesforce.com from an API or a desktop client: append
it to the end of your password. For more information, see "Resetting Your Security Token"
in the salesforce.com online help.

Thank you,
salesforce.com
"""

JA_TEXT = """\
最近パスワードを変更したか、セキュリティトークンのリセットを
要求したため、新しい Salesforce セキュリティトークンを
送信しました。このセキュリティトークンは、API または
デスクトップクライアントで使用します。

ユーザ名: {username}
セキュリティトークン (大文字と小文字を区別): {token}

セキュリティトークンの使用についての詳細は、次のページの
「セキュリティトークンのリセット」を参照してください。
{help_url}

よろしくお願いいたします。
Salesforce
"""
JA_SUBJECT = "新しいセキュリティトークン"

SUBJECT = "Your new Salesforce security token"


def html_template(username_html: str, token_html: str, brand: str = "Salesforce") -> str:
    """The HTML flavour of the current template (as Salesforce's mailer lays it out)."""
    return f"""\
<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Transitional//EN" \
"http://www.w3.org/TR/xhtml1/DTD/xhtml1-transitional.dtd">
<html xmlns="http://www.w3.org/1999/xhtml">
<head>
<meta http-equiv="Content-Type" content="text/html; charset=UTF-8" />
<title>Your new {brand} security token</title>
</head>
<body style="margin:0;padding:0;background-color:#f3f3f3;">
<table width="100%" cellpadding="0" cellspacing="0" border="0" \
style="font-family:Arial,Helvetica,sans-serif;font-size:14px;color:#16325c;">
  <tr>
    <td style="padding:24px 24px 8px 24px;">
      We&#39;ve sent you a new {brand} security token because you recently changed your \
password<br>
      or requested to reset your security token. Use this updated security token with API \
or<br>
      desktop clients that require it.<br><br>
    </td>
  </tr>
  <tr>
    <td style="padding:0 24px;">
      <table cellpadding="4" cellspacing="0" border="0">
        <tr>
          <td style="font-weight:bold;">Username:&nbsp;</td>
          <td>{username_html}</td>
        </tr>
        <tr>
          <td style="font-weight:bold;">Security token (case-sensitive):&nbsp;</td>
          <td style="font-family:'Courier New',Courier,monospace;">{token_html}</td>
        </tr>
      </table>
    </td>
  </tr>
  <tr>
    <td style="padding:8px 24px 24px 24px;">
      <br>For more information on using your security token, see&nbsp;<a \
href="{HELP_URL}">Reset Your Security Token</a>.<br><br>
      Thanks,<br>
      {brand}
    </td>
  </tr>
</table>
</body>
</html>
"""


# --------------------------------------------------------------------------- encoders


def qp(text: str, charset: str = "utf-8", maxlinelen: int = 76) -> str:
    """Quoted-printable body (RFC 2045) via the stdlib encoder; LF line ends."""
    return quoprimime.body_encode(text.encode(charset).decode("latin-1"), maxlinelen, "\n")


def b64(text: str, charset: str = "utf-8") -> str:
    """Base64 body, 76-character lines."""
    return base64.encodebytes(text.encode(charset)).decode("ascii")


def iso2022jp(text: str) -> bytes:
    """ISO-2022-JP, each line returning to ASCII before its line end (RFC 1468)."""
    return b"\n".join(line.encode("iso2022_jp") for line in text.split("\n"))


def rfc2047_b(text: str, charset: str) -> str:
    """One B-encoded word."""
    return f"=?{charset}?B?{base64.b64encode(text.encode(charset)).decode('ascii')}?="


# --------------------------------------------------------------------------- header helpers


def utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def sfdc_date(when: datetime) -> str:
    """Salesforce's mailer (JavaMail) style: 'Tue, 14 Jan 2020 09:12:43 +0000 (GMT)'."""
    return format_datetime(when.astimezone(UTC)) + " (GMT)"


def gmail_stamp(when: datetime) -> str:
    local = when.astimezone(PACIFIC)
    return f"{format_datetime(local)} ({local.tzname()})"


def digest(name: str, n: int = 40) -> str:
    return hashlib.sha256(name.encode()).hexdigest()[:n]


def sfdc_message_id(name: str) -> str:
    h = digest(name, 64)
    core = base64.b32encode(bytes.fromhex(h)).decode().rstrip("=")
    return f"<{core[:4]}{'0' * 44}{core[4:34]}@sfdc.net>"


def sfdc_x_headers(name: str) -> list[tuple[str, str]]:
    h = digest(name).upper()
    return [
        ("X-Priority", "3"),
        ("X-SFDC-LK", f"00D5e000000{h[:4]}"),
        ("X-SFDC-User", f"0055e00000{h[4:9]}"),
        ("X-Sender", "postmaster@salesforce.com"),
        ("X-mail_abuse_inquiries", "http://www.salesforce.com/company/abuse.jsp"),
        ("X-SFDC-TLS-NoRelay", "1"),
        ("X-SFDC-Binding", f"1WrIRBV94myi25uB{h[9:13]}"),
    ]


SF_HOSTS = [
    ("smtp07-ia4-sp3.mta.salesforce.com", "13.110.6.222"),
    ("smtp12-ph2-sp4.mta.salesforce.com", "13.110.74.212"),
    ("smtp04-iad-sp1.mta.salesforce.com", "13.110.14.204"),
    ("smtp15-lo1-sp2.mta.salesforce.com", "85.222.142.118"),
]


def ar_pass(mailfrom: str, ip: str, name: str, *, short: bool = False) -> str:
    """A Gmail Authentication-Results value for a genuine salesforce.com mail."""
    policy_comment = "(p=REJECT)" if short else "(p=REJECT sp=REJECT dis=NONE)"
    return (
        "mx.google.com;\n"
        f"       dkim=pass header.i=@salesforce.com header.s=sf112018 header.b={digest(name, 8)};\n"
        f"       spf=pass (google.com: domain of {mailfrom} designates {ip} as permitted sender)"
        f" smtp.mailfrom={mailfrom};\n"
        f"       dmarc=pass {policy_comment} header.from=salesforce.com"
    )


def gmail_trace(
    name: str,
    rcpt: str,
    sent: datetime,
    *,
    host: str,
    ip: str,
    mailfrom: str,
    auth_results: str | None,
    spf: str = "pass",
) -> list[tuple[str, str]]:
    """Headers Gmail prepends on delivery (newest first)."""
    d = digest(name)
    hops = [
        ("Delivered-To", rcpt),
        (
            "Received",
            f"by 2002:a05:6a10:{d[:4]}:b0:0:0:0 with SMTP id {d[4:8]}csp{int(d[8:13], 16)}pxb;\n"
            f"        {gmail_stamp(sent + timedelta(seconds=2))}",
        ),
        ("Return-Path", f"<{mailfrom}>"),
        (
            "Received",
            f"from {host} ({host}. [{ip}])\n"
            f"        by mx.google.com with ESMTPS id {d[13:20]}si{int(d[20:26], 16)}qkb."
            f"{sent.year}.{sent.month:02d}.{sent.day:02d}\n"
            f"        for <{rcpt}>\n"
            "        (version=TLS1_2 cipher=ECDHE-ECDSA-AES128-GCM-SHA256 bits=128/128);\n"
            f"        {gmail_stamp(sent + timedelta(seconds=1))}",
        ),
        (
            "Received-SPF",
            f"{spf} (google.com: domain of {mailfrom} "
            + ("designates" if spf == "pass" else "does not designate")
            + f" {ip} as permitted sender) client-ip={ip};",
        ),
    ]
    if auth_results is not None:
        hops.append(("Authentication-Results", auth_results))
    return hops


def postfix_trace(name: str, rcpt: str, sent: datetime, host: str, ip: str, mx: str):
    """A corporate (non-Gmail) MX: one Received header, no Authentication-Results."""
    qid = digest(name, 12).upper()
    return [
        (
            "Received",
            f"from {host} ({host} [{ip}])\n"
            f"\tby {mx} (Postfix) with ESMTPS id 4{qid}\n"
            f"\tfor <{rcpt}>; {format_datetime((sent + timedelta(seconds=1)).astimezone(UTC))}"
            " (UTC)",
        )
    ]


def render(headers: list[tuple[str, str]], body: bytes) -> bytes:
    out = []
    for key, value in headers:
        out.append(f"{key}: {value}\n".encode("ascii"))
    return b"".join(out) + b"\n" + body


def multipart_alternative(boundary: str, parts: list[tuple[str, str, bytes]]) -> bytes:
    """parts: (content-type value, transfer encoding, encoded body)."""
    chunks = [b"\n"]
    for ctype, cte, body in parts:
        chunks.append(f"--{boundary}\n".encode())
        chunks.append(f"Content-Type: {ctype}\nContent-Transfer-Encoding: {cte}\n\n".encode())
        chunks.append(body if body.endswith(b"\n") else body + b"\n")
        chunks.append(b"\n")
    chunks.append(f"--{boundary}--\n".encode())
    return b"".join(chunks)


def java_boundary(name: str) -> str:
    d = digest(name)
    return f"----=_Part_{int(d[:4], 16)}_{int(d[4:12], 16)}.{1500000000000 + int(d[12:20], 16)}"


# --------------------------------------------------------------------------- corpus spec


@dataclass
class Mail:
    file: str
    data: bytes
    token: str | None
    username: str | None
    language: str | None
    template: str | None
    received: datetime
    reject: str | None
    about: str
    decoy: str | None = None  # token-shaped string a negative carries

    def expected(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "token": self.token,
            "username": self.username,
            "language": self.language,
            "template": self.template,
            "received": self.received.astimezone(UTC).isoformat(),
            "reject": self.reject,
        }


def genuine(
    name: str,
    *,
    sent: datetime,
    rcpt: str,
    subject: str,
    content: list[tuple[str, str]],
    body: bytes,
    gmail: bool,
    date: str | None = None,
    from_addr: str = "support@salesforce.com",
    from_name: str = "Salesforce",
    to: str | None = None,
    hop: int = 0,
    short_ar: bool = False,
) -> bytes:
    """A mail as Salesforce sends it; trace headers for a Gmail or a Postfix recipient."""
    host, ip = SF_HOSTS[hop % len(SF_HOSTS)]
    if gmail:
        mailfrom = from_addr
        trace = gmail_trace(
            name,
            rcpt,
            sent,
            host=host,
            ip=ip,
            mailfrom=mailfrom,
            auth_results=ar_pass(mailfrom, ip, name, short=short_ar),
        )
    else:
        trace = postfix_trace(name, rcpt, sent, host, ip, "mx1.example.com")
    headers = [
        *trace,
        ("Date", date if date is not None else sfdc_date(sent)),
        ("From", formataddr((from_name, from_addr))),
        ("To", to or rcpt),
        ("Message-ID", sfdc_message_id(name)),
        ("Subject", subject),
        ("MIME-Version", "1.0"),
        *content,
        *sfdc_x_headers(name),
    ]
    return render(headers, body)


def plain_7bit(text: str) -> tuple[list[tuple[str, str]], bytes]:
    return (
        [("Content-Type", "text/plain; charset=UTF-8"), ("Content-Transfer-Encoding", "7bit")],
        text.encode("ascii"),
    )


def current(username: str, token: str, brand: str = "Salesforce") -> str:
    return CURRENT_TEXT.format(brand=brand, username=username, token=token, help_url=HELP_URL)


def build() -> list[Mail]:
    mails: list[Mail] = []
    T = TOKENS

    # 01 current English template, text/plain 7bit, Gmail recipient (newest dana@ positive)
    name, when = "01_current_text.eml", utc(2023, 9, 14, 10, 3, 7)
    ct, body = plain_7bit(current("dana@example.com", T["01"]))
    data = genuine(
        name, sent=when, rcpt="dana@example.com", subject=SUBJECT, content=ct, body=body, gmail=True
    )
    mails.append(
        Mail(
            name,
            data,
            T["01"],
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            "current template, text/plain 7bit, Gmail Authentication-Results pass",
        )
    )

    # 02 HTML only, token split across <span>s, &nbsp; and <br>, quoted-printable
    name, when = "02_current_html_only_split_token.eml", utc(2022, 10, 5, 17, 22, 41)
    tok = T["02"]
    token_html = f"<span>{tok[:12]}</span><span>{tok[12:]}</span>"
    user_html = '<span style="color:#0070d2;">dana@example.com</span>'
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject=SUBJECT,
        content=[
            ("Content-Type", "text/html; charset=UTF-8"),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ],
        body=qp(html_template(user_html, token_html)).encode("ascii"),
        gmail=True,
        hop=1,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            "text/html only (QP); token split over two <span>s in a table cell",
        )
    )

    # 03 multipart/alternative, same token in both parts
    name, when = "03_multipart_alternative.eml", utc(2022, 12, 1, 8, 14, 55)
    tok = T["03"]
    boundary = java_boundary(name)
    body = multipart_alternative(
        boundary,
        [
            ("text/plain; charset=UTF-8", "7bit", current("ops@example.com", tok).encode("ascii")),
            (
                "text/html; charset=UTF-8",
                "quoted-printable",
                qp(html_template("ops@example.com", f"<strong>{tok}</strong>")).encode("ascii"),
            ),
        ],
    )
    data = genuine(
        name,
        sent=when,
        rcpt="ops@example.com",
        subject=SUBJECT,
        content=[("Content-Type", f'multipart/alternative; boundary="{boundary}"')],
        body=body,
        gmail=False,
        hop=2,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "ops@example.com",
            "en",
            "current",
            when,
            None,
            "multipart/alternative text/plain + text/html, same token in both",
        )
    )

    # 04 legacy subject, no Username line (2015)
    name, when = "04_legacy_2015_no_username.eml", utc(2015, 6, 18, 14, 2, 11)
    tok = T["04"]
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="salesforce.com security token confirmation",
        content=[
            ("Content-Type", "text/plain; charset=ISO-8859-1"),
            ("Content-Transfer-Encoding", "7bit"),
        ],
        body=LEGACY_TEXT.format(token=tok).encode("ascii"),
        gmail=False,
        from_name="salesforce.com",
        hop=1,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            None,
            "en",
            "legacy",
            when,
            None,
            "legacy subject and body (2015), no Username line",
        )
    )

    # 05 sandbox subject prefix, sandbox username
    name, when = "05_sandbox_subject.eml", utc(2021, 3, 23, 15, 40, 2)
    tok = T["05"]
    ct, body = plain_7bit(current("dana@example.com.uat", tok))
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Sandbox: " + SUBJECT,
        content=ct,
        body=body,
        gmail=True,
        hop=3,
        short_ar=True,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com.uat",
            "en",
            "current",
            when,
            None,
            '"Sandbox: " subject prefix, username with sandbox suffix .uat',
        )
    )

    # 06 Japanese, ISO-2022-JP 7bit
    name, when = "06_japanese_iso2022jp.eml", datetime(2019, 4, 22, 18, 5, 31, tzinfo=JST)
    tok = T["06"]
    text = JA_TEXT.format(username="yamada@example.co.jp", token=tok, help_url=HELP_URL)
    data = genuine(
        name,
        sent=when,
        rcpt="yamada@example.co.jp",
        subject=Header(JA_SUBJECT, "iso-2022-jp").encode(),
        content=[
            ("Content-Type", 'text/plain; charset="ISO-2022-JP"'),
            ("Content-Transfer-Encoding", "7bit"),
        ],
        body=iso2022jp(text),
        gmail=False,
        date=format_datetime(when),
        hop=0,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "yamada@example.co.jp",
            "ja",
            "current",
            when,
            None,
            "Japanese template, ISO-2022-JP 7bit body, RFC 2047 B-encoded subject",
        )
    )

    # 07 quoted-printable with a soft line break inside the token
    name, when = "07_qp_soft_break_in_token.eml", utc(2020, 7, 9, 21, 47, 16)
    tok = T["07"]
    # The encoder's line limit is chosen so that the label line (33 chars + token) is cut
    # inside the token; 48 is still well within the RFC 2045 limit of 76.
    encoded = qp(current("dana@example.com", tok), maxlinelen=48)
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject=SUBJECT,
        content=[
            ("Content-Type", "text/plain; charset=UTF-8"),
            ("Content-Transfer-Encoding", "quoted-printable"),
        ],
        body=encoded.encode("ascii"),
        gmail=True,
        hop=1,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            'quoted-printable text/plain; a soft line break ("=\\n") cuts the token',
        )
    )

    # 08 base64 text/plain utf-8 (typographic apostrophe makes it non-ASCII)
    name, when = "08_base64_utf8.eml", utc(2020, 11, 30, 12, 0, 58)
    tok = T["08"]
    text = current("dana@example.com", tok).replace("We've", "We\u2019ve")
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject=SUBJECT,
        content=[
            ("Content-Type", "text/plain; charset=utf-8"),
            ("Content-Transfer-Encoding", "base64"),
        ],
        body=b64(text).encode("ascii"),
        gmail=False,
        hop=2,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            "base64 text/plain utf-8 (curly apostrophe)",
        )
    )

    # 09-11 several usernames in one mailbox
    name, when = "09_user_dana_older.eml", utc(2018, 9, 12, 16, 45, 3)
    tok = T["09"]
    ct, body = plain_7bit(current("dana@example.com", tok))
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject=SUBJECT,
        content=ct,
        body=body,
        gmail=True,
        hop=0,
        short_ar=True,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            "dana@example.com, an older token (2018)",
        )
    )

    name, when = "10_user_dana_uat_newer.eml", utc(2023, 11, 8, 9, 31, 27)
    tok = T["10"]
    boundary = java_boundary(name)
    body = multipart_alternative(
        boundary,
        [
            (
                "text/plain; charset=UTF-8",
                "quoted-printable",
                qp(current("dana@example.com.uat", tok)).encode("ascii"),
            ),
            (
                "text/html; charset=UTF-8",
                "quoted-printable",
                qp(html_template("dana@example.com.uat", tok)).encode("ascii"),
            ),
        ],
    )
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Sandbox: " + SUBJECT,
        content=[("Content-Type", f'multipart/alternative; boundary="{boundary}"')],
        body=body,
        gmail=True,
        hop=3,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com.uat",
            "en",
            "current",
            when,
            None,
            "dana@example.com.uat, newer sandbox token (multipart, both parts QP)",
        )
    )

    name, when = "11_user_ops_newest_overall.eml", utc(2024, 6, 3, 6, 58, 12)
    tok = T["11"]
    boundary = java_boundary(name)
    body = multipart_alternative(
        boundary,
        [
            (
                "text/plain; charset=UTF-8",
                "quoted-printable",
                qp(current("ops@example.com", tok)).encode("ascii"),
            ),
            (
                "text/html; charset=UTF-8",
                "quoted-printable",
                qp(html_template("ops@example.com", tok)).encode("ascii"),
            ),
        ],
    )
    data = genuine(
        name,
        sent=when,
        rcpt="ops@example.com",
        subject=SUBJECT,
        content=[("Content-Type", f'multipart/alternative; boundary="{boundary}"')],
        body=body,
        gmail=True,
        hop=1,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "ops@example.com",
            "en",
            "current",
            when,
            None,
            "ops@example.com; the newest message of the whole corpus",
        )
    )

    # 12 long alphanumeric username local part
    name, when = "12_long_username.eml", utc(2022, 6, 15, 3, 26, 9)
    tok = T["12"]
    user = "integrationuser2024prodsync@example.com"
    ct, body = plain_7bit(current(user, tok))
    data = genuine(
        name,
        sent=when,
        rcpt="ops@example.com",
        subject=SUBJECT,
        content=ct,
        body=body,
        gmail=False,
        hop=0,
        to="Integration User <ops@example.com>",  # the user's email address, not its username
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            user,
            "en",
            "current",
            when,
            None,
            "27-char alphanumeric username local part (token-shaped, not a token)",
        )
    )

    # 13 regional sender, white-label subject
    name, when = "13_regional_sender_whitelabel.eml", utc(2021, 5, 19, 11, 9, 44)
    tok = T["13"]
    user = "boxoffice@example.org"
    boundary = java_boundary(name)
    body = multipart_alternative(
        boundary,
        [
            (
                "text/plain; charset=UTF-8",
                "7bit",
                current(user, tok, brand="PatronManager").encode("ascii"),
            ),
            (
                "text/html; charset=UTF-8",
                "quoted-printable",
                qp(html_template(user, tok, brand="PatronManager")).encode("ascii"),
            ),
        ],
    )
    data = genuine(
        name,
        sent=when,
        rcpt=user,
        subject="Your new PatronManager security token",
        content=[("Content-Type", f'multipart/alternative; boundary="{boundary}"')],
        body=body,
        gmail=False,
        hop=3,
        from_addr="support@emea.salesforce.com",
        from_name="PatronManager",
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            user,
            "en",
            "current",
            when,
            None,
            "support@emea.salesforce.com, white-label PatronManager subject",
        )
    )

    # 14 gateway-tagged subject, windows-1252 8bit body with a banner and footer
    name, when = "14_external_email_cp1252.eml", utc(2022, 2, 21, 13, 37, 5)
    tok = T["14"]
    text = (
        "CAUTION: This email originated from outside Soci\u00e9t\u00e9 Exemple. Do not click "
        "links or open\nattachments unless you recognise the sender and know the content is "
        "safe.\n\n"
        + current("dana@example.com", tok)
        + "\n--\nSoci\u00e9t\u00e9 Exemple \u2013 messagerie s\u00e9curis\u00e9e\n"
    )
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="(External Email) " + SUBJECT,
        content=[
            ("Content-Type", "text/plain; charset=windows-1252"),
            ("Content-Transfer-Encoding", "8bit"),
        ],
        body=text.encode("cp1252"),
        gmail=False,
        hop=2,
        to=formataddr(
            ("Dana Martin (Soci\u00e9t\u00e9 Exemple)", "dana@example.com"), charset="windows-1252"
        ),
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            '"(External Email) " prefix; windows-1252 8bit body; encoded To name',
        )
    )

    # 15 no Date header; two Received headers, the topmost is the delivery time
    name = "15_missing_date_header.eml"
    when = utc(2020, 1, 14, 9, 12, 44)
    tok = T["15"]
    headers = [
        (
            "Received",
            "from mta.salesforce.com (smtp12-ph2-sp4.mta.salesforce.com [13.110.74.212])"
            "\n\tby mx1.example.com (Postfix) with ESMTPS id 47xYz1Lq8Rz9sT3"
            "\n\tfor <dana@example.com>; Tue, 14 Jan 2020 09:12:44 +0000",
        ),
        (
            "Received",
            "from [127.0.0.1] (localhost [127.0.0.1])"
            "\n\tby smtp12-ph2-sp4.mta.salesforce.com (envelope-from"
            " <support@salesforce.com>)\n\t(ecelerity 4.2.38.62370 r(:)) with ESMTPS"
            " id 3B/5A-01234-B188D1E5; Tue, 14 Jan 2020 09:12:43 +0000",
        ),
        ("From", "Salesforce <support@salesforce.com>"),
        ("To", "dana@example.com"),
        ("Message-ID", sfdc_message_id(name)),
        ("Subject", SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
        *sfdc_x_headers(name),
    ]
    data = render(headers, current("dana@example.com", tok).encode("ascii"))
    mails.append(
        Mail(
            name,
            data,
            tok,
            "dana@example.com",
            "en",
            "current",
            when,
            None,
            "no Date header; received = topmost Received header's date",
        )
    )

    # 16/17 same user; wall-clock order and instant order disagree
    for name, date, when, tok, about in [
        (
            "16_tz_wallclock_later_but_older.eml",
            "Mon, 02 Mar 2020 09:30:00 +0900",
            utc(2020, 3, 2, 0, 30, 0),
            T["16"],
            "Date 09:30 +0900 (00:30 UTC): older of the pair",
        ),
        (
            "17_tz_wallclock_earlier_but_newer.eml",
            "Mon, 02 Mar 2020 08:00:00 +0000",
            utc(2020, 3, 2, 8, 0, 0),
            T["17"],
            "Date 08:00 +0000: newer instant, earlier clock",
        ),
    ]:
        ct, body = plain_7bit(current("tz@example.com", tok))
        data = genuine(
            name,
            sent=when,
            rcpt="tz@example.com",
            subject=SUBJECT,
            content=ct,
            body=body,
            gmail=False,
            date=date,
            hop=0,
        )
        mails.append(Mail(name, data, tok, "tz@example.com", "en", "current", when, None, about))

    # 18 Japanese, Shift_JIS base64
    name = "18_japanese_shift_jis_base64.eml"
    when = datetime(2021, 8, 10, 9, 15, 20, tzinfo=JST)
    tok = T["18"]
    text = JA_TEXT.format(username="yamada@example.co.jp", token=tok, help_url=HELP_URL)
    data = genuine(
        name,
        sent=when,
        rcpt="yamada@example.co.jp",
        subject=rfc2047_b(JA_SUBJECT, "Shift_JIS"),
        content=[
            ("Content-Type", "text/plain; charset=Shift_JIS"),
            ("Content-Transfer-Encoding", "base64"),
        ],
        body=b64(text, "shift_jis").encode("ascii"),
        gmail=True,
        date=format_datetime(when),
        hop=3,
    )
    mails.append(
        Mail(
            name,
            data,
            tok,
            "yamada@example.co.jp",
            "ja",
            "current",
            when,
            None,
            "Japanese template, Shift_JIS base64 body and subject",
        )
    )

    mails.extend(negatives())
    return mails


def negatives() -> list[Mail]:
    mails: list[Mail] = []
    T = TOKENS

    def neg(name, when, data, reject, about, decoy=None):
        mails.append(Mail(name, data, None, None, None, None, when, reject, about, decoy))

    # 19 identity verification code: genuine sender, newest message for dana@example.com
    name, when = "19_neg_verification_code.eml", utc(2024, 5, 30, 7, 41, 19)
    text = """\
You recently logged in to Salesforce from a browser or app that we don't recognize. To
log in, enter the following verification code.

Verification Code: 872221

If you didn't try to log in, contact your Salesforce admin right away.

Username: dana@example.com
Browser: Chrome
Operating System: Mac OSX
Location: Lyon, France

Thanks,
Salesforce
"""
    ct, body = plain_7bit(text)
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Verify your identity in Salesforce",
        content=ct,
        body=body,
        gmail=True,
        from_addr="noreply@salesforce.com",
        hop=1,
    )
    neg(
        name,
        when,
        data,
        "verification-code",
        "identity verification code from noreply@salesforce.com (DMARC pass)",
    )

    # 20 finish resetting password
    name, when = "20_neg_finish_resetting_password.eml", utc(2023, 9, 14, 9, 58, 40)
    text = """\
Hi Dana,

We received a request to reset the password for your Salesforce account. To finish
resetting your password, go to the following link. This link expires in 24 hours.

https://login.salesforce.com/secur/forgotpassword.jsp?fpk=4Q8xY2mNcRt7uVw0LpZs1KdJ9fHbGa3E

Username: dana@example.com

If you didn't request a password reset, ignore this email or contact your administrator.

Thanks,
Salesforce
"""
    ct, body = plain_7bit(text)
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Finish resetting your Salesforce password",
        content=ct,
        body=body,
        gmail=True,
        hop=0,
    )
    neg(name, when, data, "not-a-token-mail", "password reset link (trusted sender)")

    # 21 password has been reset: 2 s after the token mail 01, mentions the security token
    name, when = "21_neg_password_has_been_reset.eml", utc(2023, 9, 14, 10, 3, 9)
    text = """\
Your Salesforce password has been reset.

Username: dana@example.com

Your security token was also reset. We've sent your new security token in a separate
email; use it with API or desktop clients that require it.

If you didn't reset your password, contact your Salesforce administrator immediately.

Thanks,
Salesforce
"""
    ct, body = plain_7bit(text)
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Your Salesforce password has been reset",
        content=ct,
        body=body,
        gmail=True,
        hop=0,
    )
    neg(
        name,
        when,
        data,
        "not-a-token-mail",
        "password-reset confirmation mentioning the token, 2 s newer than 01",
    )

    # 22 welcome / verify account (oldest message in the corpus)
    name, when = "22_neg_welcome_verify_account.eml", utc(2014, 11, 3, 16, 20, 0)
    text = """\
Welcome to Salesforce!

To get started, go to https://login.salesforce.com/?c=kVfG3pQx9Lm2RtZ8wYb5NcHd7JsA1eUoTqWi4Xy6Pn0Ez

Username: dana@example.com

Click the link to verify your account and set your password. Your username is shown
above; keep it for future logins.

Thanks,
salesforce.com
"""
    ct, body = plain_7bit(text)
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Welcome to Salesforce: Verify your account",
        content=ct,
        body=body,
        gmail=False,
        from_name="salesforce.com",
        hop=2,
    )
    neg(name, when, data, "not-a-token-mail", "welcome / verify-account mail, long key in URL")

    # 23 Re: from a colleague quoting a token in "> " lines
    name, when = "23_neg_reply_quoting_token.eml", utc(2023, 12, 4, 14, 5, 33)
    decoy = T["23"]
    quoted = current("dana@example.com", decoy)
    text = (
        "Thanks Dana, the new token works for the Jenkins job now. I've updated the\n"
        "credential store, so you can delete the email.\n\nPriya\n\n"
        "On Mon, 4 Dec 2023 at 13:51, Dana Martin <dana@example.com> wrote:\n"
        + "".join(f"> {line}\n" if line else ">\n" for line in quoted.splitlines())
    )
    headers = [
        (
            "Received",
            f"from mail-sor-f41.google.com (mail-sor-f41.google.com. [209.85.220.41])\n"
            f"        by mx.google.com with SMTPS id {digest(name, 10)}\n"
            "        for <dana@example.com>;\n"
            f"        {gmail_stamp(when + timedelta(seconds=1))}",
        ),
        ("Date", format_datetime(when.astimezone(timezone(timedelta(hours=1))))),
        ("From", "Priya Shah <priya.shah@example.com>"),
        ("To", "Dana Martin <dana@example.com>"),
        ("Message-ID", f"<CAF{digest(name, 24)}@mail.gmail.com>"),
        ("In-Reply-To", f"<CAD{digest('dana-fwd', 24)}@mail.gmail.com>"),
        ("References", f"<CAD{digest('dana-fwd', 24)}@mail.gmail.com>"),
        ("Subject", "Re: " + SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", 'text/plain; charset="UTF-8"'),
        ("Content-Transfer-Encoding", "quoted-printable"),
    ]
    neg(
        name,
        when,
        render(headers, qp(text).encode("ascii")),
        "quoted",
        'Re: from a colleague, full template quoted in "> " lines',
        decoy,
    )

    # 24 FW: from a colleague with a Gmail forwarded-message block (multipart)
    name, when = "24_neg_forward_from_colleague.eml", utc(2024, 1, 17, 9, 2, 48)
    decoy = T["24"]
    fwd_text = (
        "Hi Dana,\n\nThis landed in the admin shared mailbox after this morning's reset -\n"
        "forwarding it to you.\n\nMarco\n\n"
        "---------- Forwarded message ---------\n"
        "From: Salesforce <support@salesforce.com>\n"
        "Date: Wed, 17 Jan 2024 at 08:55\n"
        f"Subject: {SUBJECT}\n"
        "To: <admins@example.com>\n\n\n" + current("dana@example.com", decoy)
    )
    fwd_html = (
        '<div dir="ltr">Hi Dana,<div><br></div><div>This landed in the admin shared mailbox '
        "after this morning&#39;s reset -<br>forwarding it to you.</div><div><br></div>"
        '<div>Marco</div><br><div class="gmail_quote"><div dir="ltr" class="gmail_attr">'
        '---------- Forwarded message ---------<br>From: <strong class="gmail_sendername" '
        'dir="auto">Salesforce</strong> <span dir="auto">&lt;<a href="mailto:support@'
        'salesforce.com">support@salesforce.com</a>&gt;</span><br>Date: Wed, 17 Jan 2024 at '
        f'08:55<br>Subject: {SUBJECT}<br>To: &lt;<a href="mailto:admins@example.com">'
        "admins@example.com</a>&gt;<br></div><br><br>"
        + html_template("dana@example.com", decoy)
        .split("<body", 1)[1]
        .split(">", 1)[1]
        .split("</body>", 1)[0]
        + "</div></div>\n"
    )
    boundary = "000000000000" + digest(name, 16)
    body = multipart_alternative(
        boundary,
        [
            ('text/plain; charset="UTF-8"', "quoted-printable", qp(fwd_text).encode("ascii")),
            ('text/html; charset="UTF-8"', "quoted-printable", qp(fwd_html).encode("ascii")),
        ],
    )
    headers = [
        (
            "Received",
            "from mail-sor-f65.google.com (mail-sor-f65.google.com. [209.85.220.65])\n"
            f"        by mx.google.com with SMTPS id {digest(name, 10)}\n"
            "        for <dana@example.com>;\n"
            f"        {gmail_stamp(when + timedelta(seconds=1))}",
        ),
        ("Date", format_datetime(when.astimezone(timezone(timedelta(hours=1))))),
        ("From", "Marco Rossi <marco.rossi@example.com>"),
        ("To", "Dana Martin <dana@example.com>"),
        ("Message-ID", f"<CAM{digest(name, 24)}@mail.gmail.com>"),
        ("Subject", "FW: " + SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    neg(
        name,
        when,
        render(headers, body),
        "quoted",
        "FW: from a colleague, full token mail in a forwarded-message block",
        decoy,
    )

    # 25 newsletter from a salesforce.com address explaining tokens, with an example
    name, when = "25_neg_newsletter.eml", utc(2023, 10, 26, 15, 0, 4)
    decoy = T["25"]
    text = f"""\
Admin Digest - October 2023

5 ways to keep your API integrations secure

1. Know your security token
Your security token is a case-sensitive alphanumeric code that you append to your password
when you log in from an API or a desktop client. Salesforce emails it to you whenever you
reset it. The email looks like this:

    Username: admin@yourcompany.com
    Security token (case-sensitive): {decoy}

2. Prefer OAuth 2.0 connected apps over passwords plus tokens.
3. Restrict login IP ranges for integration users.
4. Rotate credentials when people leave the team.
5. Monitor the Login History page.

Read more: https://www.salesforce.com/blog/api-security-tips/

You are receiving this email because you subscribed to Salesforce Admin Digest.
Unsubscribe: https://www.salesforce.com/form/unsubscribe/
Salesforce, Inc., Salesforce Tower, 415 Mission Street, 3rd Floor, San Francisco, CA 94105
"""
    html_body = (
        "<html><body><h1>Admin Digest &ndash; October 2023</h1>"
        "<h2>5 ways to keep your API integrations secure</h2>"
        "<p><b>1. Know your security token</b><br>Your security token is a case-sensitive "
        "alphanumeric code that you append to your password when you log in from an API or a "
        "desktop client. Salesforce emails it to you whenever you reset it. The email looks "
        "like this:</p><blockquote>Username:&nbsp;admin@yourcompany.com<br>"
        f"Security token (case-sensitive):&nbsp;{decoy}</blockquote>"
        "<p>2. Prefer OAuth 2.0 connected apps over passwords plus tokens.<br>"
        "3. Restrict login IP ranges for integration users.<br>"
        "4. Rotate credentials when people leave the team.<br>"
        "5. Monitor the Login History page.</p>"
        '<p><a href="https://www.salesforce.com/blog/api-security-tips/">Read more</a></p>'
        "</body></html>\n"
    )
    boundary = java_boundary(name)
    body = multipart_alternative(
        boundary,
        [
            ("text/plain; charset=UTF-8", "quoted-printable", qp(text).encode("ascii")),
            ("text/html; charset=UTF-8", "quoted-printable", qp(html_body).encode("ascii")),
        ],
    )
    data = genuine(
        name,
        sent=when,
        rcpt="dana@example.com",
        subject="Admin Digest: 5 ways to keep your API integrations secure",
        content=[("Content-Type", f'multipart/alternative; boundary="{boundary}"')],
        body=body,
        gmail=True,
        from_addr="newsletters@salesforce.com",
        hop=2,
    )
    neg(
        name,
        when,
        data,
        "not-a-token-mail",
        "marketing newsletter from newsletters@salesforce.com with an example token",
        decoy,
    )

    # 26 look-alike sender domain with the full current template (its own auth passes)
    name, when = "26_neg_lookalike_domain.eml", utc(2024, 2, 12, 18, 30, 51)
    decoy = T["26"]
    evil = "support@salesforce.com.evil.net"
    ar = (
        "mx.google.com;\n"
        "       dkim=pass header.i=@salesforce.com.evil.net header.s=s1"
        f" header.b={digest(name, 8)};\n"
        "       spf=pass (google.com: domain of bounce@salesforce.com.evil.net designates"
        " 198.51.100.23 as permitted sender) smtp.mailfrom=bounce@salesforce.com.evil.net;\n"
        "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=salesforce.com.evil.net"
    )
    headers = [
        *gmail_trace(
            name,
            "dana@example.com",
            when,
            host="mail.salesforce.com.evil.net",
            ip="198.51.100.23",
            mailfrom="bounce@salesforce.com.evil.net",
            auth_results=ar,
        ),
        ("Date", sfdc_date(when)),
        ("From", f"Salesforce <{evil}>"),
        ("To", "dana@example.com"),
        ("Message-ID", f"<{digest(name, 20)}@salesforce.com.evil.net>"),
        ("Subject", SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
        *sfdc_x_headers(name),
    ]
    neg(
        name,
        when,
        render(headers, current("dana@example.com", decoy).encode("ascii")),
        "untrusted-sender",
        "From support@salesforce.com.evil.net, full current template",
        decoy,
    )

    # 27 From support@salesforce.com but Gmail says dkim/spf/dmarc fail
    name, when = "27_neg_dmarc_fail.eml", utc(2024, 3, 19, 22, 14, 37)
    decoy = T["27"]
    ar = (
        "mx.google.com; dkim=fail header.d=salesforce.com; spf=fail smtp.mailfrom=salesforce.com;"
        " dmarc=fail (p=REJECT) header.from=salesforce.com"
    )
    headers = [
        *gmail_trace(
            name,
            "dana@example.com",
            when,
            host="mail.bulk-sender.example",
            ip="203.0.113.45",
            mailfrom="support@salesforce.com",
            auth_results=ar,
            spf="fail",
        ),
        ("Date", sfdc_date(when)),
        ("From", "Salesforce <support@salesforce.com>"),
        ("To", "dana@example.com"),
        ("Message-ID", sfdc_message_id(name)),
        ("Subject", SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
        *sfdc_x_headers(name),
    ]
    neg(
        name,
        when,
        render(headers, current("dana@example.com", decoy).encode("ascii")),
        "dmarc-fail",
        "From support@salesforce.com, top Authentication-Results dmarc=fail",
        decoy,
    )

    # 28 real (top) Authentication-Results fails; a forged one below it claims pass
    name, when = "28_neg_forged_auth_results_below_fail.eml", utc(2024, 4, 25, 5, 9, 2)
    decoy = T["28"]
    real_ar = (
        "mx.google.com;\n"
        "       spf=fail (google.com: domain of support@salesforce.com does not designate"
        " 192.0.2.77 as permitted sender) smtp.mailfrom=support@salesforce.com;\n"
        "       dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=salesforce.com"
    )
    forged_ar = ar_pass("support@salesforce.com", "13.110.6.222", "forged")
    headers = [
        *gmail_trace(
            name,
            "dana@example.com",
            when,
            host="vps77.hosting.example",
            ip="192.0.2.77",
            mailfrom="support@salesforce.com",
            auth_results=real_ar,
            spf="fail",
        ),
        # everything below was written by the sender
        ("Authentication-Results", forged_ar),
        (
            "Received",
            "from [10.8.0.2] (unknown [10.8.0.2])\n"
            "\tby vps77.hosting.example (Postfix) with ESMTPSA id 8F2A11C0042\n"
            f"\tfor <dana@example.com>; {format_datetime(when)}",
        ),
        ("Date", sfdc_date(when)),
        ("From", "Salesforce <support@salesforce.com>"),
        ("To", "dana@example.com"),
        ("Message-ID", sfdc_message_id(name)),
        ("Subject", SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
        *sfdc_x_headers(name),
    ]
    neg(
        name,
        when,
        render(headers, current("dana@example.com", decoy).encode("ascii")),
        "dmarc-fail",
        "top Authentication-Results (mx.google.com) dmarc=fail; forged dmarc=pass below it",
        decoy,
    )
    return mails


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


def verify(mails: list[Mail]) -> list[str]:
    problems: list[str] = []
    tokens = list(TOKENS.values())
    if len(set(tokens)) != len(tokens):
        problems.append("tokens are not unique")
    for t in tokens:
        if not (re.fullmatch(r"[A-Za-z0-9]{24,25}", t) and t != t.lower() and t != t.upper()):
            problems.append(f"bad token shape {t}")

    rows = []
    for m in mails:
        before = len(problems)
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
        texts = message_text(msg)
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
        rows.append((m, len(problems) == before))

    # file-specific properties
    by = {m.file: m for m in mails}
    m02 = by["02_current_html_only_split_token.eml"]
    src = message_text(
        BytesParser(policy=policy.default).parsebytes((HERE / m02.file).read_bytes())
    )[0][1]
    if m02.token in src or f"<span>{m02.token[:12]}</span><span>" not in src:
        problems.append("02: token should be split across <span>s in the HTML source")
    m07 = by["07_qp_soft_break_in_token.eml"]
    raw07 = (HERE / m07.file).read_bytes().decode("ascii")
    if m07.token in raw07 or not any(
        f"{m07.token[:i]}=\n{m07.token[i:]}" in raw07 for i in range(1, len(m07.token))
    ):
        problems.append("07: no QP soft break inside the token")
    m14 = (HERE / "14_external_email_cp1252.eml").read_bytes()
    if b"Soci\xe9t\xe9" not in m14 or b"\x96" not in m14:
        problems.append("14: expected raw windows-1252 bytes")

    # "newest" properties
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

"""Encoders, header builders and the ``Mail`` record the corpus tables are rendered with."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import quoprimime
from email.utils import format_datetime, formataddr
from typing import Any

from corpus_texts import CURRENT_TEXT, HELP_URL, PACIFIC

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

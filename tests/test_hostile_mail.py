"""Broken and hostile mail: bounded work, no crash, no token from anything but a token mail."""

from __future__ import annotations

import base64
import time
from datetime import UTC, datetime

from inbox_finder.engine import MAX_MESSAGE_BYTES, Rejection, evaluate
from inbox_finder.mail.parse import parse_message
from inbox_finder.model import Candidate, Finding
from inbox_finder.testing.mail import new_token, token_mail
from inbox_finder.trust.policy import TrustPolicy

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _eval(raw: bytes) -> Finding | Rejection:
    return evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())


def test_token_mail_with_50mb_attachment_is_read_in_bounded_time() -> None:
    token = new_token()
    head, _, body = token_mail(token).partition(b"\n\n")
    blob = base64.encodebytes(b"\0" * (50 * 1024 * 1024))
    raw = (
        head.replace(b"Content-Type: text/plain", b'Content-Type: multipart/mixed; boundary="B"')
        + b"\n\n--B\nContent-Type: text/plain; charset=utf-8\n\n"
        + body
        + b"\n--B\nContent-Type: application/zip\nContent-Transfer-Encoding: base64\n\n"
        + blob
        + b"\n--B--\n"
    )
    assert len(raw) > 10 * MAX_MESSAGE_BYTES
    start = time.process_time()
    result = _eval(raw)
    assert isinstance(result, Finding) and result.token == token
    assert time.process_time() - start < 5  # generous: parsing is capped at MAX_MESSAGE_BYTES


def test_html_bomb_is_bounded() -> None:
    html = "<div>" * 200_000 + "&amp;" * 200_000 + "</div>" * 200_000
    raw = (
        b"From: support@salesforce.com\nSubject: Your new Salesforce security token\n"
        b"Content-Type: text/html; charset=utf-8\n\n" + html.encode()
    )
    result = _eval(raw)
    assert isinstance(result, Rejection)


def test_header_injection_and_nul_bytes() -> None:
    token = new_token()
    raw = token_mail(token).replace(
        b"From: Salesforce <support@salesforce.com>",
        b"From: evil@evil.net\x00\nFrom: support@salesforce.com",
    )
    assert isinstance(_eval(raw), Rejection)  # two From headers: no single sender


def test_missing_mime_version_and_bogus_date_still_work() -> None:
    token = new_token()
    raw = token_mail(token).replace(b"MIME-Version: 1.0\n", b"")
    raw = raw.replace(b"Date: ", b"Date: Mon, 99 Foo 20000 99:99:99 +9999\nX-Old-Date: ", 1)
    result = _eval(raw)
    assert isinstance(result, Finding) and result.token == token
    assert parse_message(raw).headers.date is None


def test_unknown_and_wrong_charsets_decode_without_error() -> None:
    body = "Username: dana@example.com\nSecurity token (case-sensitive): {t}\nSociété\n"
    token = new_token()
    for charset, data in [
        ("x-unknown-charset", body.format(t=token).encode("utf-8")),
        ("utf-8", body.format(t=token).encode("latin-1")),  # mislabelled
        ("shift_jis", body.format(t=token).replace("é", "①").encode("cp932")),  # cp932-only char
    ]:
        raw = (
            b"From: support@salesforce.com\nSubject: Your new Salesforce security token\n"
            + f"Content-Type: text/plain; charset={charset}\nContent-Transfer-Encoding: 8bit\n\n".encode()
            + data
        )
        result = _eval(raw)
        assert isinstance(result, Finding) and result.token == token, charset

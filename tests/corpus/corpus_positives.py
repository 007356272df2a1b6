"""The corpus's token mails as a table: one row per file (name, receive time, how the body is
built, the headers that differ from a plain genuine mail, and the expected values)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from email.header import Header
from email.utils import format_datetime, formataddr
from typing import Any

from corpus_parts import (
    Mail,
    b64,
    current,
    genuine,
    iso2022jp,
    java_boundary,
    multipart_alternative,
    plain_7bit,
    qp,
    render,
    rfc2047_b,
    sfdc_message_id,
    sfdc_x_headers,
    utc,
)
from corpus_texts import (
    HELP_URL,
    JA_SUBJECT,
    JA_TEXT,
    JST,
    LEGACY_TEXT,
    SUBJECT,
    TOKENS,
    html_template,
)

Content = list[tuple[str, str]]
#: (file name, token) -> (content headers, encoded body)
Body = Callable[[str, str], tuple[Content, bytes]]
#: token -> one multipart/alternative part: (content type, transfer encoding, encoded body)
Part = Callable[[str], tuple[str, str, bytes]]


def plain(username: str) -> Body:
    """The current template, text/plain UTF-8 7bit."""
    return lambda name, tok: plain_7bit(current(username, tok))


def single(ctype: str, cte: str, encode: Callable[[str], bytes]) -> Body:
    """One non-multipart body: ``encode(token)`` gives the encoded bytes."""
    content = [("Content-Type", ctype), ("Content-Transfer-Encoding", cte)]
    return lambda name, tok: (content, encode(tok))


def text_part(username: str, cte: str = "quoted-printable", brand: str = "Salesforce") -> Part:
    """The current template as a text/plain UTF-8 part (7bit or quoted-printable)."""

    def part(tok: str) -> tuple[str, str, bytes]:
        text = current(username, tok, brand=brand)
        body = text.encode("ascii") if cte == "7bit" else qp(text).encode("ascii")
        return ("text/plain; charset=UTF-8", cte, body)

    return part


def html_part(username: str, wrap: str = "{}", brand: str = "Salesforce") -> Part:
    """The HTML template as a quoted-printable text/html part; ``wrap`` formats the token."""
    return lambda tok: (
        "text/html; charset=UTF-8",
        "quoted-printable",
        qp(html_template(username, wrap.format(tok), brand=brand)).encode("ascii"),
    )


def alternative(*parts: Part) -> Body:
    """multipart/alternative with a JavaMail-style boundary derived from the file name."""

    def body(name: str, tok: str) -> tuple[Content, bytes]:
        boundary = java_boundary(name)
        content = [("Content-Type", f'multipart/alternative; boundary="{boundary}"')]
        return content, multipart_alternative(boundary, [p(tok) for p in parts])

    return body


def _html_split_token(tok: str) -> bytes:
    token_html = f"<span>{tok[:12]}</span><span>{tok[12:]}</span>"
    user_html = '<span style="color:#0070d2;">dana@example.com</span>'
    return qp(html_template(user_html, token_html)).encode("ascii")


def _cp1252_with_banner(tok: str) -> bytes:
    text = (
        "CAUTION: This email originated from outside Soci\u00e9t\u00e9 Exemple. Do not click "
        "links or open\nattachments unless you recognise the sender and know the content is "
        "safe.\n\n"
        + current("dana@example.com", tok)
        + "\n--\nSoci\u00e9t\u00e9 Exemple \u2013 messagerie s\u00e9curis\u00e9e\n"
    )
    return text.encode("cp1252")


def _japanese(tok: str) -> str:
    return JA_TEXT.format(username="yamada@example.co.jp", token=tok, help_url=HELP_URL)


@dataclass(frozen=True)
class Positive:
    """One token mail of the corpus; its token is ``TOKENS[file[:2]]``."""

    file: str
    when: datetime
    username: str | None
    about: str
    body: Body
    rcpt: str = "dana@example.com"
    subject: str = SUBJECT
    gmail: bool = True
    hop: int = 0
    language: str = "en"
    template: str = "current"
    #: More ``genuine()`` keywords: date, from_addr, from_name, to, short_ar.
    headers: Mapping[str, Any] = field(default_factory=dict)
    #: Renders the whole message instead of ``genuine()`` (a mail without a Date header).
    render: Callable[[Positive, str], bytes] | None = None


def _without_date(row: Positive, tok: str) -> bytes:
    """15: no Date header; two Received headers, the topmost is the delivery time."""
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
        ("Message-ID", sfdc_message_id(row.file)),
        ("Subject", SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
        *sfdc_x_headers(row.file),
    ]
    return render(headers, current("dana@example.com", tok).encode("ascii"))


DANA, UAT, OPS = "dana@example.com", "dana@example.com.uat", "ops@example.com"
_JA_WHEN = datetime(2019, 4, 22, 18, 5, 31, tzinfo=JST)
_SJIS_WHEN = datetime(2021, 8, 10, 9, 15, 20, tzinfo=JST)
_BOX = "boxoffice@example.org"
_LONG = "integrationuser2024prodsync@example.com"

POSITIVES = [
    Positive(
        "01_current_text.eml",
        utc(2023, 9, 14, 10, 3, 7),
        DANA,
        "current template, text/plain 7bit, Gmail Authentication-Results pass",
        plain(DANA),
    ),
    Positive(
        "02_current_html_only_split_token.eml",
        utc(2022, 10, 5, 17, 22, 41),
        DANA,
        "text/html only (QP); token split over two <span>s in a table cell",
        single("text/html; charset=UTF-8", "quoted-printable", _html_split_token),
        hop=1,
    ),
    Positive(
        "03_multipart_alternative.eml",
        utc(2022, 12, 1, 8, 14, 55),
        OPS,
        "multipart/alternative text/plain + text/html, same token in both",
        alternative(text_part(OPS, "7bit"), html_part(OPS, "<strong>{}</strong>")),
        rcpt=OPS,
        gmail=False,
        hop=2,
    ),
    Positive(
        "04_legacy_2015_no_username.eml",
        utc(2015, 6, 18, 14, 2, 11),
        None,
        "legacy subject and body (2015), no Username line",
        single(
            "text/plain; charset=ISO-8859-1",
            "7bit",
            lambda tok: LEGACY_TEXT.format(token=tok).encode("ascii"),
        ),
        subject="salesforce.com security token confirmation",
        gmail=False,
        hop=1,
        template="legacy",
        headers={"from_name": "salesforce.com"},
    ),
    Positive(
        "05_sandbox_subject.eml",
        utc(2021, 3, 23, 15, 40, 2),
        UAT,
        '"Sandbox: " subject prefix, username with sandbox suffix .uat',
        plain(UAT),
        subject="Sandbox: " + SUBJECT,
        hop=3,
        headers={"short_ar": True},
    ),
    Positive(
        "06_japanese_iso2022jp.eml",
        _JA_WHEN,
        "yamada@example.co.jp",
        "Japanese template, ISO-2022-JP 7bit body, RFC 2047 B-encoded subject",
        single('text/plain; charset="ISO-2022-JP"', "7bit", lambda t: iso2022jp(_japanese(t))),
        rcpt="yamada@example.co.jp",
        subject=Header(JA_SUBJECT, "iso-2022-jp").encode(),
        gmail=False,
        language="ja",
        headers={"date": format_datetime(_JA_WHEN)},
    ),
    Positive(
        "07_qp_soft_break_in_token.eml",
        utc(2020, 7, 9, 21, 47, 16),
        DANA,
        'quoted-printable text/plain; a soft line break ("=\\n") cuts the token',
        # The encoder's line limit is chosen so that the label line (33 chars + token) is cut
        # inside the token; 48 is still well within the RFC 2045 limit of 76.
        single(
            "text/plain; charset=UTF-8",
            "quoted-printable",
            lambda tok: qp(current(DANA, tok), maxlinelen=48).encode("ascii"),
        ),
        hop=1,
    ),
    Positive(
        "08_base64_utf8.eml",
        utc(2020, 11, 30, 12, 0, 58),
        DANA,
        "base64 text/plain utf-8 (curly apostrophe)",
        single(
            "text/plain; charset=utf-8",
            "base64",
            lambda tok: b64(current(DANA, tok).replace("We've", "We\u2019ve")).encode("ascii"),
        ),
        gmail=False,
        hop=2,
    ),
    Positive(
        "09_user_dana_older.eml",
        utc(2018, 9, 12, 16, 45, 3),
        DANA,
        "dana@example.com, an older token (2018)",
        plain(DANA),
        headers={"short_ar": True},
    ),
    Positive(
        "10_user_dana_uat_newer.eml",
        utc(2023, 11, 8, 9, 31, 27),
        UAT,
        "dana@example.com.uat, newer sandbox token (multipart, both parts QP)",
        alternative(text_part(UAT), html_part(UAT)),
        subject="Sandbox: " + SUBJECT,
        hop=3,
    ),
    Positive(
        "11_user_ops_newest_overall.eml",
        utc(2024, 6, 3, 6, 58, 12),
        OPS,
        "ops@example.com; the newest message of the whole corpus",
        alternative(text_part(OPS), html_part(OPS)),
        rcpt=OPS,
        hop=1,
    ),
    Positive(
        "12_long_username.eml",
        utc(2022, 6, 15, 3, 26, 9),
        _LONG,
        "27-char alphanumeric username local part (token-shaped, not a token)",
        plain(_LONG),
        rcpt=OPS,
        gmail=False,
        # The user's email address, not its username.
        headers={"to": "Integration User <ops@example.com>"},
    ),
    Positive(
        "13_regional_sender_whitelabel.eml",
        utc(2021, 5, 19, 11, 9, 44),
        _BOX,
        "support@emea.salesforce.com, white-label PatronManager subject",
        alternative(
            text_part(_BOX, "7bit", brand="PatronManager"),
            html_part(_BOX, brand="PatronManager"),
        ),
        rcpt=_BOX,
        subject="Your new PatronManager security token",
        gmail=False,
        hop=3,
        headers={"from_addr": "support@emea.salesforce.com", "from_name": "PatronManager"},
    ),
    Positive(
        "14_external_email_cp1252.eml",
        utc(2022, 2, 21, 13, 37, 5),
        DANA,
        '"(External Email) " prefix; windows-1252 8bit body; encoded To name',
        single("text/plain; charset=windows-1252", "8bit", _cp1252_with_banner),
        subject="(External Email) " + SUBJECT,
        gmail=False,
        hop=2,
        headers={
            "to": formataddr(
                ("Dana Martin (Soci\u00e9t\u00e9 Exemple)", DANA), charset="windows-1252"
            )
        },
    ),
    Positive(
        "15_missing_date_header.eml",
        utc(2020, 1, 14, 9, 12, 44),
        DANA,
        "no Date header; received = topmost Received header's date",
        plain(DANA),
        render=_without_date,
    ),
    # 16/17: the same user; wall-clock order and instant order disagree.
    Positive(
        "16_tz_wallclock_later_but_older.eml",
        utc(2020, 3, 2, 0, 30, 0),
        "tz@example.com",
        "Date 09:30 +0900 (00:30 UTC): older of the pair",
        plain("tz@example.com"),
        rcpt="tz@example.com",
        gmail=False,
        headers={"date": "Mon, 02 Mar 2020 09:30:00 +0900"},
    ),
    Positive(
        "17_tz_wallclock_earlier_but_newer.eml",
        utc(2020, 3, 2, 8, 0, 0),
        "tz@example.com",
        "Date 08:00 +0000: newer instant, earlier clock",
        plain("tz@example.com"),
        rcpt="tz@example.com",
        gmail=False,
        headers={"date": "Mon, 02 Mar 2020 08:00:00 +0000"},
    ),
    Positive(
        "18_japanese_shift_jis_base64.eml",
        _SJIS_WHEN,
        "yamada@example.co.jp",
        "Japanese template, Shift_JIS base64 body and subject",
        single(
            "text/plain; charset=Shift_JIS",
            "base64",
            lambda tok: b64(_japanese(tok), "shift_jis").encode("ascii"),
        ),
        rcpt="yamada@example.co.jp",
        subject=rfc2047_b(JA_SUBJECT, "Shift_JIS"),
        hop=3,
        language="ja",
        headers={"date": format_datetime(_SJIS_WHEN)},
    ),
]


def build_positive(row: Positive) -> Mail:
    """Render one row into its file bytes and expected values."""
    tok = TOKENS[row.file[:2]]
    if row.render is not None:
        data = row.render(row, tok)
    else:
        content, body = row.body(row.file, tok)
        data = genuine(
            row.file,
            sent=row.when,
            rcpt=row.rcpt,
            subject=row.subject,
            content=content,
            body=body,
            gmail=row.gmail,
            hop=row.hop,
            **row.headers,
        )
    return Mail(
        row.file,
        data,
        tok,
        row.username,
        row.language,
        row.template,
        row.when,
        None,
        row.about,
    )

"""The corpus's look-alikes as a table: one row per file (name, receive time, why it must be
rejected, a description) and the builder that renders it; a decoy is the token-shaped string
``TOKENS[file[:2]]`` a negative carries."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime

from corpus_parts import (
    Mail,
    ar_pass,
    current,
    digest,
    genuine,
    gmail_stamp,
    gmail_trace,
    java_boundary,
    multipart_alternative,
    plain_7bit,
    qp,
    render,
    sfdc_date,
    sfdc_message_id,
    sfdc_x_headers,
    utc,
)
from corpus_texts import (
    NEWSLETTER_HTML,
    NEWSLETTER_TEXT,
    PASSWORD_RESET_TEXT,
    RESET_LINK_TEXT,
    SUBJECT,
    TOKENS,
    VERIFICATION_TEXT,
    WELCOME_TEXT,
    html_template,
)

#: (file name, receive time, decoy or None) -> the file's bytes
Builder = Callable[[str, datetime, str | None], bytes]
Headers = list[tuple[str, str]]
CET = timezone(timedelta(hours=1))


def trusted_text(text: str, subject: str, hop: int, **more: object) -> Builder:
    """A genuine Salesforce mail (Gmail recipient unless ``gmail=False``) with a text body."""

    def build(name: str, when: datetime, decoy: str | None) -> bytes:
        ct, body = plain_7bit(text)
        options = {"gmail": True, **more}
        return genuine(
            name,
            sent=when,
            rcpt="dana@example.com",
            subject=subject,
            content=ct,
            body=body,
            hop=hop,
            **options,  # type: ignore[arg-type]
        )

    return build


def _newsletter(name: str, when: datetime, decoy: str | None) -> bytes:
    boundary = java_boundary(name)
    text, html_body = NEWSLETTER_TEXT.format(decoy=decoy), NEWSLETTER_HTML.format(decoy=decoy)
    body = multipart_alternative(
        boundary,
        [
            ("text/plain; charset=UTF-8", "quoted-printable", qp(text).encode("ascii")),
            ("text/html; charset=UTF-8", "quoted-printable", qp(html_body).encode("ascii")),
        ],
    )
    return genuine(
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


def _colleague_trace(name: str, when: datetime, host: str, ip: str) -> Headers:
    """Gmail's Received header for mail from another Gmail user, and a CET Date."""
    received = (
        f"from {host} ({host}. [{ip}])\n"
        f"        by mx.google.com with SMTPS id {digest(name, 10)}\n"
        "        for <dana@example.com>;\n"
        f"        {gmail_stamp(when + timedelta(seconds=1))}"
    )
    return [("Received", received), ("Date", format_datetime(when.astimezone(CET)))]


def _reply(name: str, when: datetime, decoy: str | None) -> bytes:
    """Re: from a colleague quoting a token in "> " lines."""
    quoted = current("dana@example.com", str(decoy))
    text = (
        "Thanks Dana, the new token works for the Jenkins job now. I've updated the\n"
        "credential store, so you can delete the email.\n\nPriya\n\n"
        "On Mon, 4 Dec 2023 at 13:51, Dana Martin <dana@example.com> wrote:\n"
        + "".join(f"> {line}\n" if line else ">\n" for line in quoted.splitlines())
    )
    headers = [
        *_colleague_trace(name, when, "mail-sor-f41.google.com", "209.85.220.41"),
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
    return render(headers, qp(text).encode("ascii"))


def _forward_parts(decoy: str) -> tuple[str, str]:
    """The text and HTML of a Gmail forwarded-message block around a token mail."""
    text = (
        "Hi Dana,\n\nThis landed in the admin shared mailbox after this morning's reset -\n"
        "forwarding it to you.\n\nMarco\n\n"
        "---------- Forwarded message ---------\n"
        "From: Salesforce <support@salesforce.com>\n"
        "Date: Wed, 17 Jan 2024 at 08:55\n"
        f"Subject: {SUBJECT}\n"
        "To: <admins@example.com>\n\n\n" + current("dana@example.com", decoy)
    )
    html = (
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
    return text, html


def _forward(name: str, when: datetime, decoy: str | None) -> bytes:
    """FW: from a colleague with a Gmail forwarded-message block (multipart)."""
    text, html = _forward_parts(str(decoy))
    boundary = "000000000000" + digest(name, 16)
    body = multipart_alternative(
        boundary,
        [
            ('text/plain; charset="UTF-8"', "quoted-printable", qp(text).encode("ascii")),
            ('text/html; charset="UTF-8"', "quoted-printable", qp(html).encode("ascii")),
        ],
    )
    headers = [
        *_colleague_trace(name, when, "mail-sor-f65.google.com", "209.85.220.65"),
        ("From", "Marco Rossi <marco.rossi@example.com>"),
        ("To", "Dana Martin <dana@example.com>"),
        ("Message-ID", f"<CAM{digest(name, 24)}@mail.gmail.com>"),
        ("Subject", "FW: " + SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", f'multipart/alternative; boundary="{boundary}"'),
    ]
    return render(headers, body)


def _template_copy(name: str, when: datetime, decoy: str | None, head: Headers) -> bytes:
    """The current template as plain text under ``head`` (trace, Date, From, To, Message-ID)."""
    headers = [
        *head,
        ("Subject", SUBJECT),
        ("MIME-Version", "1.0"),
        ("Content-Type", "text/plain; charset=UTF-8"),
        ("Content-Transfer-Encoding", "7bit"),
        *sfdc_x_headers(name),
    ]
    return render(headers, current("dana@example.com", str(decoy)).encode("ascii"))


def _lookalike_domain(name: str, when: datetime, decoy: str | None) -> bytes:
    """The full current template from salesforce.com.evil.net (its own checks all pass)."""
    evil = "support@salesforce.com.evil.net"
    ar = (
        "mx.google.com;\n"
        "       dkim=pass header.i=@salesforce.com.evil.net header.s=s1"
        f" header.b={digest(name, 8)};\n"
        "       spf=pass (google.com: domain of bounce@salesforce.com.evil.net designates"
        " 198.51.100.23 as permitted sender) smtp.mailfrom=bounce@salesforce.com.evil.net;\n"
        "       dmarc=pass (p=NONE sp=NONE dis=NONE) header.from=salesforce.com.evil.net"
    )
    trace = gmail_trace(
        name,
        "dana@example.com",
        when,
        host="mail.salesforce.com.evil.net",
        ip="198.51.100.23",
        mailfrom="bounce@salesforce.com.evil.net",
        auth_results=ar,
    )
    head = [
        *trace,
        ("Date", sfdc_date(when)),
        ("From", f"Salesforce <{evil}>"),
        ("To", "dana@example.com"),
        ("Message-ID", f"<{digest(name, 20)}@salesforce.com.evil.net>"),
    ]
    return _template_copy(name, when, decoy, head)


def _salesforce_head(name: str, when: datetime) -> Headers:
    return [
        ("Date", sfdc_date(when)),
        ("From", "Salesforce <support@salesforce.com>"),
        ("To", "dana@example.com"),
        ("Message-ID", sfdc_message_id(name)),
    ]


def _dmarc_fail(name: str, when: datetime, decoy: str | None) -> bytes:
    """From support@salesforce.com, but Gmail says dkim/spf/dmarc fail."""
    ar = (
        "mx.google.com; dkim=fail header.d=salesforce.com; spf=fail smtp.mailfrom=salesforce.com;"
        " dmarc=fail (p=REJECT) header.from=salesforce.com"
    )
    trace = gmail_trace(
        name,
        "dana@example.com",
        when,
        host="mail.bulk-sender.example",
        ip="203.0.113.45",
        mailfrom="support@salesforce.com",
        auth_results=ar,
        spf="fail",
    )
    return _template_copy(name, when, decoy, [*trace, *_salesforce_head(name, when)])


def _forged_auth_results(name: str, when: datetime, decoy: str | None) -> bytes:
    """The real (top) Authentication-Results fails; a forged one below it claims pass."""
    real_ar = (
        "mx.google.com;\n"
        "       spf=fail (google.com: domain of support@salesforce.com does not designate"
        " 192.0.2.77 as permitted sender) smtp.mailfrom=support@salesforce.com;\n"
        "       dmarc=fail (p=REJECT sp=REJECT dis=QUARANTINE) header.from=salesforce.com"
    )
    trace = gmail_trace(
        name,
        "dana@example.com",
        when,
        host="vps77.hosting.example",
        ip="192.0.2.77",
        mailfrom="support@salesforce.com",
        auth_results=real_ar,
        spf="fail",
    )
    sender_written = [  # everything below was written by the sender
        ("Authentication-Results", ar_pass("support@salesforce.com", "13.110.6.222", "forged")),
        (
            "Received",
            "from [10.8.0.2] (unknown [10.8.0.2])\n"
            "\tby vps77.hosting.example (Postfix) with ESMTPSA id 8F2A11C0042\n"
            f"\tfor <dana@example.com>; {format_datetime(when)}",
        ),
    ]
    head = [*trace, *sender_written, *_salesforce_head(name, when)]
    return _template_copy(name, when, decoy, head)


@dataclass(frozen=True)
class Negative:
    """One look-alike of the corpus."""

    file: str
    when: datetime
    reject: str
    about: str
    build: Builder
    decoy: bool = False


NEGATIVES = [
    Negative(
        "19_neg_verification_code.eml",
        utc(2024, 5, 30, 7, 41, 19),
        "verification-code",
        "identity verification code from noreply@salesforce.com (DMARC pass)",
        trusted_text(
            VERIFICATION_TEXT,
            "Verify your identity in Salesforce",
            hop=1,
            from_addr="noreply@salesforce.com",
        ),
    ),
    Negative(
        "20_neg_finish_resetting_password.eml",
        utc(2023, 9, 14, 9, 58, 40),
        "not-a-token-mail",
        "password reset link (trusted sender)",
        trusted_text(RESET_LINK_TEXT, "Finish resetting your Salesforce password", hop=0),
    ),
    Negative(  # 2 s after the token mail 01, mentions the security token
        "21_neg_password_has_been_reset.eml",
        utc(2023, 9, 14, 10, 3, 9),
        "not-a-token-mail",
        "password-reset confirmation mentioning the token, 2 s newer than 01",
        trusted_text(PASSWORD_RESET_TEXT, "Your Salesforce password has been reset", hop=0),
    ),
    Negative(  # the oldest message in the corpus
        "22_neg_welcome_verify_account.eml",
        utc(2014, 11, 3, 16, 20, 0),
        "not-a-token-mail",
        "welcome / verify-account mail, long key in URL",
        trusted_text(
            WELCOME_TEXT,
            "Welcome to Salesforce: Verify your account",
            hop=2,
            gmail=False,
            from_name="salesforce.com",
        ),
    ),
    Negative(
        "23_neg_reply_quoting_token.eml",
        utc(2023, 12, 4, 14, 5, 33),
        "quoted",
        'Re: from a colleague, full template quoted in "> " lines',
        _reply,
        decoy=True,
    ),
    Negative(
        "24_neg_forward_from_colleague.eml",
        utc(2024, 1, 17, 9, 2, 48),
        "quoted",
        "FW: from a colleague, full token mail in a forwarded-message block",
        _forward,
        decoy=True,
    ),
    Negative(
        "25_neg_newsletter.eml",
        utc(2023, 10, 26, 15, 0, 4),
        "not-a-token-mail",
        "marketing newsletter from newsletters@salesforce.com with an example token",
        _newsletter,
        decoy=True,
    ),
    Negative(
        "26_neg_lookalike_domain.eml",
        utc(2024, 2, 12, 18, 30, 51),
        "untrusted-sender",
        "From support@salesforce.com.evil.net, full current template",
        _lookalike_domain,
        decoy=True,
    ),
    Negative(
        "27_neg_dmarc_fail.eml",
        utc(2024, 3, 19, 22, 14, 37),
        "dmarc-fail",
        "From support@salesforce.com, top Authentication-Results dmarc=fail",
        _dmarc_fail,
        decoy=True,
    ),
    Negative(
        "28_neg_forged_auth_results_below_fail.eml",
        utc(2024, 4, 25, 5, 9, 2),
        "dmarc-fail",
        "top Authentication-Results (mx.google.com) dmarc=fail; forged dmarc=pass below it",
        _forged_auth_results,
        decoy=True,
    ),
]


def build_negative(row: Negative) -> Mail:
    """Render one row into its file bytes and expected values (no token)."""
    decoy = TOKENS[row.file[:2]] if row.decoy else None
    data = row.build(row.file, row.when, decoy)
    return Mail(row.file, data, None, None, None, None, row.when, row.reject, row.about, decoy)

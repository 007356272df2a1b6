"""Attached messages and bounces: a token inside an attachment or a delivery report never counts.

The mails are built with the stdlib email package the way MTAs build them: an RFC 3464
``multipart/report; report-type=delivery-status`` with a human-readable part, a
``message/delivery-status`` part and the returned message (``message/rfc822``, or only its
headers as ``text/rfc822-headers``); Exchange's "Undeliverable:" reports; and plain
``multipart/mixed`` mails that carry a forwarded token mail as an attachment.
"""

from __future__ import annotations

import email
import email.policy
from datetime import UTC, datetime
from email.message import EmailMessage, Message
from email.mime.base import MIMEBase
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mailgen import new_token, token_mail

from inbox_finder import find_token, find_tokens
from inbox_finder.engine import Rejection, evaluate
from inbox_finder.mail.bounces import bounce_reason
from inbox_finder.mail.parse import Headers, parse_message
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
VICTIM = "dana@example.com"
ATTACKER = "mallory@evil.example"


def _eval(raw: bytes) -> Finding | Rejection:
    return evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())


def _inner(token: str, username: str = ATTACKER) -> Message:
    """The crafted token mail an attacker gets salesforce.com to bounce back."""
    return email.message_from_bytes(token_mail(token, username), policy=email.policy.default)


def _delivery_status(recipient: str) -> MIMEBase:
    """A message/delivery-status part: per-message fields, then one per-recipient block."""
    per_message = Message()
    per_message["Reporting-MTA"] = "dns; mta.salesforce.com"
    per_message["Arrival-Date"] = format_datetime(WHEN)
    per_recipient = Message()
    per_recipient["Final-Recipient"] = f"rfc822; {recipient}"
    per_recipient["Action"] = "failed"
    per_recipient["Status"] = "5.1.1"
    per_recipient["Diagnostic-Code"] = "smtp; 550 5.1.1 user unknown"
    part = MIMEBase("message", "delivery-status")
    part.set_payload([per_message, per_recipient])
    return part


def _report(
    returned: Message | None,
    *,
    sender: str = "MAILER-DAEMON@mta.salesforce.com",
    subject: str = "Undelivered Mail Returned to Sender",
    headers_only: bool = False,
) -> bytes:
    """An RFC 3464 delivery report as Postfix (or Exchange, by subject) writes it."""
    report = MIMEMultipart("report", report_type="delivery-status")
    report["From"] = f"Mail Delivery System <{sender}>"
    report["To"] = VICTIM
    report["Subject"] = subject
    report["Date"] = format_datetime(WHEN)
    report["Message-ID"] = make_msgid(domain="mta.salesforce.com")
    report["Auto-Submitted"] = "auto-replied"
    report.attach(
        MIMEText(
            "This is the mail system at host mta.salesforce.com.\n\n"
            "I'm sorry to have to inform you that your message could not\n"
            "be delivered to one or more recipients. It's attached below.\n",
            "plain",
            "utf-8",
        )
    )
    report.attach(_delivery_status("nobody@example.net"))
    if returned is not None:
        if headers_only:
            head = returned.as_string().partition("\n\n")[0] + "\n"
            report.attach(MIMEText(head, "rfc822-headers", "utf-8"))
        else:
            report.attach(MIMEMessage(returned))
    return report.as_bytes()


def _with_attachment(
    attached: Message,
    *,
    body: str,
    subject: str = "Your new Salesforce security token",
    subtype: str = "rfc822",
) -> bytes:
    """A multipart/mixed mail from support@salesforce.com with an attached message."""
    mixed = MIMEMultipart("mixed")
    mixed["From"] = "Salesforce <support@salesforce.com>"
    mixed["To"] = VICTIM
    mixed["Subject"] = subject
    mixed["Date"] = format_datetime(WHEN)
    mixed["Message-ID"] = make_msgid(domain="salesforce.com")
    mixed.attach(MIMEText(body, "plain", "utf-8"))
    part = MIMEMessage(attached, subtype)
    part.add_header("Content-Disposition", "attachment", filename="original.eml")
    mixed.attach(part)
    return mixed.as_bytes()


# ---------------------------------------------------------------- bounces


@pytest.mark.parametrize(
    ("subject", "sender"),
    [
        ("Undelivered Mail Returned to Sender", "MAILER-DAEMON@mta.salesforce.com"),
        ("Undeliverable: Your new Salesforce security token", "postmaster@salesforce.com"),
        ("Undeliverable: Your new Salesforce security token", "support@salesforce.com"),
        ("Delivery Status Notification (Failure)", "mailer-daemon@mta.salesforce.com"),
        ("Returned mail: see transcript for details", "MAILER-DAEMON@mta.salesforce.com"),
        ("Mail delivery failed: returning message to sender", "Mailer-Daemon@salesforce.com"),
        ("Delivery has failed to these recipients or groups", "postmaster@salesforce.com"),
        ("Your new Salesforce security token", "support@salesforce.com"),  # report type alone
    ],
)
def test_delivery_report_never_yields_the_returned_token(subject: str, sender: str) -> None:
    planted = new_token()
    raw = _report(_inner(planted), sender=sender, subject=subject)
    assert b"multipart/report" in raw and b"message/delivery-status" in raw
    result = _eval(raw)
    assert isinstance(result, Rejection), result
    assert planted not in result.reason


def test_report_with_only_the_returned_headers_is_a_bounce() -> None:
    raw = _report(_inner(new_token()), headers_only=True, subject="Undeliverable: security token")
    assert b"text/rfc822-headers" in raw
    result = _eval(raw)
    assert isinstance(result, Rejection) and "bounce" in result.reason


@pytest.mark.parametrize(
    "subject",
    [
        "Undeliverable: Your new Salesforce security token",
        "Delivery Status Notification (Failure): Your new Salesforce security token",
        "Mail delivery failed: Your new Salesforce security token",
        "Returned mail: Your new Salesforce security token",
        "Undelivered Mail Returned to Sender: Your new Salesforce security token",
        "Delivery has failed: Your new Salesforce security token",
        "Sandbox: Undeliverable: Your new Salesforce security token",
        "Unzustellbar: Ihr neues Salesforce-Sicherheitstoken",
        "Non remis : Votre nouveau jeton de sécurité Salesforce",
    ],
)
def test_bounce_subject_is_not_a_token_mail_even_with_a_token_in_the_body(subject: str) -> None:
    """A bounce quoting the original body inline (no attachment at all) is still a bounce."""
    raw = token_mail(new_token(), ATTACKER, subject=subject)
    result = _eval(raw)
    assert isinstance(result, Rejection) and "bounce" in result.reason


@pytest.mark.parametrize(
    ("headers", "why"),
    [
        (Headers(content_type="multipart/report"), "content type multipart/report"),
        (Headers(from_raw="Mail Delivery Subsystem <MAILER-DAEMON@salesforce.com>"), "sent by"),
        (Headers(from_raw="postmaster@mta.salesforce.com"), "sent by postmaster"),
        (Headers(subject="Undeliverable: Your new Salesforce security token"), "undeliverable"),
        (Headers(subject="配信不能: 新しいセキュリティトークン"), "配信不能"),
    ],
)
def test_each_bounce_signal_alone_is_enough(headers: Headers, why: str) -> None:
    reason = bounce_reason(headers)
    assert reason is not None and why in reason


def test_genuine_token_mail_headers_are_no_bounce() -> None:
    genuine = Headers(
        subject="Sandbox: Your new Salesforce security token",
        from_raw="Salesforce <support@salesforce.com>",
        content_type="text/plain",
    )
    assert bounce_reason(genuine) is None


def test_token_subject_alone_is_not_mistaken_for_a_bounce() -> None:
    token = new_token()
    result = _eval(token_mail(token, subject="Sandbox: Your new Salesforce security token"))
    assert isinstance(result, Finding) and result.token == token


# ---------------------------------------------------------------- attachments


@pytest.mark.parametrize("subtype", ["rfc822", "global"])
def test_attached_token_mail_is_not_read(subtype: str) -> None:
    planted = new_token()
    raw = _with_attachment(_inner(planted), body="See the attached message.\n", subtype=subtype)
    assert f"message/{subtype}".encode() in raw
    parsed = parse_message(raw)
    assert all(planted not in part.text for part in parsed.parts)
    assert isinstance(_eval(raw), Rejection)


def test_attached_message_without_disposition_is_not_read() -> None:
    """Inline message/rfc822 (no Content-Disposition) is an attached message all the same."""
    planted = new_token()
    mixed = MIMEMultipart("mixed")
    mixed["From"] = "support@salesforce.com"
    mixed["Subject"] = "Your new Salesforce security token"
    mixed.attach(MIMEText("Nothing here.\n"))
    mixed.attach(MIMEMessage(_inner(planted)))
    assert isinstance(_eval(mixed.as_bytes()), Rejection)


def test_outer_token_wins_over_an_attached_one() -> None:
    """The mail's own token is found, exactly; an attached token mail neither adds nor blocks."""
    own, planted = new_token(), new_token()
    body = f"Username: {VICTIM}\nSecurity token (case-sensitive): {own}\n"
    result = _eval(_with_attachment(_inner(planted), body=body))
    assert isinstance(result, Finding)
    assert (result.token, result.username) == (own, VICTIM)


def test_text_part_marked_as_attachment_inside_a_multipart_attachment_is_not_read() -> None:
    planted = new_token()
    inner = MIMEMultipart("alternative")
    inner.attach(MIMEText(f"Username: {ATTACKER}\nSecurity token (case-sensitive): {planted}\n"))
    inner.add_header("Content-Disposition", "attachment", filename="token.txt")
    mixed = MIMEMultipart("mixed")
    mixed["From"] = "support@salesforce.com"
    mixed["Subject"] = "Your new Salesforce security token"
    mixed.attach(MIMEText("See attachment.\n"))
    mixed.attach(inner)
    assert isinstance(_eval(mixed.as_bytes()), Rejection)


def test_genuine_token_mail_with_an_unrelated_attachment_still_counts() -> None:
    token = new_token()
    msg = email.message_from_bytes(token_mail(token), policy=email.policy.default)
    assert isinstance(msg, EmailMessage)
    msg.add_attachment(b"%PDF-1.4 ...", maintype="application", subtype="pdf", filename="a.pdf")
    result = _eval(msg.as_bytes())
    assert isinstance(result, Finding) and result.token == token


# ---------------------------------------------------------------- end to end


def test_planted_bounce_is_never_the_newest_token(tmp_path: Path) -> None:
    """A real mailbox: the victim's genuine token, then a newer bounce carrying another one."""
    genuine, planted = new_token(), new_token()
    folder = tmp_path / "box"
    folder.mkdir()
    (folder / "1.eml").write_bytes(
        token_mail(genuine, VICTIM, when=datetime(2023, 5, 1, tzinfo=UTC))
    )
    (folder / "2.eml").write_bytes(
        _report(_inner(planted), subject="Undeliverable: Your new Salesforce security token")
    )
    (folder / "3.eml").write_bytes(_with_attachment(_inner(planted), body="Forwarded.\n"))
    assert find_token(f"eml:{folder}").token == genuine
    assert [f.token for f in find_tokens(f"eml:{folder}")] == [genuine]


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300), st.sampled_from(["rfc822", "global"]))
def test_whatever_an_attached_message_says_it_never_yields_its_token(
    noise: str, subtype: str
) -> None:
    planted = new_token()
    inner = EmailMessage()
    inner["From"] = "Salesforce <support@salesforce.com>"
    inner["Subject"] = "Your new Salesforce security token"
    inner.set_content(
        f"{noise}\nUsername: {ATTACKER}\nSecurity token (case-sensitive): {planted}\n"
    )
    result = _eval(_with_attachment(inner, body="Forwarded as an attachment.\n", subtype=subtype))
    assert isinstance(result, Rejection) or result.token != planted

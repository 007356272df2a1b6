"""Token mails in many languages are found; ids, codes and session values never become tokens.

Every mail goes through the whole pipeline (``evaluate``: MIME, subject screen, trust, extract),
built with the stdlib email package as a real UTF-8 mail with an RFC 2047 subject.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from pathlib import Path

import pytest
from mailgen import new_token

from inbox_finder import find_tokens
from inbox_finder.engine import Rejection, evaluate
from inbox_finder.mail.extract import subject_language
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy

WHEN = datetime(2024, 1, 1, tzinfo=UTC)
DANA = "dana@example.com"
TOKEN = "4jEAKuW3a4g33x2zsX11BkrsB"


def _mail(subject: str, body: str, sender: str = "support@salesforce.com") -> bytes:
    msg = EmailMessage()
    msg["From"] = f"Salesforce <{sender}>"
    msg["To"] = DANA
    msg["Subject"] = subject
    msg["Date"] = format_datetime(WHEN)
    msg["Message-ID"] = make_msgid(domain="salesforce.com")
    msg.set_content(body)
    return msg.as_bytes()


def _eval(raw: bytes) -> Finding | Rejection:
    return evaluate(raw, Candidate("x", WHEN), "t:", TrustPolicy())


# (language, subject, username label, token label) in the shape of the English template.
LANGUAGES = [
    ("zh-CN", "您的新 Salesforce 安全令牌", "用户名", "安全令牌 (区分大小写)"),
    ("zh-TW", "您的新 Salesforce 安全性權杖", "使用者名稱", "安全性權杖 (區分大小寫)"),
    ("ko", "새 Salesforce 보안 토큰", "사용자 이름", "보안 토큰(대/소문자 구분)"),
    ("ru", "Ваш новый маркер безопасности Salesforce", "Имя пользователя", "Маркер безопасности"),
    ("ru", "Ваш новый токен безопасности Salesforce", "Имя пользователя", "Токен безопасности"),
    ("pt", "Seu novo token de segurança do Salesforce", "Nome de usuário", "Token de segurança"),
    ("it", "Il nuovo token di sicurezza di Salesforce", "Nome utente", "Token di sicurezza"),
    ("nl", "Uw nieuwe Salesforce-beveiligingstoken", "Gebruikersnaam", "Beveiligingstoken"),
    ("sv", "Din nya säkerhetstoken för Salesforce", "Användarnamn", "Säkerhetstoken"),
    ("da", "Dit nye Salesforce-sikkerhedstoken", "Brugernavn", "Sikkerhedstoken"),
    ("fi", "Uusi Salesforce-suojaustunnuksesi", "Käyttäjänimi", "Suojaustunnus"),
    ("no", "Ditt nye Salesforce-sikkerhetstoken", "Brukernavn", "Sikkerhetstoken"),
    ("pl", "Twój nowy token zabezpieczeń Salesforce", "Nazwa użytkownika", "Token zabezpieczeń"),
    ("tr", "Yeni Salesforce güvenlik belirteciniz", "Kullanıcı adı", "Güvenlik belirteci"),
    ("th", "โทเค็นความปลอดภัย Salesforce ใหม่ของคุณ", "ชื่อผู้ใช้", "โทเค็นความปลอดภัย"),
    ("de", "Ihr neues Salesforce-Sicherheitstoken", "Benutzername", "Sicherheitstoken"),
    ("de", "Ihr neues Salesforce-Sicherheits-Token", "Benutzername", "Sicherheits-Token"),
    (
        "de",
        "Ihr neues Sicherheits-Token",
        "Benutzername",
        "Sicherheits-Token (Groß-/Kleinschreibung beachten)",
    ),
    ("fr", "Votre nouveau jeton de sécurité Salesforce", "Nom d’utilisateur", "Jeton de sécurité"),
]


@pytest.mark.parametrize(("language", "subject", "user_label", "token_label"), LANGUAGES)
def test_token_mail_in_each_table_language(
    language: str, subject: str, user_label: str, token_label: str
) -> None:
    body = f"Salesforce\n\n{user_label}: {DANA}\n{token_label}: {TOKEN}\n\nhttps://help.salesforce.com\n"
    result = _eval(_mail(subject, body))
    assert isinstance(result, Finding), result
    assert (result.token, result.username, result.language) == (TOKEN, DANA, language)
    assert result.template == "current"
    assert subject_language(subject) == language


@pytest.mark.parametrize(
    "subject",
    [
        "Ihr neues Salesforce-Sicherheits-Token",
        "Sandbox: Ihr neues Sicherheits-Token",
        "Ihr Sicherheitstoken",
    ],
)
def test_german_subject_keyword_in_both_spellings(subject: str) -> None:
    assert subject_language(subject) == "de"


def test_unknown_language_is_still_matched_by_structure() -> None:
    """Czech is not in the table: the username line plus a label naming a token is enough."""
    body = f"Uživatelské jméno: {DANA}\nToken zabezpečení (rozlišují se malá a velká písmena): {TOKEN}\n"
    result = _eval(_mail("Váš nový token zabezpečení Salesforce", body))
    assert isinstance(result, Finding), result
    assert (result.token, result.language, result.template) == (TOKEN, "und", "structural")


# ---------------------------------------------------------------- never a token


OAUTH_SUBJECT = "Your OAuth token for Salesforce CLI was revoked"


@pytest.mark.parametrize(
    "line",
    [
        "Request ID: 4f3e2d1c0b9a8f7e6d5c4b3a",
        "Session ID: 7Hq2kLmN9pQrS4tUvW5xYz6A",
        "Token: 4f3e2d1c0b9a8f7e6d5c4b3a",  # names a token, but an id-like value, no token subject
        "OAuth token: 7Hq2kLmN9pQrS4tUvW5xYz6A",
        "Reference: 7Hq2kLmN9pQrS4tUvW5xYz6A",
    ],
)
def test_oauth_revocation_mail_yields_no_token(line: str, tmp_path: Path) -> None:
    body = (
        "The OAuth token that Salesforce CLI used to access your account was revoked.\n\n"
        f"Username: {DANA}\n{line}\n\nIf you didn't revoke it, contact your admin.\n"
    )
    raw = _mail(OAUTH_SUBJECT, body, sender="noreply@salesforce.com")
    result = _eval(raw)
    assert isinstance(result, Rejection), result
    (tmp_path / "1.eml").write_bytes(raw)
    assert find_tokens(f"eml:{tmp_path}") == []


@pytest.mark.parametrize(
    "label",
    [
        "Request ID",
        "Request-ID",
        "Session ID",
        "Case Number",
        "Case ID",
        "Org ID",
        "Organization ID",
        "User ID",
        "Record ID",
        "Transaction ID",
        "Verification Code",
        "Confirmation code",
        "Access token",
        "Refresh token",
        "OAuth token",
        "Session token",
        "Sitzungs-ID",
        "Anfrage-ID",
        "ID de session",
        "ID de solicitud",
        "リクエスト ID",
        "セッション ID",
        "请求 ID",
        "组织 ID",
        "요청 ID",
        "Идентификатор запроса",
        "Код подтверждения",
    ],
)
def test_known_non_token_label_never_yields_even_under_a_token_subject(label: str) -> None:
    body = f"Username: {DANA}\n{label}: 7Hq2kLmN9pQrS4tUvW5xYz6A\n"
    result = _eval(_mail("Your new Salesforce security token", body))
    assert isinstance(result, Rejection), result


def test_non_token_label_next_to_a_real_token_line_does_not_block_it() -> None:
    body = (
        f"Username: {DANA}\nSecurity token (case-sensitive): {TOKEN}\n"
        "Request ID: 4f3e2d1c0b9a8f7e6d5c4b3a\n"
    )
    result = _eval(_mail("Your new Salesforce security token", body))
    assert isinstance(result, Finding) and result.token == TOKEN


@pytest.mark.parametrize(
    "value", ["4f3e2d1c0b9a8f7e6d5c4b3a", "0123456789012345678901", "ABCDEF0123456789ABCDEF01"]
)
def test_id_like_value_without_a_token_subject_is_no_token(value: str) -> None:
    body = f"Brukernavn: {DANA}\nTokenreferanse: {value}\n"
    assert isinstance(_eval(_mail("Ditt token ble tilbakekalt", body)), Rejection)


def test_random_token_is_found_in_an_unknown_language_by_structure() -> None:
    token = new_token()
    body = f"Felhasználónév: {DANA}\nBiztonsági token (kis- és nagybetűk): {token}\n"
    result = _eval(_mail("Az új Salesforce biztonsági token", body))
    assert isinstance(result, Finding) and result.token == token

"""The template table: how token mails read in each language. Adding a language is data only.

Each entry lists the label texts (regular-expression fragments, matched case-insensitively after
Unicode NFKC normalisation, so full-width colons and brackets match too) for the username line
and the token line, and the subject keywords that mark a token mail (compared without case,
spaces or hyphens, so ``Sicherheits-Token`` and ``Sicherheitstoken`` are one keyword).
``verified`` says whether a real copy of the mail was seen; unverified rows use the term
Salesforce's translated UI and help use for the security token, and still require the
username-line-then-token-line structure.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Template:
    """One language's token-mail wording."""

    language: str
    username_labels: tuple[str, ...]
    token_labels: tuple[str, ...]
    subject_keywords: tuple[str, ...]
    verified: bool = False


# Any "(case-sensitive)" remark after the token label, in whatever language.
_REMARK = r"(?:\s*\([^)]*\))?"

TEMPLATES: tuple[Template, ...] = (
    Template(
        language="en",
        username_labels=(r"user\s*name", r"user\s*id"),
        token_labels=(rf"security\s+token{_REMARK}",),
        subject_keywords=("security token",),
        verified=True,
    ),
    Template(
        language="ja",
        username_labels=("ユーザ名", "ユーザー名"),
        token_labels=(rf"セキュリティトークン{_REMARK}",),
        subject_keywords=("セキュリティトークン",),
        verified=True,
    ),
    # Salesforce's German UI writes both spellings ("Sicherheitstoken zurücksetzen",
    # "Sicherheits-Token"); U+2010/U+2011 are the hyphens word processors substitute.
    Template(
        language="de",
        username_labels=("benutzername",),
        token_labels=(rf"sicherheits[-\u2010\u2011 ]?token{_REMARK}",),
        subject_keywords=("sicherheitstoken", "sicherheits-token"),
    ),
    Template(
        language="fr",
        username_labels=(r"nom\s+d['\u2019]\s*utilisateur",),
        token_labels=(rf"jeton\s+de\s+sécurité{_REMARK}",),
        subject_keywords=("jeton de sécurité",),
    ),
    Template(
        language="es",
        username_labels=(r"nombre\s+de\s+usuario",),
        token_labels=(rf"token\s+de\s+seguridad{_REMARK}",),
        subject_keywords=("token de seguridad",),
    ),
    # The rows below are unverified: no copy of the mail was seen. Where the term was checked
    # against a Salesforce help page title the comment says so.
    Template(
        language="zh-CN",
        username_labels=("用户名",),
        token_labels=(rf"安全令牌{_REMARK}",),
        subject_keywords=("安全令牌",),
    ),
    # zh-TW help pages call tokens 權杖 (e.g. "重新整理權杖", refresh token).
    Template(
        language="zh-TW",
        username_labels=("使用者名稱", "用戶名稱"),
        token_labels=(rf"安全性?(?:權杖|令牌){_REMARK}",),
        subject_keywords=("安全性權杖", "安全權杖"),
    ),
    Template(
        language="ko",
        username_labels=(r"사용자\s*이름",),
        token_labels=(rf"보안\s*토큰{_REMARK}",),
        subject_keywords=("보안 토큰",),
    ),
    # Russian help title: "Сбросить маркер безопасности"; "токен" is the newer term.
    Template(
        language="ru",
        username_labels=(r"имя\s+пользователя",),
        token_labels=(rf"(?:маркер|токен)\s+безопасности{_REMARK}",),
        subject_keywords=("маркер безопасности", "токен безопасности"),
    ),
    Template(
        language="pt",
        username_labels=(r"nome\s+de\s+usu[áa]rio", r"nome\s+de\s+utilizador"),
        token_labels=(rf"token\s+de\s+segurança{_REMARK}",),
        subject_keywords=("token de segurança",),
    ),
    Template(
        language="it",
        username_labels=(r"nome\s+utente",),
        token_labels=(rf"token\s+di\s+sicurezza{_REMARK}",),
        subject_keywords=("token di sicurezza",),
    ),
    Template(
        language="nl",
        username_labels=("gebruikersnaam",),
        token_labels=(rf"beveiligings-?token{_REMARK}",),
        subject_keywords=("beveiligingstoken",),
    ),
    # Swedish help title: "Återställ din säkerhetstoken".
    Template(
        language="sv",
        username_labels=("användarnamn",),
        token_labels=(rf"säkerhets-?token{_REMARK}",),
        subject_keywords=("säkerhetstoken",),
    ),
    Template(
        language="da",
        username_labels=("brugernavn",),
        token_labels=(rf"sikkerheds-?token{_REMARK}",),
        subject_keywords=("sikkerhedstoken",),
    ),
    # Finnish inflects "tunnus" ("suojaustunnuksesi"): the subject keywords are stems.
    Template(
        language="fi",
        username_labels=("käyttäjänimi", "käyttäjätunnus"),
        token_labels=(rf"(?:suojaus|turva|tietoturva)-?tunnus{_REMARK}",),
        subject_keywords=("suojaustunnu", "turvatunnu", "tietoturvatunnu"),
    ),
    Template(
        language="no",
        username_labels=("brukernavn",),
        token_labels=(rf"sikkerhets-?token{_REMARK}",),
        subject_keywords=("sikkerhetstoken",),
    ),
    Template(
        language="pl",
        username_labels=(r"nazwa\s+użytkownika",),
        token_labels=(rf"token\s+(?:zabezpieczeń|zabezpieczający|bezpieczeństwa){_REMARK}",),
        subject_keywords=("token zabezpieczeń", "token zabezpieczający", "token bezpieczeństwa"),
    ),
    Template(
        language="tr",
        username_labels=(r"kullanıcı\s+adı",),
        token_labels=(rf"güvenlik\s+(?:belirteci|token['\u2019]?ı|tokeni){_REMARK}",),
        subject_keywords=("güvenlik belirteci", "güvenlik tokeni", "güvenlik token'ı"),
    ),
    Template(
        language="th",
        username_labels=("ชื่อผู้ใช้",),
        token_labels=(rf"โทเค็น\s*ความปลอดภัย{_REMARK}",),
        subject_keywords=("โทเค็นความปลอดภัย",),
    ),
)

#: Legacy (2013-2016) mails: the subject that marks them; their body may lack a username line.
LEGACY_SUBJECT = "salesforce.com security token confirmation"

#: Subject prefixes added by sandboxes, gateways and forwarding, stripped before matching.
SUBJECT_PREFIXES = (
    r"sandbox:",
    r"\(external(?: email)?\)",
    r"\[external(?: email)?\]",
    r"external:",
    r"ext:",
    r"\[ext\]",
)

#: Words that name a token in some language. A subject naming none of them is no token mail;
#: in a language outside the table, the token label must name one of them.
TOKEN_WORDS = (
    "token",
    "トークン",
    "jeton",
    "令牌",
    "權杖",
    "权杖",
    "토큰",
    "токен",
    "маркер",
    "belirteç",
    "belirteci",
    "โทเค็น",
)

#: Keyword parts that name no word of TOKEN_WORDS: Finnish compounds and inflects "tunnus"
#: ("suojaustunnus", "suojaus-tunnuksesi"), so only the stem is stable.
SUBJECT_STEMS = ("tunnu",)


def subject_search_words() -> tuple[str, ...]:
    """Substrings a server-side Subject search may OR together without losing a token mail.

    A subject passes the engine's screen only if it names a table keyword or a TOKEN_WORD
    (compared without case, spaces or hyphens); every table keyword contains one of these.
    """
    return (*TOKEN_WORDS, *SUBJECT_STEMS)


#: Labels whose value is never the security token, searched (as regular expressions) in the
#: NFKC-normalised, case-folded label with any "(…)" remark removed. Ids, codes and numbers of
#: requests, sessions, cases, orgs, users and records; verification codes; OAuth, access,
#: refresh and session tokens; passwords and keys.
NON_TOKEN_LABELS = (
    # ids, codes and numbers (ASCII "id" as a word, even next to CJK: "请求ID")
    r"(?<![a-z])ids?(?![a-z])",
    r"identifi",
    r"идентификатор",
    r"kennung",
    r"(?<![a-z])codes?(?![a-z])",
    r"codice|código|koodi|(?<![a-z])kode(?![a-z])|(?<![а-я])код",
    r"コード|代码|代碼|验证码|驗證碼|코드|番号|编号|編號|號碼|번호",
    r"number|nummer|numéro|número|numero|номер|(?<![a-z])no\.|#",
    # what the value belongs to
    r"session|sitzung|sesión|sessione|sessão|セッション|会话|會話|세션|сеанс|сесси",
    r"request|anfrage|demande|solicitud|richiesta|solicitação|リクエスト|请求|請求|요청|запрос",
    r"(?<![a-z])case(?![a-z])|ケース|个案|個案|케이스|обращени",
    r"(?<![a-z])org(?![a-z])|organi[sz]ation|organizzazione|organização|organización",
    r"組織|组织|조직|организац",
    r"record|datensatz|enregistrement|registro|レコード|记录|記錄|레코드|запис",
    r"transa[ck]tion|tracking|ticket|order|invoice|rechnung|reference|référence|referenz",
    r"referencia|riferimento",
    # other credentials
    r"oauth|access|zugriff|accès|acceso|accesso|refresh|aktualisierung",
    r"verif|bestätigung|überprüfung|confirm|確認|検証|验证|驗證|인증|확인|подтвержд",
    r"password|passwort|kennwort|mot de passe|contraseña|senha|пароль",
    r"パスワード|密码|密碼|비밀번호",
    r"secret|consumer|client|api\s*key",
)

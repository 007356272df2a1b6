"""Old name of ``inbox_finder.testing.mail``; kept so existing imports work."""

from inbox_finder.testing.mail import (
    ALPHABET,
    forwarded_mail,
    html_token_mail,
    japanese_token_mail,
    legacy_token_mail,
    new_token,
    other_mail,
    password_reset_mail,
    spoofed_mail,
    token_mail,
    verification_mail,
)

__all__ = [
    "ALPHABET",
    "forwarded_mail",
    "html_token_mail",
    "japanese_token_mail",
    "legacy_token_mail",
    "new_token",
    "other_mail",
    "password_reset_mail",
    "spoofed_mail",
    "token_mail",
    "verification_mail",
]

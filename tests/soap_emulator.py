"""Old name of ``emulators.soap_emulator``; kept so existing imports work."""

from emulators.soap_emulator import (
    MESSAGES,
    PARTNER,
    Org,
    Session,
    SoapEmulator,
    User,
)

__all__ = [
    "MESSAGES",
    "PARTNER",
    "Org",
    "Session",
    "SoapEmulator",
    "User",
]

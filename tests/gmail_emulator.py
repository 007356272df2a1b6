"""Old name of ``emulators.gmail_emulator``; kept so existing imports work."""

from emulators.gmail_emulator import (
    SCOPE,
    Fault,
    GmailEmulator,
    HistoryRecord,
    LoggedRequest,
    Message,
    Reply,
    WireFault,
    google_error,
    parse_query,
)

__all__ = [
    "SCOPE",
    "Fault",
    "GmailEmulator",
    "HistoryRecord",
    "LoggedRequest",
    "Message",
    "Reply",
    "WireFault",
    "google_error",
    "parse_query",
]

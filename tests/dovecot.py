"""Old name of ``inbox_finder.testing.dovecot``; kept so existing imports work."""

from inbox_finder.testing.dovecot import (
    DOVECOT,
    HOST,
    DovecotServer,
    dovecot_available,
    free_port,
    make_certs,
    missing_package,
)

__all__ = [
    "DOVECOT",
    "HOST",
    "DovecotServer",
    "dovecot_available",
    "free_port",
    "make_certs",
    "missing_package",
]

"""Old home of the Dovecot fixtures (now in conftest.py); kept so existing imports work."""

from inbox_finder.testing.dovecot import INSTALL_HINT, require_dovecot

__all__ = ["INSTALL_HINT", "require_dovecot"]

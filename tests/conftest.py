"""Shared pytest fixtures. IMAP fixtures (a real Dovecot, once per session) live in imap_fixtures."""

from __future__ import annotations

pytest_plugins = ["imap_fixtures"]

"""Shared pytest fixtures. IMAP fixtures (a real Dovecot, once per session) live in imap_fixtures."""

from __future__ import annotations

import os

from hypothesis import settings

pytest_plugins = ["imap_fixtures"]

# CI runs the same examples every time (a red build is reproducible); locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if os.environ.get("CI", "").lower() == "true":
    settings.load_profile("ci")

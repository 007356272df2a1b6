"""pytest plugin: one real Dovecot per test session (see tests/dovecot.py).

Without Dovecot the IMAP tests are skipped locally but fail under CI=true: CI must never
pass by skipping the real server. Every test that uses the ``dovecot`` fixture (directly or
through ``imap_user``) is marked ``imap`` automatically, so ``-m "not imap"`` deselects them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import dovecot as dovecot_lib
import pytest
from dovecot import DovecotServer


def require_dovecot() -> str:
    """The installed Dovecot version; pytest.skip locally, pytest.fail under CI=true."""
    version = dovecot_lib.dovecot_available()
    if version is None:
        hint = dovecot_lib.missing_package() or (
            "Dovecot is not installed or does not run (dovecot --version failed)"
        )
        if os.environ.get("CI", "").strip().lower() == "true":
            pytest.fail(f"{hint}; CI must run the IMAP tests", pytrace=False)
        pytest.skip(hint)
    return version


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "dovecot" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.imap)


@pytest.fixture(scope="session")
def dovecot() -> Iterator[DovecotServer]:
    """A running Dovecot shared by the session; use fresh users per test (``imap_user``)."""
    require_dovecot()
    try:
        server = DovecotServer.start()
    except RuntimeError as exc:
        pytest.fail(f"Dovecot did not start: {exc}", pytrace=False)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def imap_user(dovecot: DovecotServer) -> tuple[str, str]:
    """A fresh user (name, password) with an empty mailbox: no resets between tests."""
    return dovecot.new_user()

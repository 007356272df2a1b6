"""Shared pytest fixtures: one Dovecot and one test CA per session, and the golden corpus.

Without Dovecot the IMAP tests are skipped locally but fail under CI=true: CI must never pass
by skipping the real server. Every test that uses the ``dovecot`` fixture (directly or through
``imap_user``) is marked ``imap`` automatically, so ``-m "not imap"`` deselects them.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from corpus_util import golden_mails as load_golden_mails
from emulators.ms_emulators import LoopbackCA, make_test_ca
from hypothesis import settings

from inbox_finder.testing.cases import ContractMail
from inbox_finder.testing.ci import running_in_ci
from inbox_finder.testing.dovecot import DovecotServer, require_dovecot

# CI runs the same examples every time (a red build is reproducible); locally they vary.
settings.register_profile("ci", derandomize=True, print_blob=True)
if running_in_ci():
    settings.load_profile("ci")


@pytest.fixture(scope="session", autouse=True)
def _private_user_dirs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Caches (the mbox header index, OAuth token caches) and config go to a session folder,
    never the real home of whoever runs the tests; tests that need their own still set it."""
    base = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("XDG_CACHE_HOME", str(base / "cache"))
        mp.setenv("XDG_CONFIG_HOME", str(base / "config"))
        mp.delenv("INBOX_FINDER_CONFIG", raising=False)
        yield


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


@pytest.fixture(scope="session")
def ca(tmp_path_factory: pytest.TempPathFactory) -> LoopbackCA:
    """The session's test CA and its 127.0.0.1 server certificate (every TLS emulator)."""
    return make_test_ca(tmp_path_factory.mktemp("ca"))


@pytest.fixture(scope="session")
def golden_mails() -> list[ContractMail]:
    """The golden corpus (tests/corpus) as contract mails with their expected values."""
    return load_golden_mails()

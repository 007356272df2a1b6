"""The package imports without POSIX-only modules, and the Windows branches do what they say.

CI runs on Linux, so the Windows side is proven two ways: a child interpreter in which the
POSIX-only modules cannot be imported loads every module of the package, and the branches of
``oscompat`` (and the code that uses them) run with ``POSIX`` switched off.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import stat
import subprocess
import sys
import textwrap
from datetime import UTC, datetime
from pathlib import Path

import pytest
from findings import make_finding

import inbox_finder
from inbox_finder import fileutil, oscompat
from inbox_finder.scan import actions
from inbox_finder.scan.state import locked

# Modules Windows' Python does not have. (``signal`` and ``subprocess`` exist there.)
POSIX_ONLY = ("fcntl", "pwd", "grp", "termios", "resource", "tty", "pty")
# os attributes that only POSIX systems have, used at import time by careless code.
POSIX_FLAGS = ("O_NOFOLLOW", "O_NONBLOCK", "O_DIRECTORY", "O_CLOEXEC")
# Test support that drives a Linux IMAP server; not part of what a Windows user imports.
LINUX_TEST_SUPPORT = ("inbox_finder.testing.dovecot", "inbox_finder.testing.dovecot_conf")
FINDING = make_finding("Aa1Bb2Cc3Dd4Ee5Ff6Gg7Hh8I", datetime(2026, 11, 2, 9, 30, tzinfo=UTC))


def package_modules() -> list[str]:
    """Every module of inbox_finder and its providers, by dotted name."""
    # inbox_finder.providers is installed from a folder of its own: walked on its own.
    providers = importlib.import_module("inbox_finder.providers")
    names = ["inbox_finder", "inbox_finder.providers"]
    for package in (inbox_finder, providers):
        found = pkgutil.walk_packages(package.__path__, package.__name__ + ".")
        names += sorted(m.name for m in found if m.name not in LINUX_TEST_SUPPORT)
    names.remove("inbox_finder.__main__")  # runs the CLI when imported
    return names


def test_every_module_imports_without_posix_only_modules() -> None:
    modules = package_modules()
    assert "inbox_finder.scan.state" in modules and "inbox_finder.providers.local.walk" in modules
    script = textwrap.dedent(
        f"""
        import importlib, sys
        import os
        for name in {POSIX_ONLY!r}:
            sys.modules[name] = None  # "import fcntl" now raises ImportError
        for flag in {POSIX_FLAGS!r}:
            delattr(os, flag)  # as on Windows: os.O_NOFOLLOW is an AttributeError there
        failed = []
        for name in {modules!r}:
            try:
                importlib.import_module(name)
            except (ImportError, AttributeError) as exc:
                failed.append(f"{{name}}: {{exc}}")
        print("\\n".join(failed))
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True
    )
    assert out.stdout.strip() == ""


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> None:
    """Take the Windows branches: POSIX off, and the POSIX-only calls made to fail if used."""
    monkeypatch.setattr(oscompat, "POSIX", False)
    monkeypatch.setattr(fileutil, "POSIX", False)

    def posix_only(*_args: object, **_kwargs: object) -> None:
        raise AssertionError("a POSIX-only call was made on the Windows path")

    for name in ("fchmod", "fchown", "geteuid", "killpg"):
        monkeypatch.setattr(os, name, posix_only)


def test_windows_write_keeps_content_without_mode_or_owner_calls(
    tmp_path: Path, windows: None
) -> None:
    target = tmp_path / "creds.json"
    fileutil.write_private(target, "one")
    fileutil.write_private(target, "two")
    assert target.read_text() == "two"


def test_windows_does_not_refuse_a_credential_file_for_its_mode_bits(
    tmp_path: Path, windows: None
) -> None:
    creds = tmp_path / "credentials.json"
    creds.write_text("{}")
    creds.chmod(0o666)  # what Python reports for any writable file on Windows
    fileutil.require_private(creds, "credentials file")


def test_posix_refuses_a_credential_file_others_can_read(tmp_path: Path) -> None:
    creds = tmp_path / "credentials.json"
    creds.write_text("{}")
    creds.chmod(0o644)
    with pytest.raises(inbox_finder.errors.ConfigError, match="readable by other users"):
        fileutil.require_private(creds, "credentials file")


def test_shell_is_the_platforms(monkeypatch: pytest.MonkeyPatch) -> None:
    assert oscompat.shell_name() == "/bin/sh"
    assert oscompat.own_group_kwargs() == {"start_new_session": True}
    monkeypatch.setattr(oscompat, "POSIX", False)
    monkeypatch.setenv("COMSPEC", r"C:\Windows\system32\cmd.exe")
    assert oscompat.shell_name() == r"C:\Windows\system32\cmd.exe"
    flags = oscompat.own_group_kwargs()
    assert set(flags) == {"creationflags"}  # start_new_session is POSIX-only


def test_windows_timeout_ends_the_process_tree_with_taskkill(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, windows: None
) -> None:
    """On Windows a timed-out --exec is ended with ``taskkill /F /T /PID``, then killed."""
    calls = tmp_path / "taskkill.args"
    fake = tmp_path / "bin" / "taskkill"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" > {calls}\n')
    fake.chmod(fake.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", f"{fake.parent}{os.pathsep}{os.environ['PATH']}")
    proc = subprocess.Popen(["sleep", "30"], text=True)
    oscompat.stop_group(proc, grace=0.1)
    assert proc.returncode is not None  # gone, and reaped
    assert calls.read_text().split() == ["/F", "/T", "/PID", str(proc.pid)]


def test_exec_uses_the_group_arguments_of_the_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, object] = {}
    real = subprocess.Popen

    def spy(*args: object, **kwargs: object) -> subprocess.Popen[str]:
        seen.update(kwargs)
        return real(*args, **kwargs)  # type: ignore[call-overload, no-any-return]

    monkeypatch.setattr(subprocess, "Popen", spy)
    actions.run_exec("true", FINDING)
    assert seen["start_new_session"] is True and seen["shell"] is True


def test_state_lock_works_through_filelock(tmp_path: Path) -> None:
    """Two holders of one state lock exclude each other; the lock file stays, 0600."""
    from inbox_finder.scan.state import StateLockedError

    path = tmp_path / "state.json"
    with locked(path, timeout=1), pytest.raises(StateLockedError), locked(path, timeout=0.2):
        pass
    lock = tmp_path / "state.json.lock"
    assert lock.exists() and stat.S_IMODE(lock.stat().st_mode) == 0o600

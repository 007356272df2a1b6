"""`make system-deps` and the Dovecot fixture look for the IMAP server, not just the master."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
from dovecot import missing_package

ROOT = Path(__file__).resolve().parent.parent


def test_missing_imap_server_names_dovecot_imapd(tmp_path: Path) -> None:
    master = tmp_path / "dovecot"
    master.write_text("")
    imap = tmp_path / "imap"
    hint = missing_package(str(master), [imap])
    assert hint is not None
    assert "dovecot-core is installed but dovecot-imapd is not" in hint
    assert f"({imap})" in hint and "apt-get install dovecot-imapd" in hint
    imap.write_text("")
    assert missing_package(str(master), [imap]) is None
    hint = missing_package(str(tmp_path / "no-dovecot"), [imap])
    assert hint is not None and "Dovecot is not installed" in hint


@pytest.mark.skipif(shutil.which("make") is None, reason="make missing")
@pytest.mark.skipif(os.geteuid() != 0, reason="the recipe would run sudo")
@pytest.mark.parametrize("present", [True, False])
def test_make_system_deps_installs_dovecot_imapd_when_the_imap_binary_is_missing(
    tmp_path: Path, present: bool
) -> None:
    imap = tmp_path / "imap"
    if present:
        imap.write_text("#!/bin/sh\n")
        imap.chmod(0o755)
    done = subprocess.run(
        ["make", "-s", "system-deps", f"DOVECOT_IMAP={imap}", "APT_GET=echo apt-get"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    if present:
        assert done.stdout == ""
    else:
        assert "apt-get install -y -q dovecot-imapd" in done.stdout
        assert f"{imap} is missing" in done.stdout

"""A plain ``scan`` never loads the Salesforce SOAP client or an XML parser; ``--verify`` does."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.mbox"
HEAVY = ("inbox_finder.salesforce.login", "inbox_finder.salesforce.verifier", "xml.etree")

PROBE = """
import json, sys
from inbox_finder.cli.main import main
code = main(sys.argv[1:])
print(json.dumps({"code": code, "modules": sorted(sys.modules)}))
"""


def scan_modules(tmp_path: Path, *extra: str) -> tuple[int, set[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("INBOX_FINDER_")}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    args = ["scan", f"mbox:{DEMO}", "--state", str(tmp_path / "state.json"), *extra]
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, *args],
        capture_output=True,
        text=True,
        env=env,
        stdin=subprocess.DEVNULL,
        timeout=60,
        check=False,
    )
    result = json.loads(proc.stdout.splitlines()[-1])
    return result["code"], set(result["modules"])


def test_plain_scan_does_not_import_the_soap_stack(tmp_path: Path) -> None:
    code, modules = scan_modules(tmp_path)
    assert code == 0
    assert not [m for m in HEAVY if m in modules]


def test_scan_verify_does_import_it(tmp_path: Path) -> None:
    """The probe can see the import: with --verify the SOAP client is loaded (no password
    source is set, so no login is made: each new token is reported as not verifiable)."""
    code, modules = scan_modules(tmp_path, "--verify", "--login-url", "https://127.0.0.1:9/")
    assert code == 0
    assert "inbox_finder.salesforce.login" in modules and "xml.etree" in modules

"""A plain ``scan`` never loads the Salesforce SOAP client or an XML parser; ``--verify`` does."""

from __future__ import annotations

from pathlib import Path

from import_probe import cli_modules

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.mbox"
HEAVY = ("inbox_finder.salesforce.login", "inbox_finder.salesforce.verifier", "xml.etree")


def scan_modules(tmp_path: Path, *extra: str) -> tuple[int, set[str]]:
    args = ["scan", f"mbox:{DEMO}", "--state", str(tmp_path / "state.json"), *extra]
    return cli_modules(tmp_path, *args)


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

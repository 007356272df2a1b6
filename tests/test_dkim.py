"""--verify-dkim: real dkimpy signatures made with a test key for salesforce.com, verified offline."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from inbox_finder.cli.main import main
from inbox_finder.engine import Rejection, evaluate
from inbox_finder.model import Candidate, Finding
from inbox_finder.testing.mail import new_token, token_mail
from inbox_finder.trust.policy import TrustPolicy

WHEN = datetime(2024, 1, 1, tzinfo=UTC)


def _keypair() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, b"v=DKIM1; k=rsa; p=" + base64.b64encode(public)


KEYS = {domain: _keypair() for domain in ("salesforce.com", "evil.net")}
LOOKUPS: list[bytes] = []


def fake_dns(name: bytes, timeout: int = 5) -> bytes | None:
    """The DNS of this test: selector 'sel' publishes each test key."""
    LOOKUPS.append(name)
    for domain, (_, record) in KEYS.items():
        if name.rstrip(b".") == b"sel._domainkey." + domain.encode():
            return record
    return None


def signed(raw: bytes, domain: str = "salesforce.com") -> bytes:
    raw = raw.replace(b"\n", b"\r\n")
    sig = dkim.sign(
        raw,
        b"sel",
        domain.encode(),
        KEYS[domain][0],
        include_headers=[b"from", b"subject", b"date", b"to"],
    )
    return sig + raw


POLICY = TrustPolicy(verify_dkim=True, dkim_dns=fake_dns)


def _eval(raw: bytes, policy: TrustPolicy = POLICY) -> Finding | Rejection:
    return evaluate(raw, Candidate("x", WHEN), "t:", policy)


def test_valid_aligned_signature_passes() -> None:
    token = new_token()
    result = _eval(signed(token_mail(token)))
    assert isinstance(result, Finding) and result.token == token
    assert "dkim=pass d=salesforce.com" in result.trust
    assert b"sel._domainkey.salesforce.com" in LOOKUPS[-1]


def test_valid_signature_from_another_domain_is_rejected() -> None:
    result = _eval(signed(token_mail(new_token()), "evil.net"))
    assert isinstance(result, Rejection) and "another domain (evil.net)" in result.reason


def test_body_altered_after_signing_is_rejected() -> None:
    token, forged = new_token(), new_token()
    raw = signed(token_mail(token)).replace(token.encode(), forged.encode())
    result = _eval(raw)
    assert isinstance(result, Rejection) and "does not verify" in result.reason


def test_missing_signature_is_rejected_only_in_dkim_mode() -> None:
    raw = token_mail(new_token())
    result = _eval(raw)
    assert isinstance(result, Rejection) and "no DKIM signature" in result.reason
    assert isinstance(_eval(raw, TrustPolicy()), Finding)


def test_unknown_key_is_rejected() -> None:
    raw = signed(token_mail(new_token())).replace(b"s=sel", b"s=gone")
    assert isinstance(_eval(raw), Rejection)


def test_cli_flag_and_config_switch(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "unsigned.eml").write_bytes(token_mail(new_token()))
    assert main(["find", f"eml:{folder}", "-q"]) == 0
    # Without a signature, --verify-dkim refuses the mail before any DNS lookup is needed.
    assert main(["find", f"eml:{folder}", "-q", "--verify-dkim"]) == 1
    config = tmp_path / "c.toml"
    config.write_text("[trust]\nverify_dkim = true\n")
    assert main(["--config", str(config), "find", f"eml:{folder}", "-q"]) == 1
    capsys.readouterr()

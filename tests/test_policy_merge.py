"""An explicit ``policy=`` adds to the config's and the profile's trust settings, never drops one.

Config ``[trust]``, a profile's ``sender_domains`` / ``verify_dkim``, ``policy=`` and
``verify_dkim=True`` are merged: sender domains and authserv-ids unioned, DKIM required if any
of them asks. Real files (a folder of .eml), real dkimpy signatures with a test key.
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from pathlib import Path

import dkim
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from mailgen import new_token, token_mail

from inbox_finder import NotFoundError, find_token, find_tokens
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.config import load_config
from inbox_finder.trust.policy import DEFAULT_AUTHSERV_IDS, TrustPolicy

WHEN = datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
_KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)
PRIVATE = _KEY.private_bytes(
    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
)
RECORD = b"v=DKIM1; k=rsa; p=" + base64.b64encode(
    _KEY.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
)


def fake_dns(name: bytes, timeout: int = 5) -> bytes | None:
    """This test's DNS: selector 'sel' of salesforce.com publishes the test key."""
    return RECORD if name.rstrip(b".") == b"sel._domainkey.salesforce.com" else None


def signed(raw: bytes) -> bytes:
    raw = raw.replace(b"\n", b"\r\n")
    return (
        dkim.sign(raw, b"sel", b"salesforce.com", PRIVATE, include_headers=[b"from", b"subject"])
        + raw
    )


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "eml"
    path.mkdir()
    return path


def put(folder: Path, name: str, raw: bytes) -> None:
    (folder / f"{name}.eml").write_bytes(raw)


def config(tmp_path: Path, folder: Path, trust: str = "", profile: str = "") -> Path:
    path = tmp_path / "config.toml"
    path.write_text(f'[trust]\n{trust}\n[mailbox.work]\nurl = "eml:{folder}"\n{profile}\n')
    return path


def test_profile_sender_domains_survive_an_explicit_policy(tmp_path: Path, folder: Path) -> None:
    token = new_token()
    put(folder, "relay", token_mail(token, when=WHEN, sender="support@relay.example.com"))
    cfg = config(tmp_path, folder, profile='sender_domains = ["relay.example.com"]')
    assert find_token("work", config=cfg).token == token
    assert find_token("work", config=cfg, policy=TrustPolicy()).token == token


def test_config_dkim_requirement_survives_a_policy_that_injects_dns(
    tmp_path: Path, folder: Path
) -> None:
    """The classic reason to pass a policy (a DNS lookup) must not switch DKIM off."""
    good, forged = new_token(), new_token()
    put(folder, "good", signed(token_mail(good, when=WHEN)))
    put(folder, "forged", token_mail(forged, when=WHEN + timedelta(hours=1)))  # newer, unsigned
    cfg = config(tmp_path, folder, trust="verify_dkim = true")
    found = find_token("work", config=cfg, policy=TrustPolicy(dkim_dns=fake_dns))
    assert found.token == good and "dkim=pass d=salesforce.com" in found.trust


def test_profile_verify_dkim_applies_with_and_without_a_policy(
    tmp_path: Path, folder: Path
) -> None:
    put(folder, "unsigned", token_mail(new_token(), when=WHEN))
    cfg = config(tmp_path, folder, profile="verify_dkim = true")
    for policy in (None, TrustPolicy(dkim_dns=fake_dns)):
        with pytest.raises(NotFoundError) as info:
            find_token("work", config=cfg, policy=policy)
        assert info.value.rejected == {"no valid DKIM signature (--verify-dkim)": 1}


def test_config_authserv_ids_survive_an_explicit_policy(tmp_path: Path, folder: Path) -> None:
    """A DMARC fail recorded by the user's own receiving server still rejects the mail."""
    spoof = token_mail(new_token(), when=WHEN)
    spoof = (
        b"Authentication-Results: mx.example.com; dmarc=fail header.from=salesforce.com\n" + spoof
    )
    put(folder, "spoof", spoof)
    cfg = config(tmp_path, folder, trust='authserv_ids = ["mx.example.com"]')
    for policy in (None, TrustPolicy(), TrustPolicy(dkim_dns=fake_dns)):
        with pytest.raises(NotFoundError) as info:
            find_token("work", config=cfg, policy=policy)
        assert info.value.rejected == {"spoofed sender (DMARC fail)": 1}


def test_a_policy_can_add_a_sender_domain(tmp_path: Path, folder: Path) -> None:
    token = new_token()
    put(folder, "relay", token_mail(token, when=WHEN, sender="support@sf.example.org"))
    cfg = config(tmp_path, folder)
    with pytest.raises(NotFoundError):
        find_token("work", config=cfg)
    extra = TrustPolicy().with_extra_domains(["sf.example.org"])
    assert find_token("work", config=cfg, policy=extra).token == token


def test_provider_instance_keeps_verify_dkim_next_to_a_policy(folder: Path) -> None:
    put(folder, "unsigned", token_mail(new_token(), when=WHEN))
    provider = open_provider(f"eml:{folder}", SourceOptions())
    assert find_tokens(provider, policy=TrustPolicy(dkim_dns=fake_dns))  # DKIM not asked for
    found = find_tokens(provider, policy=TrustPolicy(dkim_dns=fake_dns), verify_dkim=True)
    assert found == []


def test_provider_instance_with_a_config_uses_its_trust_table(tmp_path: Path, folder: Path) -> None:
    put(folder, "unsigned", token_mail(new_token(), when=WHEN))
    cfg = config(tmp_path, folder, trust="verify_dkim = true")
    provider = open_provider(f"eml:{folder}", SourceOptions())
    assert find_tokens(provider) != []  # no config given: the user's file is not read
    assert find_tokens(provider, config=cfg) == []
    assert find_tokens(provider, config=load_config(cfg), policy=TrustPolicy()) == []


def test_merged_is_the_union_and_never_drops_a_check() -> None:
    mine = TrustPolicy(
        sender_domains=("salesforce.com", "relay.example.com"),
        authserv_ids=("mx.example.com",),
        verify_dkim=True,
    )
    theirs = TrustPolicy(dkim_dns=fake_dns)
    merged = mine.merged(theirs)
    assert merged.sender_domains == ("salesforce.com", "relay.example.com")
    assert merged.authserv_ids == ("mx.example.com", *DEFAULT_AUTHSERV_IDS)
    assert merged.verify_dkim and merged.dkim_dns is fake_dns
    assert theirs.merged(mine).verify_dkim

"""The system CA store is registered as OpenSSL's hashed directory when that directory holds
the whole store, so a process reads the one CA its handshake needs instead of parsing the
bundle; any doubt (fewer links than bundle certificates, other places named by SSL_CERT_FILE /
SSL_CERT_DIR, no links) falls back to OpenSSL's default loading."""

from __future__ import annotations

import shutil
import socket
import ssl
import subprocess
from pathlib import Path

import pytest
from dovecot import DovecotServer
from emulators.ms_emulators import make_test_ca

from inbox_finder.net import tls


def _hashed_store(root: Path, *cas: Path, links: int | None = None) -> ssl.DefaultVerifyPaths:
    """A system store like update-ca-certificates writes: a bundle and hashed links."""
    certs = root / "certs"
    certs.mkdir(parents=True)
    bundle = certs / "ca-certificates.crt"
    bundle.write_text("".join(ca.read_text() for ca in cas))
    for ca in cas[: len(cas) if links is None else links]:
        digest = subprocess.run(
            ["openssl", "x509", "-hash", "-noout", "-in", str(ca)],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        shutil.copy(ca, certs / f"{digest}.0")
    return ssl.DefaultVerifyPaths(
        str(bundle), str(certs), "SSL_CERT_FILE", str(bundle), "SSL_CERT_DIR", str(certs)
    )


@pytest.fixture
def system_store(monkeypatch: pytest.MonkeyPatch) -> list[ssl.DefaultVerifyPaths]:
    chosen: list[ssl.DefaultVerifyPaths] = []
    monkeypatch.setattr(ssl, "get_default_verify_paths", lambda: chosen[0])
    return chosen


def _greeting(context: ssl.SSLContext, dovecot: DovecotServer) -> bytes:
    raw = socket.create_connection((dovecot.host, dovecot.imaps_port), timeout=10)
    with ssl.SSLContext.wrap_socket(context, raw, server_hostname=dovecot.host) as conn:
        return conn.recv(200)


def test_hashed_directory_is_read_on_demand(
    dovecot: DovecotServer, tmp_path: Path, system_store: list[ssl.DefaultVerifyPaths]
) -> None:
    system_store.append(_hashed_store(tmp_path, Path(dovecot.ca_file)))
    context = tls._build_context(None)
    assert context.cert_store_stats()["x509_ca"] == 0  # nothing parsed up front
    assert _greeting(context, dovecot).startswith(b"* OK")  # verified against the directory
    assert context.cert_store_stats()["x509_ca"] == 1  # the one CA the handshake needed


def test_bundle_with_a_certificate_the_links_lack_is_loaded_whole(
    dovecot: DovecotServer, tmp_path: Path, system_store: list[ssl.DefaultVerifyPaths]
) -> None:
    extra = make_test_ca(tmp_path / "extra").ca_file
    system_store.append(_hashed_store(tmp_path, Path(dovecot.ca_file), Path(extra), links=1))
    assert tls.system_store_directory(system_store[0]) is None


def test_store_named_elsewhere_by_the_environment_is_loaded_as_openssl_does(
    dovecot: DovecotServer, tmp_path: Path, system_store: list[ssl.DefaultVerifyPaths]
) -> None:
    paths = _hashed_store(tmp_path, Path(dovecot.ca_file))
    other = tmp_path / "corporate.pem"
    other.write_text(Path(dovecot.ca_file).read_text())
    system_store.append(
        ssl.DefaultVerifyPaths(str(other), paths.capath, *paths[2:])  # SSL_CERT_FILE=other
    )
    assert tls.system_store_directory(system_store[0]) is None
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(paths.capath, elsewhere)
    system_store[0] = ssl.DefaultVerifyPaths(paths.cafile, str(elsewhere), *paths[2:])
    assert tls.system_store_directory(system_store[0]) is None
    system_store[0] = paths
    assert tls.system_store_directory(system_store[0]) == paths.capath


def test_directory_without_hashed_links_is_not_used(
    dovecot: DovecotServer, tmp_path: Path, system_store: list[ssl.DefaultVerifyPaths]
) -> None:
    paths = _hashed_store(tmp_path, Path(dovecot.ca_file), links=0)
    system_store.append(paths)
    assert tls.system_store_directory(paths) is None

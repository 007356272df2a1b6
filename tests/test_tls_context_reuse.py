"""One TLS client context per CA file and process: many mailboxes do not reload the store."""

from __future__ import annotations

import shutil
import ssl
import threading
from pathlib import Path

from dovecot import DovecotServer

from inbox_finder.net import tls


def test_one_context_per_ca_file_shared_by_threads(dovecot: DovecotServer) -> None:
    seen: list[ssl.SSLContext] = []
    threads = [
        threading.Thread(
            target=lambda: seen.append(tls.client_context(dovecot.ca_file, shared=True))
        )
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len({id(context) for context in seen}) == 1  # built once, not once per source
    assert tls.client_context(None, shared=True) is tls.client_context(None, shared=True)
    assert (
        tls.client_context(None, shared=True) is not seen[0]
    )  # the system store alone is another one


def test_a_rewritten_ca_file_gets_a_new_context(dovecot: DovecotServer, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    shutil.copy(dovecot.ca_file, ca)
    first = tls.client_context(str(ca), shared=True)
    assert tls.client_context(str(ca), shared=True) is first
    ca.write_text(ca.read_text() + (dovecot.base / "cert.pem").read_text())  # renewed bundle
    second = tls.client_context(str(ca), shared=True)
    assert second is not first
    assert second.cert_store_stats()["x509"] > first.cert_store_stats()["x509"]


def test_the_shared_context_still_verifies_the_server(dovecot: DovecotServer) -> None:
    import socket

    context = tls.client_context(dovecot.ca_file, shared=True)
    for _ in range(2):  # the second connection reuses the context
        with (
            socket.create_connection((dovecot.host, dovecot.imaps_port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=dovecot.host) as conn,
        ):
            assert conn.recv(64).startswith(b"* OK")


def test_http_clients_get_their_own_context(dovecot: DovecotServer) -> None:
    mine = tls.client_context(dovecot.ca_file)
    mine.set_alpn_protocols(["http/1.1"])  # what http.client does to the context it is given
    assert mine is not tls.client_context(dovecot.ca_file, shared=True)
    assert mine is not tls.client_context(dovecot.ca_file)

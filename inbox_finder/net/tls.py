"""TLS for every network client: which CA file applies, and the one SSL context built from it.

Trust is the system's certificate store plus, when given, a CA file (PEM): ``--ca-file`` or
else the profile's ``ca_file``. Certificates and host names are always verified (TLS 1.2 or
newer); nothing turns verification off. A CA file that does not exist, cannot be read or holds
no certificate is a ConfigError (exit 2) naming it, raised when the source is opened, before
any connection, for every provider and for the Salesforce login check.

Consumers: IMAP (imapclient), Gmail (httplib2), Graph and MSAL (requests), the Salesforce SOAP
login (urllib). Each gets the context from ``client_context``; its sockets carry total
deadlines (``inbox_finder.net.deadline.DeadlineSSLSocket``). Where no system store is found
(some minimal containers), certifi's bundle is used if it is installed, as requests would.

Loading the system store: OpenSSL's default (``load_default_certs``) parses the whole CA bundle
file, ~140 certificates and ~30 ms, in every process. Where the system's CA directory holds a
hashed link for at least as many certificates as the bundle (Debian, Ubuntu and Alpine write
both from one source with ``update-ca-certificates``), the directory alone is registered and
OpenSSL reads only the certificates a handshake needs: the same trust anchors, found lazily.
Otherwise — fewer links (a CA added to the bundle only), no directory, or ``SSL_CERT_FILE`` /
``SSL_CERT_DIR`` naming other places than OpenSSL's own — the default loading is used.

``client_context(ca_file, shared=True)`` (IMAP) returns one context per process for each CA
file as it is on disk (path, size, mtime, inode; the system store's file likewise): loading
the system store costs about 40 ms of CPU, more than the rest of an idle scan of one mailbox,
and OpenSSL contexts are safe to share between threads. A CA file rewritten on disk gets a new
one. HTTP clients get their own context each: urllib3 and http.client change the context
they are given (ALPN, extra CA files), which must not leak into other connections.
"""

from __future__ import annotations

import os
import re
import ssl
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from inbox_finder.errors import ConfigError

from .deadline import DeadlineSSLSocket

PRIVATE_CA_HINT = "for a private CA pass --ca-file"


def resolve_ca_file(
    ca_file: str | os.PathLike[str] | None, profile: Mapping[str, Any] | None = None
) -> str | None:
    """The CA file that applies (``--ca-file`` over the profile's ``ca_file``), checked.

    Returns the expanded path, or None for the system store alone; ConfigError naming the file
    when it is missing, unreadable or holds no PEM certificate.
    """
    chosen: object = ca_file or (profile or {}).get("ca_file") or None
    if chosen is None:
        return None
    if not isinstance(chosen, str | os.PathLike):
        raise ConfigError("profile key ca_file must be the path of a PEM file")
    path = Path(chosen).expanduser()
    if not path.is_file():
        raise ConfigError(f"CA file not found: {chosen}")
    try:
        with path.open("rb") as handle:
            handle.read(1)
    except OSError as exc:
        raise ConfigError(f"cannot read CA file {chosen}: {exc.strerror or exc}") from exc
    probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        probe.load_verify_locations(cafile=str(path))
    except (OSError, ssl.SSLError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or type(exc).__name__
        raise ConfigError(f"CA file {chosen} holds no usable PEM certificate ({reason})") from exc
    return str(path)


_Signature = tuple[object, ...]
_CONTEXTS: dict[str | None, tuple[_Signature, ssl.SSLContext]] = {}
_CONTEXTS_LOCK = threading.Lock()


def _on_disk(path: str | None) -> _Signature:
    """What identifies a file's current content cheaply: (path, size, mtime, inode)."""
    if not path:
        return (path,)
    try:
        st = os.stat(path)
    except OSError:
        return (path,)
    return (path, st.st_size, st.st_mtime_ns, st.st_ino)


def client_context(ca_file: str | None, *, shared: bool = False) -> ssl.SSLContext:
    """A verifying client context: the system store plus ``ca_file`` (already resolved).

    ``shared``: the process's one context for this CA file, for clients that never change it.
    """
    if not shared:
        return _build_context(ca_file)
    paths = ssl.get_default_verify_paths()
    signature = (_on_disk(ca_file), _on_disk(paths.cafile), _on_disk(paths.capath))
    with _CONTEXTS_LOCK:  # held while building: concurrent sources build it once
        cached = _CONTEXTS.get(ca_file)
        if cached is None or cached[0] != signature:
            cached = _CONTEXTS[ca_file] = (signature, _build_context(ca_file))
        return cached[1]


def _build_context(ca_file: str | None) -> ssl.SSLContext:
    # Hostname check and CERT_REQUIRED either way; the system store as the module doc says.
    directory = system_store_directory(ssl.get_default_verify_paths())
    context = ssl.create_default_context(capath=directory)
    context.minimum_version = max(context.minimum_version, ssl.TLSVersion.TLSv1_2)
    if directory is None and not _has_system_store():  # a chosen directory is a store
        _load_certifi(context)
    if ca_file:
        try:
            context.load_verify_locations(cafile=ca_file)
        except (OSError, ssl.SSLError) as exc:  # changed since resolve_ca_file checked it
            raise ConfigError(f"cannot load CA file {ca_file}: {exc}") from exc
    context.sslsocket_class = DeadlineSSLSocket
    return context


def describe(error: ssl.SSLError, where: str, doing: str | None = None) -> str:
    """One line for a TLS failure with ``where``; an untrusted certificate names the fix.

    ``doing`` ("connecting") says when a handshake or protocol failure happened.
    """
    # Errors raised by _ssl carry reason/verify_message; ones built in Python may not.
    reason = getattr(error, "reason", None) or type(error).__name__
    if isinstance(error, ssl.SSLCertVerificationError):
        why = getattr(error, "verify_message", None) or reason
        return f"TLS certificate of {where} did not verify ({why}); {PRIVATE_CA_HINT}"
    if doing:
        return f"TLS with {where} failed while {doing}: {reason}"
    return f"TLS with {where} failed ({reason})"


_HASHED_NAME = re.compile(r"[0-9a-f]{8}\.[0-9]+")  # OpenSSL's subject-hash links


def system_store_directory(paths: ssl.DefaultVerifyPaths) -> str | None:
    """The system CA directory, when it alone holds the whole system store; else None."""
    if not paths.capath or not _same_file(paths.capath, paths.openssl_capath):
        return None  # SSL_CERT_DIR names another directory: load it the way OpenSSL does
    if paths.cafile and not _same_file(paths.cafile, paths.openssl_cafile):
        return None  # SSL_CERT_FILE names another bundle
    try:
        links = sum(1 for name in os.listdir(paths.capath) if _HASHED_NAME.fullmatch(name))
        bundle = paths.cafile and Path(paths.cafile).is_file()
        certificates = Path(paths.cafile).read_bytes().count(b"-----BEGIN ") if bundle else 0
    except OSError:
        return None
    return paths.capath if links and links >= certificates else None


def _same_file(path: str, other: str) -> bool:
    return os.path.realpath(path) == os.path.realpath(other)


def _has_system_store() -> bool:
    paths = ssl.get_default_verify_paths()
    if paths.cafile and Path(paths.cafile).is_file():
        return True
    return bool(paths.capath and Path(paths.capath).is_dir() and any(Path(paths.capath).iterdir()))


def _load_certifi(context: ssl.SSLContext) -> None:
    try:
        import certifi  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return
    context.load_verify_locations(cafile=certifi.where())

"""Loopback emulators for Microsoft identity (TLS, test CA) and Graph, for real MSAL + requests.

Behaviour follows the published references: the OpenID configuration MSAL fetches from
``{authority}/v2.0/.well-known/openid-configuration``, the device-code and token endpoints
(``authorization_pending`` while the user "types the code", refresh_token, client_credentials
with a secret or a signed client assertion), and Graph's list-messages rules (InefficientFilter
when ``$orderby`` does not lead ``$filter``, ``endswith``/``contains`` on from rejected as invalid
nodes, ``$search`` not combinable with ``$filter``/``$orderby``, opaque ``@odata.nextLink``),
``$value`` MIME, 401/403/404 error bodies and injectable 429/503 with Retry-After. Both
emulators take opt-in transport faults (``break_next``: an answer cut off mid-body, a complete
answer whose JSON is cut, a stall before or inside the answer). The Graph side lives in
ms_graph_emulator (same plumbing). No pytest here, so scripts can start them too.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
import ssl
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

Json = dict[str, Any]


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# ---------------------------------------------------------------- TLS material


@dataclass(frozen=True)
class LoopbackCA:
    """A throwaway CA and a server certificate for 127.0.0.1 and localhost."""

    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_file, self.key_file)
        return ctx


def _key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _cert(
    subject: str,
    key: rsa.RSAPrivateKey,
    issuer: x509.Name | None,
    signer: rsa.RSAPrivateKey,
    *,
    ca: bool,
    sans: list[x509.GeneralName],
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    builder = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer or name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if sans:
        builder = builder.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    return builder.sign(signer, hashes.SHA256())


def _pem_key(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def make_test_ca(directory: Path) -> LoopbackCA:
    """Write ca.pem, server.pem and server.key into ``directory``."""
    import ipaddress

    directory.mkdir(parents=True, exist_ok=True)
    ca_key, srv_key = _key(), _key()
    ca = _cert("inbox-finder test CA", ca_key, None, ca_key, ca=True, sans=[])
    srv = _cert(
        "127.0.0.1",
        srv_key,
        ca.subject,
        ca_key,
        ca=False,
        # Salesforce's login hosts too: tests that pick an endpoint by name reach the emulator
        # through an injected resolver, and TLS still checks the name.
        sans=[
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.DNSName("localhost"),
            x509.DNSName("login.salesforce.com"),
            x509.DNSName("test.salesforce.com"),
        ],
    )
    paths = LoopbackCA(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(srv.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(_pem_key(srv_key))
    return paths


def make_client_certificate(directory: Path, client_id: str) -> tuple[Path, bytes]:
    """An app credential PEM (key + self-signed cert) and the cert's PEM for registration."""
    key = _key()
    cert = _cert(client_id, key, None, key, ca=False, sans=[])
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    path = directory / f"{client_id}.pem"
    path.write_bytes(_pem_key(key) + cert_pem)
    path.chmod(0o600)  # a private key; the provider refuses one that others can read
    return path, cert_pem


# ---------------------------------------------------------------- HTTP plumbing


@dataclass(frozen=True)
class Recorded:
    """One request as the emulator saw it (tests count and inspect these)."""

    method: str
    path: str
    query: str
    status: int
    form: Json = field(default_factory=dict)
    authorization: str | None = None
    fault: str = ""  # the WireFault mode applied to this answer, if any


@dataclass
class Reply:
    status: int
    body: bytes | Json
    headers: dict[str, str] = field(default_factory=dict)


WIRE_FAULTS = ("truncate", "cut-json", "stall", "stall-body")


@dataclass
class WireFault:
    """A transport fault for the next ``times`` requests whose path contains ``path_part``.

    ``truncate``: the real answer with its full Content-Length, half the body, then the
    connection closes. ``cut-json``: a complete answer (Content-Length matches) whose body is
    cut in half, so its JSON is invalid. ``stall``: wait ``delay`` seconds before answering.
    ``stall-body``: send the headers and half the body, then wait ``delay`` seconds.
    """

    mode: str
    times: int
    path_part: str = ""
    delay: float = 0.0


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes; avoid 40 ms stalls
    server: _Server

    def _serve(self, method: str) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        parts = urlsplit(self.path)
        emu = self.server.emulator
        with emu.lock:
            reply = emu.handle(method, parts.path, parts.query, dict(self.headers.items()), body)
            form = dict(parse_qsl(body.decode("latin-1"))) if method == "POST" else {}
            wire = emu.take_wire_fault(parts.path)
            emu.requests.append(
                Recorded(
                    method,
                    parts.path,
                    parts.query,
                    reply.status,
                    form,
                    self.headers.get("Authorization"),
                    wire.mode if wire else "",
                )
            )
        data = reply.body if isinstance(reply.body, bytes) else json.dumps(reply.body).encode()
        mode, delay = (wire.mode, wire.delay) if wire else ("", 0.0)
        if mode == "stall" and emu.closing.wait(delay):
            self.close_connection = True
            return
        if mode == "cut-json":
            data = data[: len(data) // 2]
        try:
            self.send_response(reply.status)
            ctype = "text/plain" if isinstance(reply.body, bytes) else "application/json"
            for key, value in {"Content-Type": ctype, **reply.headers}.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            if mode in ("truncate", "stall-body"):
                half = len(data) // 2
                self.wfile.write(data[:half])
                self.wfile.flush()
                if mode == "truncate" or emu.closing.wait(delay):
                    self.close_connection = True  # the client sees EOF before Content-Length
                    return
                data = data[half:]
            self.wfile.write(data)
        except OSError:  # the client gave up (timed out) while we stalled
            self.close_connection = True

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep pytest output clean


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    emulator: _Emulator


class _Emulator:
    """A threaded HTTP(S) server on 127.0.0.1 with an ephemeral port and a request log."""

    def __init__(self, tls: LoopbackCA | None) -> None:
        self.lock = threading.RLock()
        self.requests: list[Recorded] = []
        self.wire_faults: list[WireFault] = []
        self.closing = threading.Event()  # ends stalls early when the emulator closes
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.emulator = self
        if tls is not None:
            self._server.socket = tls.server_context().wrap_socket(
                self._server.socket, server_side=True
            )
        scheme = "https" if tls else "http"
        self.base_url = f"{scheme}://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(
            target=self._server.serve_forever, args=(0.02,), daemon=True
        )
        self._thread.start()

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        raise NotImplementedError

    def break_next(
        self, mode: str, times: int = 1, path_part: str = "", delay: float = 2.0
    ) -> None:
        """Apply the transport fault ``mode`` (see WireFault) to the next ``times`` requests
        whose path contains ``path_part``."""
        if mode not in WIRE_FAULTS:
            raise ValueError(f"unknown wire fault {mode!r}; one of {WIRE_FAULTS}")
        with self.lock:
            self.wire_faults.append(WireFault(mode, times, path_part, delay))

    def take_wire_fault(self, path: str) -> WireFault | None:
        """The transport fault for this request, if one is pending (called under the lock)."""
        for fault in self.wire_faults:
            if fault.times > 0 and fault.path_part in path:
                fault.times -= 1
                return fault
        return None

    def close(self) -> None:
        self.closing.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# ---------------------------------------------------------------- identity


@dataclass
class Grant:
    """What an issued token stands for."""

    kind: str  # "user" or "app"
    subject: str  # user principal name, or client_id for app tokens
    client_id: str
    expires: float
    roles: tuple[str, ...] = ()


@dataclass
class AppRegistration:
    client_id: str
    secret: str | None = None
    certificate_pem: bytes | None = None
    roles: tuple[str, ...] = ("Mail.Read",)


class IdentityEmulator(_Emulator):
    """Microsoft identity platform v2.0 subset: discovery, device code, token endpoint."""

    def __init__(
        self,
        tls: LoopbackCA,
        *,
        tenant_id: str = "72f988bf-0000-4000-8000-2d7cd011db47",
        pending_polls: int = 2,
        interval: int = 1,
        slow_down_polls: int = 0,
    ) -> None:
        super().__init__(tls)
        if interval < 1:
            raise ValueError("the device-code interval is at least 1 second (Azure says 5)")
        self.tenant_id = tenant_id
        # Device-code polling as RFC 8628 section 3.5 has it: the answer names an interval
        # (Azure: 5 s; 1 here to keep tests fast), a poll sooner than that after the previous
        # one is answered ``slow_down``, and ``slow_down_polls`` forces that many first.
        self.interval = interval
        self.slow_down_polls = slow_down_polls
        self.poll_times: list[float] = []
        self.tenant_names = {tenant_id, "common", "organizations", "example.com"}
        self.pending_polls = pending_polls
        self.token_lifetime = 3600
        self.apps: dict[str, AppRegistration] = {}
        self.public_clients: set[str] = set()
        self.device_user = "dana@example.com"
        self.access_tokens: dict[str, Grant] = {}
        self.refresh_tokens: dict[str, Grant] = {}
        # code -> [client_id, pending polls left, scope, time of the last poll]
        self._device_codes: dict[str, list[Any]] = {}

    def authority(self, tenant: str | None = None) -> str:
        return f"{self.base_url}/{tenant or self.tenant_id}"

    def register_public_client(self, client_id: str) -> None:
        self.public_clients.add(client_id)

    def register_app(
        self,
        client_id: str,
        *,
        secret: str | None = None,
        certificate_pem: bytes | None = None,
        roles: tuple[str, ...] = ("Mail.Read",),
    ) -> None:
        self.apps[client_id] = AppRegistration(client_id, secret, certificate_pem, roles)

    def revoke_refresh_tokens(self) -> None:
        self.refresh_tokens.clear()

    def grant_for(self, token: str) -> Grant | None:
        with self.lock:
            return self.access_tokens.get(token)

    @staticmethod
    def _error(error: str, description: str, status: int = 400) -> Reply:
        return Reply(
            status,
            {
                "error": error,
                "error_description": description,
                "error_codes": [int(re.sub(r"\D", "", description[:12]) or 0)],
            },
        )

    def handle(
        self, method: str, path: str, query: str, headers: dict[str, str], body: bytes
    ) -> Reply:
        m = re.fullmatch(
            r"/([^/]+)/(v2\.0/\.well-known/openid-configuration|"
            r"oauth2/v2\.0/devicecode|oauth2/v2\.0/token)",
            path,
        )
        if not m:
            return Reply(404, {"error": "not_found", "error_description": path})
        tenant, what = m.groups()
        if tenant not in self.tenant_names:
            return self._error("invalid_tenant", f"AADSTS90002: Tenant '{tenant}' not found.")
        if what.startswith("v2.0") and method == "GET":
            return Reply(200, self._openid_configuration(tenant))
        form = dict(parse_qsl(body.decode()))
        if what.endswith("devicecode") and method == "POST":
            return self._devicecode(form)
        if what.endswith("token") and method == "POST":
            return self._token(tenant, form, headers)
        return Reply(405, {"error": "invalid_request", "error_description": "method"})

    def _openid_configuration(self, tenant: str) -> Json:
        base = f"{self.base_url}/{tenant}"
        return {
            "issuer": f"{self.base_url}/{self.tenant_id}/v2.0",
            "authorization_endpoint": f"{base}/oauth2/v2.0/authorize",
            "token_endpoint": f"{base}/oauth2/v2.0/token",
            "device_authorization_endpoint": f"{base}/oauth2/v2.0/devicecode",
            "jwks_uri": f"{base}/discovery/v2.0/keys",
            "response_types_supported": ["code", "id_token", "code id_token", "token id_token"],
            "subject_types_supported": ["pairwise"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
            "tenant_region_scope": "EU",
        }

    def _devicecode(self, form: dict[str, str]) -> Reply:
        client_id = form.get("client_id", "")
        if client_id not in self.public_clients:
            return self._error("unauthorized_client", "AADSTS700016: Application not found.")
        code = secrets.token_urlsafe(24)
        user_code = secrets.token_hex(4).upper()
        self._device_codes[code] = [client_id, self.pending_polls, form.get("scope", ""), None]
        return Reply(
            200,
            {
                "device_code": code,
                "user_code": user_code,
                "expires_in": 900,
                "interval": self.interval,
                "verification_uri": f"{self.base_url}/devicelogin",
                "message": f"To sign in, use a web browser to open the page {self.base_url}/devicelogin"
                f" and enter the code {user_code} to authenticate.",
            },
        )

    def _too_soon(self, state: list[Any]) -> bool:
        """Record this poll; True when it must be answered ``slow_down``."""
        now, last = time.monotonic(), state[3]
        self.poll_times.append(now)
        state[3] = now
        if self.slow_down_polls > 0:
            self.slow_down_polls -= 1
            return True
        return last is not None and now - last < self.interval - 0.05  # 50 ms of clock slack

    def _token(self, tenant: str, form: dict[str, str], headers: dict[str, str]) -> Reply:
        grant_type = form.get("grant_type", "")
        client_id = form.get("client_id", "")
        if grant_type == "urn:ietf:params:oauth:grant-type:device_code":
            state = self._device_codes.get(form.get("device_code", ""))
            if state is None or state[0] != client_id:
                return self._error("invalid_grant", "AADSTS70000: Invalid device code.")
            if self._too_soon(state):
                return self._error(
                    "slow_down", "AADSTS70016: OAuth 2.0 device flow error. Poll less often."
                )
            if state[1] > 0:
                state[1] -= 1
                return self._error(
                    "authorization_pending",
                    "AADSTS70016: OAuth 2.0 device flow error. Authorization is "
                    "pending. Continue polling.",
                )
            del self._device_codes[form["device_code"]]
            # The granted scope is the one asked for at /devicecode (MSAL caches by it).
            return self._user_tokens(client_id, self.device_user, state[2])
        if grant_type == "refresh_token":
            grant = self.refresh_tokens.pop(form.get("refresh_token", ""), None)
            if grant is None or grant.client_id != client_id:
                return self._error(
                    "invalid_grant",
                    "AADSTS700082: The refresh token has expired due to inactivity.",
                )
            return self._user_tokens(client_id, grant.subject, form.get("scope", ""))
        if grant_type == "client_credentials":
            return self._client_credentials(tenant, form, headers)
        return self._error("unsupported_grant_type", f"AADSTS70003: {grant_type!r}")

    def _user_tokens(self, client_id: str, upn: str, scope: str) -> Reply:
        now = int(dt.datetime.now(dt.UTC).timestamp())
        access, refresh = "eyJ0-user-" + secrets.token_urlsafe(32), secrets.token_urlsafe(40)
        oid = str(hashlib.md5(upn.encode()).hexdigest())  # noqa: S324 - a stable fake id
        self.access_tokens[access] = Grant("user", upn, client_id, now + self.token_lifetime)
        self.refresh_tokens[refresh] = Grant("user", upn, client_id, now + 86400)
        claims = {
            "aud": client_id,
            "iss": f"{self.base_url}/{self.tenant_id}/v2.0",
            "iat": now,
            "nbf": now,
            "exp": now + 3600,
            "name": upn.split("@")[0].title(),
            "oid": oid,
            "preferred_username": upn,
            "sub": b64url(oid.encode())[:43],
            "tid": self.tenant_id,
            "ver": "2.0",
        }
        id_token = ".".join(
            [b64url(b'{"typ":"JWT","alg":"none"}'), b64url(json.dumps(claims).encode()), ""]
        )
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "scope": scope,
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": access,
                "refresh_token": refresh,
                "id_token": id_token,
                "client_info": b64url(json.dumps({"uid": oid, "utid": self.tenant_id}).encode()),
            },
        )

    def _client_credentials(
        self, tenant: str, form: dict[str, str], headers: dict[str, str]
    ) -> Reply:
        app = self.apps.get(form.get("client_id", ""))
        if app is None:
            return self._error("unauthorized_client", "AADSTS700016: Application not found.", 400)
        if tenant in {"common", "organizations"}:
            return self._error("invalid_request", "AADSTS90009: Use a tenant-specific endpoint.")
        secret = form.get("client_secret")
        auth = headers.get("Authorization", "")
        if auth.startswith("Basic "):
            secret = unquote(base64.b64decode(auth[6:]).decode().partition(":")[2])
        if secret is not None:
            if app.secret is None or not secrets.compare_digest(secret, app.secret):
                return self._error(
                    "invalid_client", "AADSTS7000215: Invalid client secret provided.", 401
                )
        elif not self._assertion_ok(app, form, tenant):
            return self._error(
                "invalid_client", "AADSTS700027: Client assertion failed signature validation.", 401
            )
        now = int(dt.datetime.now(dt.UTC).timestamp())
        access = "eyJ0-app-" + secrets.token_urlsafe(32)
        self.access_tokens[access] = Grant(
            "app", app.client_id, app.client_id, now + self.token_lifetime, app.roles
        )
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": self.token_lifetime,
                "ext_expires_in": self.token_lifetime,
                "access_token": access,
            },
        )

    def _assertion_ok(self, app: AppRegistration, form: dict[str, str], tenant: str) -> bool:
        """Verify an RS256/PS256 client assertion against the registered certificate."""
        if app.certificate_pem is None or "client_assertion" not in form:
            return False
        try:
            head_b64, claims_b64, sig_b64 = form["client_assertion"].split(".")
            header = json.loads(b64url_decode(head_b64))
            claims = json.loads(b64url_decode(claims_b64))
        except ValueError:
            return False
        cert = x509.load_pem_x509_certificate(app.certificate_pem)
        thumbprints = {
            "x5t": cert.fingerprint(hashes.SHA1()),  # noqa: S303 - the x5t spec
            "x5t#S256": cert.fingerprint(hashes.SHA256()),
        }
        if not any(b64url_decode(header.get(k, "")) == v for k, v in thumbprints.items()):
            return False
        alg = header.get("alg")
        pad: padding.AsymmetricPadding
        if alg == "PS256":
            pad = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        elif alg == "RS256":
            pad = padding.PKCS1v15()
        else:
            return False
        public = cert.public_key()
        assert isinstance(public, rsa.RSAPublicKey)
        try:
            public.verify(
                b64url_decode(sig_b64), f"{head_b64}.{claims_b64}".encode(), pad, hashes.SHA256()
            )
        except (ValueError, InvalidSignature):  # bad base64 or a signature that does not verify
            return False
        return bool(
            claims.get("iss") == claims.get("sub") == app.client_id
            and claims.get("aud") == f"{self.base_url}/{tenant}/oauth2/v2.0/token"
            and claims.get("exp", 0) > dt.datetime.now(dt.UTC).timestamp()
        )

"""MSAL token sources for Microsoft Graph: delegated (device-code login + cache) and app-only.

msal and requests are imported inside functions so that importing this module stays cheap and
an IMAP lookup never loads the Microsoft SDK. Every msal/requests exception is translated here
(``raise ... from exc``); messages name hosts and commands, never a token or a secret.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, TextIO
from urllib.parse import urlsplit

from inbox_finder.errors import AuthError, ConfigError, MailboxError
from inbox_finder.fileutil import require_private, write_private
from inbox_finder.net import tls

from .graph import DEFAULT_RETRY, MsalHttp, make_session

if TYPE_CHECKING:
    pass

log = logging.getLogger(__name__)

GRAPH_RESOURCE = "https://graph.microsoft.com"
# Read-only by construction: the delegated grant is Mail.Read, the app grant is whatever the
# admin consented for Graph (.default), which should be Mail.Read only.
DELEGATED_SCOPES = ("Mail.Read",)
APP_SCOPES = (f"{GRAPH_RESOURCE}/.default",)
LOGIN_HOST = "https://login.microsoftonline.com"
# Client credentials need a concrete tenant; these aliases only work for delegated sign-in.
MULTI_TENANT_ALIASES = frozenset({"common", "organizations", "consumers"})


class TokenSource(Protocol):
    """Something that hands out a Graph bearer token (fresh or cached)."""

    def access_token(self) -> str:
        """Return a currently valid access token for Graph."""
        ...


def default_cache_path() -> Path:
    """The delegated token cache: ``<user cache dir>/outlook/msal_cache.json``."""
    import platformdirs

    return Path(platformdirs.user_cache_dir("inbox-finder")) / "outlook" / "msal_cache.json"


def resolve_authority(tenant: str, authority: str | None) -> str:
    """The authority URL (explicit or built from the tenant); MSAL insists on https."""
    url = (authority or f"{LOGIN_HOST}/{tenant}").rstrip("/")
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname or parts.path.strip("/") == "":
        raise ConfigError(
            f"authority must be an https URL with a tenant path, e.g. {LOGIN_HOST}/TENANT; "
            f"got {url!r}"
        )
    return url


def login_command(client_id: str, tenant: str) -> str:
    """The command that fixes a missing or expired delegated login."""
    cmd = f"inbox-finder login outlook --client-id {client_id}"
    return cmd if tenant == "common" else f"{cmd} --tenant {tenant}"


def _first_line(text: object, secrets: Sequence[str] = ()) -> str:
    """One short line of diagnostic text with any known secret blanked out."""
    line = str(text).strip().splitlines()[0] if str(text).strip() else ""
    for secret in secrets:
        if secret:
            line = line.replace(secret, "****")
    return line[:200]


@contextmanager
def translate_msal_errors(authority: str, secrets: Sequence[str] = ()) -> Iterator[None]:
    """Map msal/requests exceptions raised while talking to the identity endpoint."""
    import requests
    from msal.exceptions import MsalServiceError

    host = urlsplit(authority).netloc
    try:
        yield
    except requests.exceptions.SSLError as exc:  # MsalHttp translates what it sends itself
        raise MailboxError(f"TLS failure talking to the identity endpoint {host}") from exc
    except requests.RequestException as exc:
        raise MailboxError(
            f"cannot reach the identity endpoint {host} ({type(exc).__name__})"
        ) from exc
    except MsalServiceError as exc:
        raise MailboxError(
            f"identity endpoint {host} answered an error: {_first_line(exc, secrets)}"
        ) from exc
    except ValueError as exc:
        if _is_malformed_answer(exc):
            # A cut or garbled JSON answer: the endpoint's fault (or the network's), not the
            # configuration's. MSAL rewords it for OIDC discovery, so look at the chain.
            raise MailboxError(f"identity endpoint {host} sent a malformed answer") from exc
        # MSAL raises ValueError for an unknown tenant (OIDC discovery 400) and bad credentials
        # configuration (e.g. a certificate without thumbprint).
        raise ConfigError(
            f"Microsoft identity setup failed for {authority}: {_first_line(exc, secrets)}"
        ) from exc


def _is_malformed_answer(exc: BaseException) -> bool:
    """True when ``exc`` is, or was raised while handling, a JSON decoding failure."""
    import json

    seen: BaseException | None = exc
    for _ in range(5):
        if seen is None:
            return False
        if isinstance(seen, json.JSONDecodeError | UnicodeDecodeError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def _result_error(result: dict[str, Any], secrets: Sequence[str] = ()) -> str:
    """``error: first line of error_description`` from an MSAL result dict."""
    desc = _first_line(result.get("error_description", ""), secrets)
    return f"{result.get('error', 'error')}: {desc}" if desc else str(result.get("error"))


class DelegatedTokens:
    """Tokens for the signed-in user from the MSAL cache written by ``login outlook``."""

    def __init__(
        self,
        client_id: str,
        tenant: str,
        authority: str,
        cache_path: Path,
        http: MsalHttp,
        account: str | None = None,
    ) -> None:
        self.client_id = client_id
        self.tenant = tenant
        self.authority = authority
        self.cache_path = cache_path
        self.http = http  # public: the provider hands it a new retry policy
        self._account_hint = account
        self._app: Any = None
        self._cache: Any = None
        self._account: dict[str, Any] | None = None

    def _fix_hint(self) -> str:
        return f"run: {login_command(self.client_id, self.tenant)}"

    def _load(self) -> None:
        import msal

        cache = msal.SerializableTokenCache()
        try:
            if self.cache_path.exists():
                require_private(self.cache_path, "Outlook token cache")
                cache.deserialize(self.cache_path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise AuthError(
                f"cannot read the Outlook token cache {self.cache_path}; {self._fix_hint()}"
            ) from exc
        with translate_msal_errors(self.authority):
            self._app = msal.PublicClientApplication(
                self.client_id,
                authority=self.authority,
                token_cache=cache,
                http_client=self.http,
                # The authority comes from the user's own config and is the only one used, so
                # alias discovery (a call to login.microsoftonline.com) buys nothing, and it
                # would reject private/sovereign authorities and the test emulator.
                instance_discovery=False,
            )
        self._cache = cache

    def _pick_account(self) -> dict[str, Any]:
        accounts: list[dict[str, Any]] = self._app.get_accounts()
        if self._account_hint:
            accounts = [
                a
                for a in accounts
                if str(a.get("username", "")).lower() == self._account_hint.lower()
            ]
        if not accounts:
            who = f" for {self._account_hint}" if self._account_hint else ""
            raise AuthError(f"no Outlook login cached{who}; {self._fix_hint()}")
        if len(accounts) > 1:
            names = ", ".join(sorted(str(a.get("username")) for a in accounts))
            raise ConfigError(
                f"the Outlook token cache holds several accounts ({names}); "
                "set the profile key 'account' to one of them"
            )
        return accounts[0]

    def access_token(self) -> str:
        """A token from the cache, refreshed silently; AuthError naming the login command."""
        if self._app is None:
            self._load()
        with translate_msal_errors(self.authority):
            if self._account is None:
                self._account = self._pick_account()
            result = self._app.acquire_token_silent_with_error(
                list(DELEGATED_SCOPES), account=self._account
            )
        self._save()
        if not result:
            raise AuthError(f"no usable Outlook token in the cache; {self._fix_hint()}")
        if "access_token" not in result:
            raise AuthError(
                f"Outlook token refresh failed ({_result_error(result)}); {self._fix_hint()}"
            )
        return str(result["access_token"])

    def _save(self) -> None:
        if self._cache is not None and self._cache.has_state_changed:
            save_cache(self._cache, self.cache_path)


def save_cache(cache: Any, path: Path) -> None:
    """Persist an MSAL SerializableTokenCache 0600, atomically; only called when it changed."""
    try:
        write_private(path, cache.serialize())
    except OSError as exc:
        raise AuthError(f"cannot write the Outlook token cache {path}: {exc.strerror}") from exc
    cache.has_state_changed = False


@dataclass(frozen=True)
class AppCredential:
    """Where the app-only credential lives: an env var holding a secret, or a PEM file."""

    secret_env: str | None = None
    certificate: str | None = None
    thumbprint: str | None = None

    def load(self) -> str | dict[str, str]:
        """The credential in MSAL's client_credential shape; ConfigError if unavailable."""
        if self.secret_env:
            secret = os.environ.get(self.secret_env, "")
            if not secret:
                raise ConfigError(
                    f"environment variable {self.secret_env} (client_secret_env) "
                    "is not set or empty"
                )
            return secret
        if self.certificate:
            return self._load_certificate(Path(self.certificate).expanduser())
        raise ConfigError(
            "app-only Outlook access needs client_secret_env or client_certificate in the profile"
        )

    def _load_certificate(self, path: Path) -> dict[str, str]:
        require_private(path, "client_certificate")
        try:
            pem = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"cannot read client_certificate {path}") from exc
        if "PRIVATE KEY-----" not in pem:
            raise ConfigError(f"client_certificate {path} holds no PEM private key")
        if self.thumbprint:
            return {"private_key": pem, "thumbprint": self.thumbprint.replace(":", "")}
        begin = pem.find("-----BEGIN CERTIFICATE-----")
        if begin < 0:
            raise ConfigError(
                f"client_certificate {path} holds no certificate; add it to the "
                "PEM file or set client_certificate_thumbprint"
            )
        # MSAL derives the SHA-256 thumbprint (x5t#S256) from the certificate itself.
        return {"private_key": pem, "public_certificate": pem[begin:]}


class AppTokens:
    """App-only tokens (client credentials) for ``/users/{upn}`` mailboxes."""

    def __init__(
        self, client_id: str, authority: str, credential: AppCredential, http: MsalHttp
    ) -> None:
        self.client_id = client_id
        self.authority = authority
        self._credential = credential
        self.http = http  # public: the provider hands it a new retry policy
        self._app: Any = None
        self._secrets: tuple[str, ...] = ()

    def access_token(self) -> str:
        """A client-credentials token; MSAL keeps it in memory until it nears expiry."""
        import msal

        if self._app is None:
            cred = self._credential.load()
            self._secrets = (cred,) if isinstance(cred, str) else ()
            with translate_msal_errors(self.authority, self._secrets):
                self._app = msal.ConfidentialClientApplication(
                    self.client_id,
                    client_credential=cred,
                    authority=self.authority,
                    http_client=self.http,
                    instance_discovery=False,
                    azure_region=False,  # no IMDS region probe from a cron job or laptop
                )
        with translate_msal_errors(self.authority, self._secrets):
            result = self._app.acquire_token_for_client(scopes=list(APP_SCOPES))
        if "access_token" not in result:
            raise AuthError(
                f"app-only sign-in for client {self.client_id} failed: "
                f"{_result_error(result, self._secrets)}"
            )
        return str(result["access_token"])


def run_device_code_login(
    client_id: str,
    tenant: str = "common",
    authority: str | None = None,
    cache_path: str | os.PathLike[str] | None = None,
    *,
    ca_file: str | None = None,
    timeout: float = 30.0,
    out: TextIO | None = None,
) -> str:
    """Device-code sign-in with scope Mail.Read; saves the cache 0600, returns the username."""
    import msal

    url = resolve_authority(tenant, authority)
    path = Path(cache_path) if cache_path else default_cache_path()
    cache = msal.SerializableTokenCache()
    try:
        if path.exists():
            cache.deserialize(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        log.warning("ignoring unreadable token cache %s; it will be rewritten", path)
    session = make_session(tls.resolve_ca_file(ca_file))
    try:
        with translate_msal_errors(url):
            app = msal.PublicClientApplication(
                client_id,
                authority=url,
                token_cache=cache,
                http_client=MsalHttp(session, timeout, DEFAULT_RETRY),
                instance_discovery=False,
            )
            flow = app.initiate_device_flow(scopes=list(DELEGATED_SCOPES))
            if "user_code" not in flow:
                raise AuthError(f"device-code sign-in could not start: {_result_error(flow)}")
            # The message says where to go and which code to type; it is meant for the user.
            print(flow["message"], file=out or sys.stderr, flush=True)
            result = app.acquire_token_by_device_flow(flow)
    finally:
        session.close()
    if "access_token" not in result:
        raise AuthError(f"device-code sign-in failed: {_result_error(result)}")
    if cache.has_state_changed:
        save_cache(cache, path)
    claims = result.get("id_token_claims") or {}
    return str(claims.get("preferred_username") or claims.get("upn") or claims.get("sub", ""))

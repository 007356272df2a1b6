"""Google OAuth for the Gmail provider: load, refresh and save credentials; the login flow.

Two kinds of credentials: an authorized-user JSON (what ``inbox-finder login gmail`` writes,
refreshed silently and saved back 0600 when the access token changed) and a service account
with domain-wide delegation (``service_account_file`` + ``subject``) for unattended scans.
google-auth and google-auth-oauthlib are imported inside the functions that need them, so
importing this module stays cheap. No token or secret reaches a log line or an error message.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import platformdirs

from inbox_finder.errors import AuthError, ConfigError, InboxFinderError, MailboxError
from inbox_finder.fileutil import require_private, write_private
from inbox_finder.net.http import root_reason

log = logging.getLogger(__name__)

SCOPE = "https://www.googleapis.com/auth/gmail.readonly"
GOOGLE_TOKEN_URI = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL, not a secret
LOGIN_COMMAND = "inbox-finder login gmail --client-secrets FILE"
LOGIN_HINT = f"run `{LOGIN_COMMAND}` to sign in again"
_PROMPT = "Sign in to Google in the browser window that opened, or open this URL:\n{url}"
_PROMPT_NO_BROWSER = (
    "Open this URL in a browser to let inbox-finder read your Gmail (read-only):\n{url}\n"
    "Google then redirects the browser to http://localhost:%d/ ; on a headless machine forward "
    "that port first (ssh -L %d:localhost:%d HOST)."
)


def default_credentials_path(account: str = "me") -> Path:
    """Where ``login`` stores the authorized-user JSON for ``account`` (``gmail://ACCOUNT``)."""
    safe = re.sub(r"[^A-Za-z0-9@._+-]", "_", account).lstrip(".") or "me"
    return Path(platformdirs.user_cache_dir("inbox-finder")) / "gmail" / f"{safe}.json"


@dataclass(frozen=True)
class AuthSettings:
    """Where credentials come from, as the profile keys and URL say."""

    credentials_file: Path
    credentials_explicit: bool  # named in the profile (missing: config error, not "log in")
    token_uri: str | None = None
    service_account_file: Path | None = None
    subject: str | None = None


class CredentialStore:
    """Loaded google-auth credentials plus what is needed to save a refreshed token back."""

    def __init__(
        self, credentials: Any, settings: AuthSettings, info: dict[str, Any] | None
    ) -> None:
        self.credentials = credentials
        self.settings = settings
        self._info = info  # authorized-user JSON as read; None for a service account
        self._saved_token = info.get("token") if info else None

    @property
    def is_service_account(self) -> bool:
        return self._info is None

    @property
    def fix_hint(self) -> str:
        """The command or setting that fixes an authentication failure."""
        if self.is_service_account:
            return (
                "check service_account_file, subject and the domain-wide delegation of "
                f"scope {SCOPE} in the Google Workspace admin console"
            )
        return LOGIN_HINT

    def refresh_if_needed(self, request: Any) -> None:
        """Refresh an expired (or missing) access token now, then save it back."""
        if self.credentials.valid:
            return
        log.debug("Gmail access token expired or missing; refreshing")
        try:
            self.credentials.refresh(request)
        except Exception as exc:
            raise auth_failure(exc, self.fix_hint) from exc
        self.save_if_changed()

    def save_if_changed(self) -> None:
        """Write the current access token back (0600) if it differs from the file's."""
        creds = self.credentials
        if self._info is None or not creds.token or creds.token == self._saved_token:
            return
        info = dict(self._info)  # keep the file's own keys (token_uri included) as they were
        info["token"] = creds.token
        if creds.expiry is not None:
            info["expiry"] = creds.expiry.replace(tzinfo=None).isoformat() + "Z"
        try:
            write_private(self.settings.credentials_file, json.dumps(info, indent=2) + "\n")
        except OSError as exc:
            log.warning(
                "could not save the refreshed Gmail token to %s: %s",
                self.settings.credentials_file,
                exc.strerror or exc,
            )
            return
        self._info, self._saved_token = info, creds.token
        log.debug("saved refreshed Gmail token to %s", self.settings.credentials_file)


def load_credentials(settings: AuthSettings) -> CredentialStore:
    """Read the configured credentials file (no network); ConfigError/AuthError when unusable."""
    if settings.service_account_file is not None:
        return _load_service_account(settings)
    path = settings.credentials_file
    if not path.is_file():
        if settings.credentials_explicit:
            raise ConfigError(f"Gmail credentials file not found: {path}")
        raise AuthError(f"no Gmail credentials at {path}; run `{LOGIN_COMMAND}` first")
    require_private(path, "credentials file")
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(f"cannot read Gmail credentials {path}: {type(exc).__name__}") from exc
    if not isinstance(info, dict):
        raise ConfigError(f"Gmail credentials {path} is not a JSON object")
    from google.oauth2.credentials import Credentials

    user_credentials: Any = Credentials  # google-auth's classmethods are untyped
    try:
        creds = user_credentials.from_authorized_user_info(info, scopes=[SCOPE])
    except ValueError as exc:
        # The message lists missing key names only, never values.
        raise ConfigError(
            f"Gmail credentials {path} are not authorized-user JSON: {exc}; {LOGIN_HINT}"
        ) from exc
    # from_authorized_user_info always resets token_uri to Google's; honour the file, then the
    # profile (an emulator or a private endpoint).
    token_uri = settings.token_uri or info.get("token_uri")
    if token_uri:
        expiry = creds.expiry
        creds = creds.with_token_uri(token_uri)
        # with_token_uri's copy drops the expiry, which would make an expired token look valid.
        creds.expiry = expiry
    return CredentialStore(creds, settings, info)


def _load_service_account(settings: AuthSettings) -> CredentialStore:
    path = settings.service_account_file
    assert path is not None
    if not path.is_file():
        raise ConfigError(f"Gmail service_account_file not found: {path}")
    if not settings.subject:
        raise ConfigError(
            "a Gmail service account needs `subject` (the mailbox to read) or a "
            "gmail://USER source URL"
        )
    require_private(path, "service account file")
    from google.oauth2 import service_account

    sa_credentials: Any = service_account.Credentials
    try:
        creds = sa_credentials.from_service_account_file(
            str(path), scopes=[SCOPE], subject=settings.subject
        )
    except (ValueError, KeyError, OSError) as exc:
        raise ConfigError(f"cannot use service account file {path}: {type(exc).__name__}") from exc
    if settings.token_uri:
        creds = creds.with_token_uri(settings.token_uri)
    return CredentialStore(creds, settings, None)


def auth_failure(exc: BaseException, fix_hint: str) -> InboxFinderError:
    """Translate a google-auth refresh/transport exception into our tree (no secrets)."""
    from google.auth import exceptions as gexc

    if isinstance(exc, gexc.RefreshError):
        code = _oauth_error_code(exc)
        if getattr(exc, "retryable", False):
            return MailboxError(f"Google token endpoint failed ({code}); try again later")
        return AuthError(f"Google refused to refresh the Gmail access token ({code}); {fix_hint}")
    if isinstance(exc, gexc.TransportError | OSError):
        return MailboxError(f"cannot reach the Google token endpoint: {root_reason(exc)}")
    if isinstance(exc, gexc.GoogleAuthError):
        return AuthError(f"Gmail authentication failed ({type(exc).__name__}); {fix_hint}")
    if isinstance(exc, ValueError | TypeError | KeyError):
        # google-auth hands a body that is not JSON (a cut answer) on as text, and then
        # indexes it: the token endpoint's fault (or the network's), not the credentials'.
        return MailboxError(
            f"the Google token endpoint sent an unreadable answer ({type(exc).__name__})"
        )
    return MailboxError(f"Gmail authentication failed unexpectedly ({type(exc).__name__})")


def _oauth_error_code(exc: BaseException) -> str:
    """The OAuth ``error`` code (invalid_grant, ...) from a RefreshError, nothing else."""
    for arg in getattr(exc, "args", ())[1:]:
        if isinstance(arg, dict) and isinstance(arg.get("error"), str):
            return re.sub(r"[^A-Za-z0-9_.-]", "", arg["error"])[:60] or "error"
    first = str(exc.args[0]) if getattr(exc, "args", None) else ""
    match = re.match(r"([a-z_]+)\b", first)
    return match.group(1) if match else "refresh failed"


def run_login(
    client_secrets: Path,
    *,
    no_browser: bool,
    out_path: Path | None,
    account: str = "me",
    port: int = 0,
    timeout: float | None = 300.0,
) -> Path:
    """Run the installed-app OAuth flow (read-only scope); store the credentials 0600."""
    from google_auth_oauthlib.flow import InstalledAppFlow

    if not client_secrets.is_file():
        raise ConfigError(f"client secrets file not found: {client_secrets}")
    try:
        flow = InstalledAppFlow.from_client_secrets_file(str(client_secrets), scopes=[SCOPE])
    except (ValueError, KeyError, json.JSONDecodeError) as exc:
        raise ConfigError(
            f"{client_secrets} is not a Google OAuth client secrets file "
            f"(download the Desktop-app JSON): {type(exc).__name__}"
        ) from exc
    port = port or _free_port()
    target = out_path or default_credentials_path(account)
    try:
        # run_local_server print()s the prompt; stdout is for results only, so send it to stderr.
        with contextlib.redirect_stdout(sys.stderr):
            creds = flow.run_local_server(
                host="localhost",
                port=port,
                open_browser=not no_browser,
                authorization_prompt_message=(
                    _PROMPT_NO_BROWSER % (port, port, port) if no_browser else _PROMPT
                ),
                success_message="inbox-finder is signed in. You may close this window.",
                timeout_seconds=None if timeout is None else int(timeout),
                access_type="offline",
                prompt="consent",
            )  # consent: always get a refresh token
    except InboxFinderError:
        raise
    except Exception as exc:
        raise _login_failure(exc) from exc
    if not creds.refresh_token:
        raise AuthError(
            "Google returned no refresh token; remove inbox-finder's access at "
            "https://myaccount.google.com/permissions and log in again"
        )
    info = json.loads(creds.to_json())
    if account != "me":
        info["account"] = account
    write_private(target, json.dumps(info, indent=2) + "\n")
    log.info("saved Gmail credentials to %s", target)
    return target


def _login_failure(exc: Exception) -> InboxFinderError:
    import webbrowser

    name = type(exc).__name__
    if isinstance(exc, webbrowser.Error):
        return ConfigError("no web browser found; rerun with --no-browser")
    if name == "WSGITimeoutError":
        return AuthError("timed out waiting for the browser sign-in; run the login again")
    if isinstance(exc, OSError):  # requests' errors are OSErrors too
        return MailboxError(f"login failed: {root_reason(exc)}")
    # oauthlib errors carry an OAuth error code (access_denied, invalid_grant, ...).
    code = getattr(exc, "error", None)
    detail = code if isinstance(code, str) else name
    return AuthError(f"Google sign-in failed ({detail}); run the login again")


def _free_port() -> int:
    # Picked up front so the prompt can name the port to forward on a headless machine.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("localhost", 0))
        return int(sock.getsockname()[1])

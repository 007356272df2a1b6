"""The Outlook profile keys, their value checks, and what ``config check`` shows of credentials.

Graph accepts ``$top`` of 1..1000 for messages; sender filters need exact addresses because
``from/emailAddress/address`` supports ``eq`` only (see provider.py).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from inbox_finder.boundary.keys import RETRY_KEYS, KeyType, ProfileKey, ProfileValues, Secret
from inbox_finder.errors import ConfigError

from .auth import default_cache_path

DEFAULT_GRAPH_ENDPOINT = "https://graph.microsoft.com/v1.0"
DEFAULT_PAGE_SIZE = 50  # small $select, so a bigger page costs little and saves round trips
ADDRESS = re.compile(r"^[^@\s'\"<>()/\\]+@[^@\s'\"<>()/\\]+$")

PROFILE_KEYS = (
    ProfileKey("client_id", help="application (client) ID of the Entra app (required)"),
    ProfileKey("tenant", help="tenant ID or domain (default common; required app-only)"),
    ProfileKey("authority", help="authority URL (default https://login.microsoftonline.com/T)"),
    ProfileKey("token_cache", KeyType.PATH, secret=Secret.FILE, help="MSAL token cache file"),
    ProfileKey("account", help="which cached account, when several signed in"),
    ProfileKey("client_secret_env", secret=Secret.ENV, help="variable holding the app secret"),
    ProfileKey("client_certificate", KeyType.PATH, secret=Secret.FILE, help="PEM key + cert"),
    ProfileKey("client_certificate_thumbprint", help="SHA-1 thumbprint of the certificate"),
    ProfileKey("graph_endpoint", help=f"Graph root (default {DEFAULT_GRAPH_ENDPOINT})"),
    ProfileKey("folder", default="all", help="folder to search (default all: every folder)"),
    ProfileKey("senders", KeyType.STR_LIST, (), help="exact sender addresses (server filter)"),
    ProfileKey("page_size", KeyType.INT, DEFAULT_PAGE_SIZE, help="messages per page (1-1000)"),
    *RETRY_KEYS,
)


def check_senders(value: tuple[str, ...]) -> tuple[str, ...]:
    """Exact addresses, lower-cased; ConfigError for anything else."""
    if not all(ADDRESS.match(s) for s in value):
        raise ConfigError("profile key senders must be a list of exact email addresses")
    return tuple(s.lower() for s in value)


def check_page_size(size: int) -> int:
    """Graph's documented ``$top`` range for messages."""
    if not 1 <= size <= 1000:
        raise ConfigError(f"profile key page_size must be 1..1000, got {size}")
    return size


def describe_credentials(url: str, profile: ProfileValues) -> dict[str, str]:
    """The token cache (``outlook://me``) or the app credential a lookup would use."""
    if url.partition("://")[2].strip("/").lower() == "me":
        cache: Path = profile["token_cache"] or default_cache_path()
        missing = "" if cache.exists() else " (missing: run inbox-finder login outlook)"
        return {"token cache": f"file {cache}{missing}"}
    var = profile["client_secret_env"]
    if var:
        return {"client secret": f"from ${var} ({'set' if os.environ.get(var) else 'not set'})"}
    if profile["client_certificate"]:
        return {"client certificate": f"file {profile['client_certificate']}"}
    return {"client secret": "none (set client_secret_env or client_certificate)"}


GRAPH_ENDPOINT_ENV = "INBOX_FINDER_GRAPH_ENDPOINT"
_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def graph_endpoint(profile: ProfileValues) -> str:
    """The Graph root URL of the profile (or the environment); https except on loopback."""
    url = str(
        profile["graph_endpoint"] or os.environ.get(GRAPH_ENDPOINT_ENV) or DEFAULT_GRAPH_ENDPOINT
    ).rstrip("/")
    parts = urlsplit(url)
    # A bearer token must never travel in clear text, except to a local emulator or proxy.
    if parts.scheme != "https" and not (parts.scheme == "http" and parts.hostname in _LOOPBACK):
        raise ConfigError(f"graph_endpoint must be https (http only on loopback): {url!r}")
    if not parts.hostname:
        raise ConfigError(f"graph_endpoint has no host: {url!r}")
    return url

"""The provider registry: URL scheme -> Provider class, through entry points.

Providers are found by URL scheme through the entry-point group ``inbox_finder.providers``;
the built-in ones are declared there too, so a third-party package adds a scheme the same way.
A program can also register a class at run time (``register_provider``), which wins over both.
Importing this module imports no provider (and so no Google or Microsoft SDK).
"""

from __future__ import annotations

import importlib
import logging

from inbox_finder.boundary.provider import LOCAL_SOURCE, Provider, SourceOptions, split_scheme
from inbox_finder.errors import ConfigError

log = logging.getLogger(__name__)

ENTRY_POINT_GROUP = "inbox_finder.providers"

# The built-in schemes, also declared as entry points in pyproject.toml (a test keeps the two
# equal). Looking them up here first spares every lookup a scan of all installed packages'
# metadata (~10 ms of start-up); other schemes come from the entry-point group.
BUILTIN_SCHEMES = {
    "maildir": "inbox_finder.providers.local.maildir:MaildirProvider",
    "mbox": "inbox_finder.providers.local.mboxtree:MboxTreeProvider",
    "eml": "inbox_finder.providers.local.eml:EmlDirProvider",
    "imap": "inbox_finder.providers.imap.provider:ImapProvider",
    "imaps": "inbox_finder.providers.imap.provider:ImapProvider",
    "outlook": "inbox_finder.providers.outlook.provider:OutlookProvider",
    "gmail": "inbox_finder.providers.gmail.provider:GmailProvider",
    "memory": "inbox_finder.providers.memory:MemoryProvider",
    "thunderbird": "inbox_finder.providers.thunderbird.provider:ThunderbirdProvider",
    "applemail": "inbox_finder.providers.applemail.provider:AppleMailProvider",
    "mh": "inbox_finder.providers.mh.provider:MhProvider",
    "msg": "inbox_finder.providers.msg.provider:MsgDirProvider",
    "evolution": "inbox_finder.providers.evolution.provider:EvolutionProvider",
}

# Classes registered at run time; looked up before the built-ins and the entry points.
_REGISTERED: dict[str, type[Provider]] = {}


def _check_scheme(scheme: str) -> str:
    name = scheme.strip().lower()
    if not name or not name.replace("+", "").replace("-", "").isalnum():
        raise ValueError(f"not a URL scheme: {scheme!r} (letters, digits, '+' and '-')")
    return name


def register_provider(scheme: str, cls: type[Provider]) -> type[Provider]:
    """Serve ``scheme:`` URLs with ``cls`` in this process (no entry point needed).

    A registered class wins over a built-in or an entry point of the same scheme. Returns
    ``cls``; ValueError for a malformed scheme, TypeError if ``cls`` is not a Provider class.
    """
    if not (isinstance(cls, type) and issubclass(cls, Provider)):
        raise TypeError(f"register_provider needs a Provider subclass, not {cls!r}")
    _REGISTERED[_check_scheme(scheme)] = cls
    return cls


def unregister_provider(scheme: str) -> None:
    """Forget a class registered with ``register_provider`` (no error if there is none)."""
    _REGISTERED.pop(_check_scheme(scheme), None)


def available_schemes() -> dict[str, str]:
    """Map every registered scheme to its ``module:Class`` entry point value."""
    from importlib.metadata import entry_points  # lazy: scans every installed distribution

    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    registered = {s: f"{c.__module__}:{c.__qualname__}" for s, c in _REGISTERED.items()}
    return {**BUILTIN_SCHEMES, **found, **registered}


def provider_class(scheme: str) -> type[Provider]:
    """Load the provider class registered for ``scheme``; ConfigError naming the known ones."""
    registered = _REGISTERED.get(scheme)
    if registered is not None:
        return registered
    target = BUILTIN_SCHEMES.get(scheme)
    if target is None:
        schemes = available_schemes()
        target = schemes.get(scheme)
    if target is None:
        if scheme == LOCAL_SOURCE.rstrip(":"):  # `local:x`: local: itself takes no path
            raise ConfigError(
                f"{LOCAL_SOURCE} takes no path: it is every store `inbox-finder sources` lists; "
                "for one store give its URL (maildir:PATH, mbox:PATH, thunderbird:DIR, ...)"
            )
        known = ", ".join(sorted(schemes))
        raise ConfigError(f"unknown source scheme {scheme!r}; known schemes: {known}")
    module_name, _, attr = target.partition(":")
    loaded = getattr(importlib.import_module(module_name), attr, None)
    if not (isinstance(loaded, type) and issubclass(loaded, Provider)):
        raise ConfigError(f"entry point for scheme {scheme!r} is not a Provider class: {target}")
    return loaded


def open_provider(url: str, options: SourceOptions | None = None) -> Provider:
    """Create the provider for a source URL (not a profile name; see config.resolve_source)."""
    scheme, _ = split_scheme(url)
    cls = provider_class(scheme)
    log.debug("opening %s source with %s", scheme, cls.__name__)
    return cls.from_url(url, options or SourceOptions())

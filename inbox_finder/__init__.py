"""inbox-finder: find the newest Salesforce security token email in a mailbox, read-only.

Library use::

    from inbox_finder import find_token
    finding = find_token("mbox:~/Mail/inbox.mbox", username="dana@example.com")
    print(finding.token)
    fresh = wait_for_token("work", timeout=600)  # right after a reset: poll for the new mail
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING without importing typing (mypy reads it as True)
if TYPE_CHECKING:  # the names below are imported on first use (PEP 562): fast CLI start-up
    from typing import Any

    from inbox_finder.api import find_token, find_tokens, wait_for_token
    from inbox_finder.boundary.provider import Provider, Query, SourceOptions
    from inbox_finder.boundary.registry import open_provider, register_provider
    from inbox_finder.engine import Selection
    from inbox_finder.errors import (
        ActionError,
        AuthError,
        ConfigError,
        ExitCode,
        FolderNotFoundError,
        InboxFinderError,
        LoginRejectedError,
        MailboxError,
        NotFoundError,
        PartialSearchError,
        SalesforceUnreachableError,
    )
    from inbox_finder.model import Candidate, Finding
    from inbox_finder.trust.policy import TrustPolicy

_LAZY = {
    "find_token": "api",
    "find_tokens": "api",
    "wait_for_token": "api",
    "Selection": "engine",
    "Candidate": "model",
    "Finding": "model",
    "Provider": "boundary.provider",
    "Query": "boundary.provider",
    "SourceOptions": "boundary.provider",
    "open_provider": "boundary.registry",
    "register_provider": "boundary.registry",
    "TrustPolicy": "trust.policy",
    **dict.fromkeys(
        [
            "ActionError",
            "AuthError",
            "ConfigError",
            "ExitCode",
            "FolderNotFoundError",
            "InboxFinderError",
            "LoginRejectedError",
            "MailboxError",
            "NotFoundError",
            "PartialSearchError",
            "SalesforceUnreachableError",
        ],
        "errors",
    ),
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inbox_finder' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value  # later lookups skip __getattr__
    return value


__version__ = "0.1.0"

__all__ = [
    "ActionError",
    "AuthError",
    "Candidate",
    "ConfigError",
    "ExitCode",
    "Finding",
    "FolderNotFoundError",
    "InboxFinderError",
    "LoginRejectedError",
    "MailboxError",
    "NotFoundError",
    "PartialSearchError",
    "Provider",
    "Query",
    "SalesforceUnreachableError",
    "Selection",
    "SourceOptions",
    "TrustPolicy",
    "__version__",
    "find_token",
    "find_tokens",
    "open_provider",
    "register_provider",
    "wait_for_token",
]

"""inbox-finder: find the newest Salesforce security token email in a mailbox, read-only.

Library use::

    from inbox_finder import find_token
    finding = find_token("mbox:~/Mail/inbox.mbox", username="dana@example.com")
    print(finding.token)
"""

from __future__ import annotations

from .api import find_token, find_tokens
from .engine import Selection
from .errors import (
    ActionError,
    AuthError,
    ConfigError,
    ExitCode,
    FolderNotFoundError,
    InboxFinderError,
    LoginRejectedError,
    MailboxError,
    NotFoundError,
    SalesforceUnreachableError,
)
from .model import Candidate, Finding
from .provider import Provider, Query, SourceOptions, open_provider
from .trust import TrustPolicy

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
]

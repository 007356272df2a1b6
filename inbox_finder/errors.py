"""Exception tree; each class carries the CLI exit code it maps to.

    InboxFinderError                 base class (exit 2 unless a subclass says otherwise)
    ├── ConfigError                  bad SOURCE, missing path, bad config file      -> 2
    │   └── FolderNotFoundError      a folder/label named in the scope is missing   -> 2
    ├── NotFoundError                no token email matched the selection           -> 1
    ├── AuthError                    the mailbox rejected the credentials           -> 3
    ├── MailboxError                 unreachable, TLS, timeout, server error        -> 4
    │   └── MessageVanishedError     a listed message is gone (skipped by the engine) -> 4
    ├── PartialSearchError           some of several sources failed      -> their highest code
    ├── ActionError                  a scan action (--exec, a file write) failed    -> 5
    ├── SalesforceUnreachableError   verify: Salesforce unreachable, TLS, no SOAP   -> 4
    ├── LoginRejectedError           verify: Salesforce refused the login        -> 6..11
    └── LoginRetiredError            verify: Salesforce has retired SOAP login()    -> 12

Codes 6..11 are the ``verify`` / ``--verify`` verdicts (see ``inbox_finder.salesforce.login``):
6 INVALID_LOGIN, 7 LOGIN_MUST_USE_SECURITY_TOKEN, 8 API login not allowed, 9 password expired,
10 user locked out, 11 login refused for another reason. 12: the login check itself is no longer
possible (Salesforce retired SOAP ``login()``; see ``inbox_finder.salesforce.retirement``).

Messages are one line and never contain a secret (password, OAuth token, security token).
Providers translate SDK errors into these at their boundary with ``raise ... from exc``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import IntEnum
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from inbox_finder.many import SourceFailure
    from inbox_finder.model import Finding


class ExitCode(IntEnum):
    """Documented process exit codes."""

    FOUND = 0
    NOT_FOUND = 1
    USAGE = 2
    AUTH = 3
    MAILBOX = 4
    ACTION = 5
    SF_INVALID_LOGIN = 6
    SF_NEEDS_TOKEN = 7
    SF_API_DISABLED = 8
    SF_PASSWORD_EXPIRED = 9
    SF_LOCKED_OUT = 10
    SF_REFUSED = 11
    SF_LOGIN_RETIRED = 12


class InboxFinderError(Exception):
    """Base class of every error the library raises on purpose."""

    exit_code: ExitCode = ExitCode.USAGE


class ConfigError(InboxFinderError):
    """Bad source URL, missing path, or a bad config file."""

    exit_code = ExitCode.USAGE


class FolderNotFoundError(ConfigError):
    """A folder or label named in the source, ``--folder`` or ``--exclude-folder`` does not
    exist; the message lists the folders that do. Fixed only by editing the command: exit 2."""


class NotFoundError(InboxFinderError):
    """No security-token email matched the selection.

    ``rejected`` counts the candidate token mails that were turned down, by reason (e.g.
    ``{"spoofed sender (DMARC fail)": 1}``); the message summarises it in one line.
    """

    exit_code = ExitCode.NOT_FOUND

    def __init__(self, message: str, rejected: Mapping[str, int] | None = None) -> None:
        super().__init__(message)
        self.rejected: dict[str, int] = dict(rejected or {})


class AuthError(InboxFinderError):
    """The mailbox rejected the credentials (or none could be obtained)."""

    exit_code = ExitCode.AUTH


class MailboxError(InboxFinderError):
    """The mailbox is unreachable, TLS failed, a timeout hit, or the server answered an error."""

    exit_code = ExitCode.MAILBOX


class MessageVanishedError(MailboxError):
    """A listed message was deleted or moved before it could be read; the engine skips it."""


class PartialSearchError(InboxFinderError):
    """Some of several sources could not be searched: the answer may not be the newest token.

    ``findings`` are what the sources that answered found (newest first), ``failures`` the
    ``SourceFailure`` of each other source (``.label``, ``.error``). The exit code is the
    highest of the failures' codes; ``answered`` counts the sources that were searched.
    """

    def __init__(
        self,
        message: str,
        findings: Sequence[Finding],
        failures: Sequence[SourceFailure],
        answered: int = 0,
    ) -> None:
        super().__init__(message)
        self.findings: list[Finding] = list(findings)
        self.failures: list[SourceFailure] = list(failures)
        self.answered = answered
        self.exit_code = max((f.error.exit_code for f in failures), default=ExitCode.USAGE)


class ActionError(InboxFinderError):
    """A scan action (``--exec`` command, ``--write-env`` file) failed."""

    exit_code = ExitCode.ACTION


class SalesforceUnreachableError(InboxFinderError):
    """The Salesforce login endpoint is unreachable, TLS failed, or it gave no SOAP answer."""

    exit_code = ExitCode.MAILBOX


class LoginRejectedError(InboxFinderError):
    """Salesforce refused the login check; ``exit_code`` says how (6..11)."""

    def __init__(self, message: str, exit_code: ExitCode, outcome: str) -> None:
        super().__init__(message)
        self.exit_code = exit_code
        self.outcome = outcome


class LoginRetiredError(InboxFinderError):
    """No login was tried: Salesforce has retired the SOAP ``login()`` a token check needs."""

    exit_code = ExitCode.SF_LOGIN_RETIRED

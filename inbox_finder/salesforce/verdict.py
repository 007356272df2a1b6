"""What one Salesforce login attempt came to: outcomes, the fault table, exit codes, hints.

A fault code maps to an outcome (``FAULT_OUTCOMES``), an outcome to its exit code and what is
left to check (``_VERDICTS``); some faults name more to check (``_FAULT_HINTS``).
``LoginCheck`` holds the verdict and never the password, token or session id.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from inbox_finder.errors import ExitCode

# login() is kept in API 64.0 and earlier (Salesforce retires it in Summer '27); the login
# module's endpoints use this version.
API_VERSION = "64.0"


class Outcome(StrEnum):
    """What Salesforce made of one login attempt."""

    VALID = "valid"
    INVALID_LOGIN = "invalid_login"
    NEEDS_TOKEN = "login_must_use_security_token"  # noqa: S105 - a result name
    API_DISABLED = "api_disabled"
    PASSWORD_EXPIRED = "password_expired"  # noqa: S105 - a result name
    LOCKED_OUT = "locked_out"
    REFUSED = "refused"


FAULT_OUTCOMES: Mapping[str, Outcome] = {
    "INVALID_LOGIN": Outcome.INVALID_LOGIN,
    "LOGIN_MUST_USE_SECURITY_TOKEN": Outcome.NEEDS_TOKEN,
    "API_DISABLED_FOR_ORG": Outcome.API_DISABLED,
    "API_CURRENTLY_DISABLED": Outcome.API_DISABLED,
    "INSUFFICIENT_ACCESS": Outcome.API_DISABLED,  # login() off, or no "Use Any API Auth"
    "INVALID_OPERATION_WITH_EXPIRED_PASSWORD": Outcome.PASSWORD_EXPIRED,
    "PASSWORD_LOCKOUT": Outcome.LOCKED_OUT,
}

# Faults that name what to check beyond their outcome's text (Salesforce Help, "Platform SOAP
# API login() Retirement": login() is off by default in orgs created since Winter '26 and,
# in new orgs from Summer '26, needs the "Use Any API Auth" user permission; API 65.0 and
# later have no login(), and retired versions answer UNSUPPORTED_API_VERSION).
_FAULT_HINTS: Mapping[str, str] = {
    "INSUFFICIENT_ACCESS": (
        "SOAP API login() may be switched off for the org (off by default in orgs created "
        "since Winter '26; an admin must enable it) or the user may lack the 'Use Any API "
        "Auth' permission (required in new orgs from Summer '26)"
    ),
    "API_DISABLED_FOR_ORG": "the org's edition or settings do not allow API access",
    "UNSUPPORTED_API_VERSION": (
        f"the login URL's API version offers no login() (login() exists in API 31.0 to "
        f"{API_VERSION}; give --login-url without a version)"
    ),
}

# Per outcome: the exit code, and what it means / what is left to check.
_VERDICTS: Mapping[Outcome, tuple[ExitCode, str]] = {
    Outcome.VALID: (ExitCode.FOUND, "Salesforce accepted the password and this token"),
    Outcome.INVALID_LOGIN: (
        ExitCode.SF_INVALID_LOGIN,
        "the token or the password is wrong (Salesforce does not say which, and says the same "
        "for a locked-out user); left to check: the password, the exact username (sandbox "
        "suffix?), the login URL (--sandbox / --my-domain), a newer token email",
    ),
    Outcome.NEEDS_TOKEN: (
        ExitCode.SF_NEEDS_TOKEN,
        "Salesforce took what was sent for the password alone and wants a security token on "
        "top for logins from this network: does the password source already hold "
        "password+token? Is this the token of this username and org?",
    ),
    Outcome.API_DISABLED: (
        ExitCode.SF_API_DISABLED,
        "this user or org may not log in through the SOAP API, so the token could not be "
        "checked: check that the user has the API Enabled permission",
    ),
    Outcome.PASSWORD_EXPIRED: (
        ExitCode.SF_PASSWORD_EXPIRED,
        "Salesforce accepted the password and token, but the password has expired; changing "
        "it makes Salesforce email a new token",
    ),
    Outcome.LOCKED_OUT: (
        ExitCode.SF_LOCKED_OUT,
        "the user is locked out after too many failed logins; wait for the lockout period or "
        "ask an admin to unlock the user before trying again",
    ),
    Outcome.REFUSED: (ExitCode.SF_REFUSED, "Salesforce refused the login"),
}


@dataclass(frozen=True)
class LoginCheck:
    """The verdict of one login attempt (never holds the password, token or session id)."""

    outcome: Outcome
    username: str
    endpoint: str
    fault_code: str | None = None
    fault_message: str | None = None
    instance_url: str | None = None
    user_id: str | None = None
    organization_id: str | None = None
    sandbox: bool | None = None
    logged_out: bool = False

    @property
    def token_valid(self) -> bool | None:
        """Salesforce accepted (True) or rejected (False) password+token; None: no verdict."""
        if self.outcome in (Outcome.VALID, Outcome.PASSWORD_EXPIRED):
            return True
        if self.outcome in (Outcome.INVALID_LOGIN, Outcome.NEEDS_TOKEN):
            return False
        return None

    @property
    def exit_code(self) -> ExitCode:
        """The documented exit code of this outcome."""
        return _VERDICTS[self.outcome][0]

    @property
    def label(self) -> str:
        """``valid`` or the fault code (``password expired`` when the result said so)."""
        if self.outcome is Outcome.VALID:
            return "valid"
        return self.fault_code or self.outcome.value.replace("_", " ")

    def summary(self) -> str:
        """One line for people: the verdict and what is left to check."""
        text = f"{self.label} for {self.username}: {_VERDICTS[self.outcome][1]}"
        hint = _FAULT_HINTS.get(self.fault_code or "")
        if hint:
            text += f"; {hint}"
        if self.outcome is Outcome.REFUSED and self.fault_message:
            text += f": {self.fault_message}"
        if self.outcome is Outcome.VALID:
            text += f" (instance {self.instance_url}, user id {self.user_id})"
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON fields of the verdict."""
        fields = {name: value for name, value in vars(self).items() if name != "outcome"}
        return {"result": self.outcome.value, "valid": self.token_valid, **fields}

"""Checking tokens with Salesforce logins: one check, and the scan action that logs in once per
new token (``scan --verify`` / ``watch --verify``).

Failed logins count toward Salesforce's lockout, so ``ScanVerifier`` remembers every verdict
(keyed by a hash of the token, never the token) and never logs in twice for the same token —
``watch`` offers a token again after a failed action, and must not pay a second login for it.
The Salesforce password is asked for once per username and kept in memory only.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable, Mapping
from typing import Any

from inbox_finder.errors import InboxFinderError
from inbox_finder.model import Finding
from inbox_finder.salesforce.credentials import salesforce_password
from inbox_finder.salesforce.login import DEFAULT_TIMEOUT, LoginCheck, Outcome, check_login
from inbox_finder.salesforce.retirement import Clock, require_login_available

#: The login endpoint for a token mail, and a note saying why when the mail chose it.
EndpointFor = Callable[[Finding], tuple[str, str | None]]

log = logging.getLogger("inbox_finder")


def check_token(
    username: str,
    token: str,
    endpoint: str,
    profile: Mapping[str, Any],
    *,
    password: str | None = None,
    ca_file: str | None = None,
    timeout: float | None = None,
    clock: Clock | None = None,
) -> LoginCheck:
    """ONE login with password+token (the password from its sources unless given).

    LoginRetiredError, before any password is read, once Salesforce has retired login().
    """
    require_login_available(clock)
    password = password or salesforce_password(username, profile)
    return check_login(
        username, password, token, endpoint, ca_file=ca_file, timeout=timeout or DEFAULT_TIMEOUT
    )


class ScanVerifier:
    """A scan action: one login per new token, remembered so watch never repeats a login."""

    def __init__(
        self,
        endpoint: str | EndpointFor,
        profile: Mapping[str, Any],
        ca_file: str | None = None,
        timeout: float | None = None,
    ) -> None:
        if isinstance(endpoint, str):
            url = endpoint
            self._endpoint_for: EndpointFor = lambda finding: (url, None)
        else:
            self._endpoint_for = endpoint
        self._profile, self._ca_file, self._timeout = profile, ca_file, timeout
        self._passwords: dict[str, str] = {}
        self._verdicts: dict[tuple[str, str], LoginCheck | str] = {}

    @staticmethod
    def _key(finding: Finding) -> tuple[str, str]:
        digest = hashlib.sha256(finding.token.encode()).hexdigest()
        return (finding.username or "").casefold(), digest

    def __call__(self, finding: Finding) -> None:
        """Verify ``finding`` once (runs before the other actions)."""
        key = self._key(finding)
        if key not in self._verdicts:
            self._verdicts[key] = self._verify(finding)

    def _verify(self, finding: Finding) -> LoginCheck | str:
        username = finding.username
        if not username:
            return "the token email does not state its username"
        try:
            password = self._passwords.get(username) or salesforce_password(username, self._profile)
            self._passwords[username] = password
            endpoint, note = self._endpoint_for(finding)
            if note:
                log.info("%s", note)
            check = check_token(
                username,
                finding.token,
                endpoint,
                self._profile,
                password=password,
                ca_file=self._ca_file,
                timeout=self._timeout,
            )
        except InboxFinderError as exc:
            log.warning("cannot verify the new token of %s: %s", username, exc)
            return str(exc)
        if check.outcome is not Outcome.VALID:
            log.warning("new token: %s", check.summary())
        return check

    def _verdict(self, finding: Finding) -> LoginCheck | str:
        return self._verdicts.get(self._key(finding), "not verified")

    def env(self, finding: Finding) -> dict[str, str]:
        """INBOX_FINDER_TOKEN_VALID (yes / no / unknown) and INBOX_FINDER_VERIFY_RESULT."""
        verdict = self._verdict(finding)
        valid = verdict.token_valid if isinstance(verdict, LoginCheck) else None
        result = verdict.outcome.value if isinstance(verdict, LoginCheck) else "unknown"
        return {
            "INBOX_FINDER_TOKEN_VALID": {True: "yes", False: "no", None: "unknown"}[valid],
            "INBOX_FINDER_VERIFY_RESULT": result,
        }

    def fields(self, finding: Finding) -> dict[str, Any]:
        """JSON fields: ``valid`` (true / false / null) and the ``verify`` details."""
        verdict = self._verdict(finding)
        if isinstance(verdict, LoginCheck):
            return {"valid": verdict.token_valid, "verify": verdict.to_dict()}
        return {"valid": None, "verify": {"result": "unknown", "valid": None, "error": verdict}}

    def line(self, finding: Finding) -> str:
        """The ``Login:`` line of the human output."""
        verdict = self._verdict(finding)
        text = verdict.summary() if isinstance(verdict, LoginCheck) else f"unknown ({verdict})"
        return f"{'Login:':<10} {text}"

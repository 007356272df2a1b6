"""Salesforce's retirement of password+token logins: the dates, and the notices they call for.

Two logins take a security token: SOAP API ``login()`` and the OAuth 2.0 username-password
flow. Salesforce is retiring both; the replacement is an External Client App with OAuth (JWT
bearer, client credentials, or web server flow with PKCE), none of which uses a token. The
dates live in this one table; notices are computed from it with an injected clock, so tests
can stand on either side of each date.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime

Clock = Callable[[], datetime]


@dataclass(frozen=True)
class Retirement:
    """One login mechanism that takes a security token, and when Salesforce ends it."""

    key: str
    what: str
    retires: date
    release: str
    source: str


# Sources: Salesforce Help "Platform SOAP API login() Retirement" (article 005132110, updated
# 2026-04-30): login() in API 31.0-64.0 retires with Summer '27, absent from API 65.0 on, off
# by default in new orgs, "Use Any API Auth" required in new orgs from Summer '26; the Product
# & Service Notification of 2026-04-21 names 1 June 2027. Help "Block Authorization Flows"
# and article 000886201: the username-password flow is blocked by default in orgs created
# since Summer '23 and is being deprecated; its retirement date for Connected Apps
# (20 February 2027) is from Salesforce's announcement and not confirmed by a stored copy.
RETIREMENTS: tuple[Retirement, ...] = (
    Retirement(
        key="oauth-username-password",
        what="the OAuth 2.0 username-password flow for Connected Apps",
        retires=date(2027, 2, 20),
        release="February 2027",
        source="Salesforce announcement (help article 000886201 on migrating off the flow)",
    ),
    Retirement(
        key="soap-login",
        what="SOAP API login() (API versions 31.0-64.0)",
        retires=date(2027, 6, 1),
        release="Summer '27",
        source="Salesforce Help article 005132110; notification of 2026-04-21",
    ),
)

MIGRATE_HINT = (
    "integrations that log in with password+token must move to an External Client App with "
    "OAuth (JWT bearer or client credentials)"
)


def _days(n: int) -> str:
    return f"{n} day" if n == 1 else f"{n} days"


def retirement(key: str) -> Retirement:
    """The table entry for ``key``."""
    for entry in RETIREMENTS:
        if entry.key == key:
            return entry
    raise KeyError(key)


def system_clock() -> datetime:
    """The default clock: now, in UTC."""
    return datetime.now(UTC)


def today(clock: Clock | None = None) -> date:
    """The current UTC date from ``clock`` (default: ``system_clock``)."""
    return (clock or system_clock)().astimezone(UTC).date()


def is_retired(key: str, clock: Clock | None = None) -> bool:
    """Has the mechanism ``key`` passed its retirement date?"""
    return today(clock) >= retirement(key).retires


def login_check_notice(clock: Clock | None = None) -> str:
    """The one notice a login check prints: before the date a warning, after it the end."""
    soap = retirement("soap-login")
    if is_retired("soap-login", clock):
        return (
            f"Salesforce retired {soap.what} on {soap.retires.isoformat()} ({soap.release}): "
            "a token can no longer be checked with a login"
        )
    days = (soap.retires - today(clock)).days
    return (
        f"Salesforce retires {soap.what} with {soap.release} ({soap.retires.isoformat()}, in "
        f"{_days(days)}); {MIGRATE_HINT}"
    )


def inventory_notices(clock: Clock | None = None) -> list[str]:
    """Notices for a token inventory: one line per retirement, past or coming."""
    lines = []
    for entry in RETIREMENTS:
        if today(clock) >= entry.retires:
            lines.append(f"{entry.what} was retired on {entry.retires.isoformat()}")
        else:
            days = (entry.retires - today(clock)).days
            lines.append(
                f"{entry.what} retires on {entry.retires.isoformat()} ({entry.release}, in "
                f"{_days(days)})"
            )
    return lines


def require_login_available(clock: Clock | None = None) -> None:
    """Raise LoginRetiredError once SOAP login() is retired: no login is even tried."""
    if is_retired("soap-login", clock):
        from inbox_finder.errors import LoginRetiredError

        raise LoginRetiredError(login_check_notice(clock))


def login_notices(clock: Clock | None = None) -> list[str]:
    """The notices a login check prints once per run (none once the check is impossible)."""
    return [] if is_retired("soap-login", clock) else [login_check_notice(clock)]

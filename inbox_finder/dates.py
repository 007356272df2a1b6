"""Time parsing for ``--since`` and durations (``--wait``, ``--interval``), always timezone-aware.

Every bad value is a ConfigError with a one-line reason: a value that parses but cannot be
represented (``99999999999d``, ``0001-01-01`` in local time, ``9999-12-31T23:59:59-14:00``)
is refused here rather than overflowing later in a provider.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime, timedelta

from inbox_finder.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)

#: The longest duration accepted anywhere (an age of 100 years already reaches before any mail).
MAX_DURATION = timedelta(days=36525)
#: ``--since`` before this finds the same mail as no ``--since`` at all, so it is a typo.
EARLIEST_SINCE = datetime(1970, 1, 1, tzinfo=UTC)
#: ``--since`` may lie this far ahead of the local clock (clock skew between machines).
FUTURE_SLACK = timedelta(days=1)
#: The shortest polling interval: anything shorter would hammer the mailbox.
MIN_INTERVAL = 0.1


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``10m``, ``12h``, ``7d``, ``2w`` (or plain seconds) into a timedelta."""
    m = _DURATION.match(text)
    if m:
        seconds = float(m.group(1)) * _UNITS[m.group(2).lower()]
    else:
        try:
            seconds = float(text)
        except ValueError:
            raise ConfigError(
                f"not a duration: {text!r} (use e.g. 90s, 10m, 12h, 7d, 2w)"
            ) from None
    if math.isnan(seconds):
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 10m, 12h, 7d, 2w)")
    if seconds < 0:
        raise ConfigError(f"duration must not be negative: {text!r}")
    if seconds > MAX_DURATION.total_seconds():
        raise ConfigError(f"duration too long: {text!r} (at most {MAX_DURATION.days}d)")
    return timedelta(seconds=seconds)


def parse_interval(text: str) -> float:
    """Parse a polling interval into seconds: a duration of at least ``MIN_INTERVAL``."""
    seconds = parse_duration(text).total_seconds()
    if seconds < MIN_INTERVAL:
        raise ConfigError(f"interval too short: {text!r} (at least {MIN_INTERVAL}s)")
    return seconds


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Parse ``--since``: a relative age (``7d``) or an ISO date/time (naive = local time)."""
    now = now or datetime.now(UTC)
    value = now - parse_duration(text) if _DURATION.match(text) else _parse_time(text)
    if value < EARLIEST_SINCE:
        raise ConfigError(
            f"since {text!r} is before {EARLIEST_SINCE:%Y-%m-%d}: leave it out to search all mail"
        )
    if value > now + FUTURE_SLACK:
        raise ConfigError(f"since {text!r} is in the future")
    return value


def _parse_time(text: str) -> datetime:
    """An ISO date/time in UTC; a naive one is the user's local time."""
    from dateutil import parser as dateparser  # lazy: only absolute dates need it

    try:
        value = dateparser.isoparse(text.strip())
    except (ValueError, OverflowError):
        raise ConfigError(
            f"not a time: {text!r} (use an ISO date such as 2024-05-01, "
            "2024-05-01T09:00+02:00, or an age such as 7d, 12h)"
        ) from None
    try:
        if value.tzinfo is None:
            value = value.astimezone()  # naive means the user's local time
        return value.astimezone(UTC)
    except (ValueError, OverflowError, OSError):
        # Near year 1 or 9999 the shift to UTC (or to local time) leaves datetime's range.
        raise ConfigError(f"time out of range: {text!r}") from None

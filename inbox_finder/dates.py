"""Time parsing for ``--since`` and durations (``--wait``), always timezone-aware."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from inbox_finder.errors import ConfigError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([smhdw])\s*$", re.IGNORECASE)


def parse_duration(text: str) -> timedelta:
    """Parse ``90s``, ``10m``, ``12h``, ``7d``, ``2w`` (or plain seconds) into a timedelta."""
    m = _DURATION.match(text)
    if m:
        return timedelta(seconds=float(m.group(1)) * _UNITS[m.group(2).lower()])
    try:
        seconds = float(text)
    except ValueError:
        raise ConfigError(f"not a duration: {text!r} (use e.g. 90s, 10m, 12h, 7d, 2w)") from None
    if seconds < 0:
        raise ConfigError(f"duration must not be negative: {text!r}")
    return timedelta(seconds=seconds)


def parse_since(text: str, now: datetime | None = None) -> datetime:
    """Parse ``--since``: a relative age (``7d``) or an ISO date/time (naive = local time)."""
    now = now or datetime.now(UTC)
    if _DURATION.match(text):
        return now - parse_duration(text)
    from dateutil import parser as dateparser  # lazy: only absolute dates need it

    try:
        value = dateparser.isoparse(text.strip())
    except (ValueError, OverflowError):
        raise ConfigError(
            f"not a time: {text!r} (use an ISO date such as 2024-05-01, "
            "2024-05-01T09:00+02:00, or an age such as 7d, 12h)"
        ) from None
    if value.tzinfo is None:
        value = value.astimezone()  # naive means the user's local time
    return value.astimezone(UTC)

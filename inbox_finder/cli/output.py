"""Rendering findings for people (human text) and programs (JSON, bare token)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from inbox_finder.model import Finding


def age(then: datetime, now: datetime | None = None) -> str:
    """A short human age such as ``3 days ago`` (``in the future`` for clock skew)."""
    seconds = int(((now or datetime.now(UTC)) - then).total_seconds())
    if seconds < 0:
        return "in the future"
    for unit, size in (("year", 31_557_600), ("day", 86_400), ("hour", 3_600), ("minute", 60)):
        if seconds >= size:
            n = seconds // size
            return f"{n} {unit}{'s' if n != 1 else ''} ago"
    return "just now"


# Said when the newest token mail sits in a trash or junk folder: the token is not stale.
FOLDER_NOTES = {
    "trash": "this mail was deleted (it is in the trash); the token is still the newest one issued",
    "junk": "this mail was filtered as junk/spam; it passed the sender checks, and the token "
    "is still the newest one issued",
    "deleted": "this mail was deleted (marked deleted, still stored until the folder is "
    "compacted); the token is still the newest one issued",
}


def human(finding: Finding, now: datetime | None = None) -> str:
    """A labelled block: token, username, received (local time and age), sender, subject,
    source, folder (plus a note when that is a trash or junk folder)."""
    local = finding.received.astimezone()
    rows = [
        ("Token", finding.token),
        ("Username", finding.username or "(not stated in this mail)"),
        ("Received", f"{local:%Y-%m-%d %H:%M:%S %Z} ({age(finding.received, now)})"),
        ("Sender", finding.sender),
        ("Subject", finding.subject),
        ("Source", finding.source),
    ]
    if finding.folder is not None:
        rows.append(("Folder", finding.folder))
    if finding.also_in:
        rows.append(("Also in", ", ".join(finding.also_in)))
    if finding.folder_role is not None:
        rows.append(("Note", FOLDER_NOTES[finding.folder_role]))
    return "\n".join(f"{label + ':':<10} {value}" for label, value in rows)


def human_all(findings: Sequence[Finding], now: datetime | None = None) -> str:
    """Several blocks, newest first, separated by blank lines."""
    return "\n\n".join(human(f, now) for f in findings)


def as_json(findings: Sequence[Finding], many: bool) -> str:
    """One object, or (``many``) an array newest first."""
    if many:
        return json.dumps([f.to_dict() for f in findings], ensure_ascii=False, indent=2)
    return findings[0].to_json()

"""The token inventory: one row per Salesforce username, for planning the move off tokens.

Built from every token mail found (``find_tokens``): the newest token per username, how many
token mails (resets) the mailbox holds and when the first came, where the newest was found,
and whether the mail says it came from a sandbox. The token itself is left out of every
rendering unless asked for.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from inbox_finder.mail.extract import is_sandbox_subject
from inbox_finder.model import Finding

Environment = Literal["sandbox", "production", "unknown"]


COLUMNS = (
    "username",
    "environment",
    "newest_received",
    "age_days",
    "token_mails",
    "first_received",
    "source",
    "folder",
    "verify",
)


@dataclass(frozen=True)
class InventoryRow:
    """What the mailbox says about one username's tokens."""

    username: str | None
    environment: Environment
    newest: Finding
    token_mails: int
    first_received: datetime
    verify: str | None = None

    def to_dict(self, now: datetime, *, show_token: bool = False) -> dict[str, Any]:
        """The JSON/CSV shape; ``token`` only with ``show_token``."""
        row: dict[str, Any] = {
            "username": self.username,
            "environment": self.environment,
            "newest_received": self.newest.received.isoformat(),
            "age_days": max(0, (now - self.newest.received).days),
            "token_mails": self.token_mails,
            "first_received": self.first_received.isoformat(),
            "source": self.newest.source,
            "folder": getattr(self.newest, "folder", None),
            "verify": self.verify,
        }
        if show_token:
            row["token"] = self.newest.token
        return row


def environment_of(finding: Finding) -> Environment:
    """Sandbox when the subject carries Salesforce's ``Sandbox:`` prefix; else production.

    Legacy mails that name no username say nothing either way: unknown.
    """
    if is_sandbox_subject(finding.subject):
        return "sandbox"
    return "production" if finding.username else "unknown"


def build_inventory(findings: Iterable[Finding]) -> list[InventoryRow]:
    """One row per username (case-insensitive), sorted newest token first."""
    groups: dict[str | None, list[Finding]] = {}
    for finding in findings:
        key = finding.username.casefold() if finding.username else None
        groups.setdefault(key, []).append(finding)
    rows = []
    for group in groups.values():
        group.sort(key=lambda f: f.received, reverse=True)
        # A copy of one mail in two folders is one reset, not two.
        mails = {f.message_id or f"{f.received.isoformat()}|{f.token}" for f in group}
        newest = group[0]
        rows.append(
            InventoryRow(
                username=newest.username,
                environment=environment_of(newest),
                newest=newest,
                token_mails=len(mails),
                first_received=group[-1].received,
            )
        )
    rows.sort(key=lambda r: r.newest.received, reverse=True)
    return rows


def with_verdicts(
    rows: Sequence[InventoryRow], verdicts: Mapping[str | None, str]
) -> list[InventoryRow]:
    """The rows with each username's login verdict filled in."""
    from dataclasses import replace

    return [replace(r, verify=verdicts.get(r.username)) for r in rows]


def render_json(rows: Sequence[InventoryRow], now: datetime, *, show_tokens: bool = False) -> str:
    """A JSON array of row objects."""
    return json.dumps([r.to_dict(now, show_token=show_tokens) for r in rows], ensure_ascii=False)


def render_csv(rows: Sequence[InventoryRow], now: datetime, *, show_tokens: bool = False) -> str:
    """RFC 4180 CSV with a header row (``token`` last, only with ``show_tokens``)."""
    out = io.StringIO()
    fields = [*COLUMNS, "token"] if show_tokens else list(COLUMNS)
    writer = csv.DictWriter(out, fieldnames=fields, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow(
            {k: "" if v is None else v for k, v in row.to_dict(now, show_token=show_tokens).items()}
        )
    return out.getvalue()


def render_table(rows: Sequence[InventoryRow], now: datetime, *, show_tokens: bool = False) -> str:
    """An aligned text table for a terminal, newest first."""
    head = ["USERNAME", "ENV", "NEWEST TOKEN", "AGE", "MAILS", "FIRST", "WHERE"]
    if any(r.verify for r in rows):
        head.append("LOGIN")
    if show_tokens:
        head.append("TOKEN")
    body = [_table_cells(r, now, head, show_tokens) for r in rows]
    widths = [max(len(line[i]) for line in [head, *body]) for i in range(len(head))]
    lines = [
        "  ".join(c.ljust(w) for c, w in zip(line, widths, strict=True)).rstrip()
        for line in [head, *body]
    ]
    return "\n".join(lines)


def _table_cells(row: InventoryRow, now: datetime, head: list[str], show_tokens: bool) -> list[str]:
    folder = getattr(row.newest, "folder", None)
    cells = [
        row.username or "(not stated)",
        row.environment,
        row.newest.received.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        f"{max(0, (now - row.newest.received).days)}d",
        str(row.token_mails),
        row.first_received.astimezone(UTC).strftime("%Y-%m-%d"),
        row.newest.source + (f" [{folder}]" if folder else ""),
    ]
    if "LOGIN" in head:
        cells.append(row.verify or "-")
    if show_tokens:
        cells.append(row.newest.token)
    return cells

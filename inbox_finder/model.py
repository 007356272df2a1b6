"""Value types shared by providers, the extractor and the engine."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

ReceivedSource = Literal[
    "server", "date-header", "received-header", "from-line", "delivery-time", "file-time"
]
# Where mail the user deleted or a filter set aside sits: a token there is still current.
# ``trash``/``junk``: the folder; ``deleted``: the message itself is marked deleted but still
# stored (Thunderbird's expunged flag in a folder file that was not compacted yet).
FolderRole = Literal["trash", "junk", "deleted"]


def require_aware(value: datetime, what: str = "datetime") -> datetime:
    """Return ``value`` in UTC; refuse a naive datetime (compare instants, never wall clocks)."""
    if value.tzinfo is None or value.utcoffset() is None:
        raise ValueError(f"{what} must be timezone-aware")
    return value.astimezone(UTC)


@dataclass(frozen=True)
class Candidate:
    """One message a provider offers, newest first: an opaque ref plus its receive time."""

    ref: str
    received: datetime
    received_source: ReceivedSource = "server"
    # Raw header block if the provider already has it cheaply (lets the engine reject early).
    headers: bytes | None = field(default=None, repr=False, compare=False)
    # The folder as the user sees it (None: a single-file source, or resolved later by the
    # provider's ``describe_folder``), and whether it is a trash or junk folder.
    folder: str | None = None
    folder_role: FolderRole | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "received", require_aware(self.received, "Candidate.received"))


@dataclass(frozen=True)
class Finding:
    """A security token extracted from a trusted Salesforce token email."""

    token: str = field(repr=False)
    username: str | None
    received: datetime
    sender: str
    subject: str
    message_id: str | None
    source: str
    language: str
    template: str
    trust: str
    received_source: ReceivedSource = "server"
    folder: str | None = None
    folder_role: FolderRole | None = None
    # Other folders holding a copy of the same mail (same Message-ID and token).
    also_in: tuple[str, ...] = ()
    # The provider's reference of the message (as in Candidate.ref); not part of the JSON.
    ref: str | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "received", require_aware(self.received, "Finding.received"))

    def to_dict(self) -> dict[str, Any]:
        """The JSON contract of ``find --json`` (received as ISO 8601 with offset)."""
        return {
            "token": self.token,
            "username": self.username,
            "received": self.received.isoformat(),
            "sender": self.sender,
            "subject": self.subject,
            "message_id": self.message_id,
            "source": self.source,
            "language": self.language,
            "template": self.template,
            "trust": self.trust,
            "received_source": self.received_source,
            "folder": self.folder,
            "folder_role": self.folder_role,
            "also_in": list(self.also_in),
        }

    def to_json(self) -> str:
        """One-line JSON object for this finding."""
        return json.dumps(self.to_dict(), ensure_ascii=False)

"""A Finding as the engine makes one for a current-template mail, for tests that need one
without a mailbox."""

from __future__ import annotations

from datetime import datetime

from inbox_finder.model import Finding


def make_finding(token: str, received: datetime) -> Finding:
    """dana@example.com's token mail from support@salesforce.com, received at ``received``."""
    return Finding(
        token=token,
        username="dana@example.com",
        received=received,
        sender="support@salesforce.com",
        subject="Your new Salesforce security token",
        message_id=None,
        source="mbox:x",
        language="en",
        template="current",
        trust="sender domain salesforce.com",
    )

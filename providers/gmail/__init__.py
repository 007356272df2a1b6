"""Gmail through the Gmail API (read-only scope)."""

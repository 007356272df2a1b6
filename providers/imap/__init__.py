"""IMAP (imaps:// and imap:// with STARTTLS), read-only."""

"""Local mailboxes: Maildir, a folder of .eml files, mbox."""

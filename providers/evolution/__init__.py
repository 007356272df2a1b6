"""Evolution's offline IMAP and Exchange (EWS) cache: ``evolution:DIR`` and its discoverer."""

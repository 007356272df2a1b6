"""Built-in mailbox providers, one module per kind."""

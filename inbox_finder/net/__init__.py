"""The network layer shared by every provider: retry policy, TLS contexts, HTTP error mapping."""

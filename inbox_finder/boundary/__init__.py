"""The provider boundary: the Provider interface, queries, source options and the registry."""

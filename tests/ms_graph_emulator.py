"""Old name of ``emulators.ms_graph_emulator``; kept so existing imports work."""

from emulators.ms_graph_emulator import (
    Fault,
    GraphEmulator,
    GraphError,
    StoredMessage,
    parse_filter,
)

__all__ = [
    "Fault",
    "GraphEmulator",
    "GraphError",
    "StoredMessage",
    "parse_filter",
]

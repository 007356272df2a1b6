"""Old name of ``emulators.fault_proxy``; kept so existing imports work."""

from emulators.fault_proxy import (
    Action,
    ConnStats,
    Fault,
    FaultProxy,
    TlsTermination,
)

__all__ = [
    "Action",
    "ConnStats",
    "Fault",
    "FaultProxy",
    "TlsTermination",
]

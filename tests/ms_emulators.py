"""Old name of ``emulators.ms_emulators``; kept so existing imports work."""

from emulators.ms_emulators import (
    AppRegistration,
    Grant,
    IdentityEmulator,
    Json,
    LoopbackCA,
    Recorded,
    Reply,
    WireFault,
    _Emulator,
    b64url,
    b64url_decode,
    make_client_certificate,
    make_test_ca,
)

__all__ = [
    "AppRegistration",
    "Grant",
    "IdentityEmulator",
    "Json",
    "LoopbackCA",
    "Recorded",
    "Reply",
    "WireFault",
    "_Emulator",
    "b64url",
    "b64url_decode",
    "make_client_certificate",
    "make_test_ca",
]

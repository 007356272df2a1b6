"""IMAP (imaps:// and imap:// with STARTTLS), read-only.

Start-up: ``imapclient.version`` asks ``importlib.metadata`` for imapclient's own version,
which imports zipfile, csv, email and the compression modules and scans every installed
distribution, about half of what importing imapclient costs. ``_imapclient_version`` answers
it from the ``imapclient-X.Y.Z.dist-info`` folder beside the package instead (the same name
importlib.metadata reads); if there is none, imapclient imports as usual.
"""

from __future__ import annotations

import os
import sys
import types


def _imapclient_version() -> None:
    """Put a ready ``imapclient.version`` module in place, read from the dist-info name."""
    if "imapclient.version" in sys.modules:
        return
    for entry in sys.path:
        if not os.path.isdir(os.path.join(entry or ".", "imapclient")):
            continue
        for name in os.listdir(entry or "."):
            low = name.lower()
            if not (low.startswith("imapclient-") and low.endswith(".dist-info")):
                continue
            version = name[len("imapclient-") : -len(".dist-info")]
            parts = version.split(".")
            if len(parts) != 3 or not all(p.isdigit() for p in parts):
                return  # a pre-release or local build: let imapclient work it out
            module = types.ModuleType("imapclient.version")
            module.version = version  # type: ignore[attr-defined]
            module.version_info = (*map(int, parts), "final")  # type: ignore[attr-defined]
            sys.modules["imapclient.version"] = module
            return
        return


_imapclient_version()

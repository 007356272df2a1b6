"""The shipped test kit: contracts every provider passes, and what they need to make mail.

A provider package tests itself by subclassing the contracts (pytest collects them)::

    from inbox_finder.testing import ContractMailbox, ProviderContract, ScanContract

    class MyMailbox(ContractMailbox): ...            # open(), add(), recreate()

    class MyFixtures:
        @pytest.fixture
        def make_mailbox(self, tmp_path):            # messages -> a mailbox holding them
            return lambda messages: MyMailbox(tmp_path, messages)

    class TestMyProvider(MyFixtures, ProviderContract):
        pass

    class TestMyProviderScans(MyFixtures, ScanContract):
        supports_cursor = True                       # capability flags: see ContractBase

``inbox_finder.testing.mail`` builds token mails and look-alikes; ``inbox_finder.testing.dovecot``
starts a real Dovecot. The contracts need pytest; this module imports it only when a contract
is first used, and ``import inbox_finder`` never imports this package.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from inbox_finder.testing.cases import (
        ContractMail,
        ContractMailbox,
        MailboxFactory,
        Message,
        standard_mails,
    )
    from inbox_finder.testing.contract import ContractBase, ProviderContract
    from inbox_finder.testing.scan_contract import ScanContract

_LAZY = {
    "ContractMail": "cases",
    "ContractMailbox": "cases",
    "MailboxFactory": "cases",
    "Message": "cases",
    "standard_mails": "cases",
    "ContractBase": "contract",
    "ProviderContract": "contract",
    "ScanContract": "scan_contract",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'inbox_finder.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


__all__ = [
    "ContractBase",
    "ContractMail",
    "ContractMailbox",
    "MailboxFactory",
    "Message",
    "ProviderContract",
    "ScanContract",
    "standard_mails",
]

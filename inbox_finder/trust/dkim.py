"""Opt-in cryptographic DKIM verification (``--verify-dkim``) with dkimpy.

A token mail passes only with a DKIM signature that verifies *and* whose ``d=`` domain is
aligned with the From domain. A valid signature from another domain, a body changed after
signing, or no signature at all each reject the mail. The DNS lookup is injectable so tests
(and air-gapped setups with a local key table) verify offline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from inbox_finder.errors import ConfigError

log = logging.getLogger(__name__)

#: dkimpy's resolver signature: TXT record bytes for a DNS name (bytes), or None.
DnsFunc = Callable[..., bytes | None]


def _aligned(signer: str, from_domain: str) -> bool:
    signer, from_domain = signer.lower().rstrip("."), from_domain.lower().rstrip(".")
    return (
        signer == from_domain
        or from_domain.endswith("." + signer)
        or signer.endswith("." + from_domain)
    )


def verify_dkim(raw: bytes, from_domain: str, dnsfunc: DnsFunc | None = None) -> tuple[bool, str]:
    """(passed, reason): is there a verifying DKIM signature aligned with ``from_domain``?"""
    try:
        import dkim
    except ImportError as exc:
        raise ConfigError("--verify-dkim needs dkimpy: pip install 'inbox-finder[dkim]'") from exc
    signer = dkim.DKIM(raw, logger=log)
    count = sum(1 for name, _ in signer.headers if name.lower() == b"dkim-signature")
    if count == 0:
        return False, "no DKIM signature"
    others = []
    for idx in range(count):
        try:
            ok = signer.verify(idx=idx, dnsfunc=dnsfunc) if dnsfunc else signer.verify(idx=idx)
        except dkim.DKIMException as exc:
            log.debug("DKIM signature %d unusable: %s", idx, type(exc).__name__)
            continue
        domain = (signer.domain or b"").decode("ascii", "replace")
        if not ok:
            log.debug("DKIM signature %d (d=%s) does not verify", idx, domain)
            continue
        if _aligned(domain, from_domain):
            return True, f"dkim=pass d={domain}"
        others.append(domain)
    if others:
        return False, f"valid DKIM signature only from another domain ({', '.join(others)})"
    return False, "DKIM signature does not verify"

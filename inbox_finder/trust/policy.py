"""Trust policy: is this mail really from Salesforce?

1. The From address's domain must be a trusted sender domain (``salesforce.com`` or a subdomain
   by exact label match — ``salesforce.com.evil.net`` is not one) or one the user added.
2. If the message carries an ``Authentication-Results`` header from a trusted receiving server
   (authserv-id), the topmost such header decides: ``dmarc=fail``, or a DKIM/SPF ``fail``
   aligned with the From domain, rejects the mail as spoofed. Headers below it are ignored:
   anything under the receiving server's own header could have been written by the sender.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace

from inbox_finder.mail.parse import (
    Headers,  # a light module: the email package loads on first parse
)

DEFAULT_AUTHSERV_IDS = ("mx.google.com", "*.protection.outlook.com", "*.outlook.com")
DEFAULT_SENDER_DOMAINS = ("salesforce.com",)


@dataclass(frozen=True)
class TrustPolicy:
    """Which senders and which receiving servers' verdicts to believe."""

    sender_domains: tuple[str, ...] = DEFAULT_SENDER_DOMAINS
    authserv_ids: tuple[str, ...] = DEFAULT_AUTHSERV_IDS
    #: Also require a verifying DKIM signature aligned with the From domain (dkimpy).
    verify_dkim: bool = False
    #: DNS TXT lookup for DKIM keys (dkimpy's ``dnsfunc``); None = the system resolver.
    dkim_dns: Callable[..., bytes | None] | None = field(default=None, compare=False)

    def with_extra_domains(self, domains: Sequence[str]) -> TrustPolicy:
        """A copy that also trusts ``domains``."""
        extra = tuple(d.strip().lower().rstrip(".") for d in domains if d.strip())
        return replace(self, sender_domains=_union(self.sender_domains, extra))

    def merged(self, other: TrustPolicy) -> TrustPolicy:
        """Both policies at once: nothing either one checks is dropped.

        Sender domains and authserv-ids are the union (a ``fail`` from any receiving server
        either policy believes still rejects), DKIM is required if either requires it, and
        ``other``'s DNS lookup wins when it has one.
        """
        return TrustPolicy(
            sender_domains=_union(self.sender_domains, other.sender_domains),
            authserv_ids=_union(self.authserv_ids, other.authserv_ids),
            verify_dkim=self.verify_dkim or other.verify_dkim,
            dkim_dns=other.dkim_dns or self.dkim_dns,
        )


def _union(first: Sequence[str], second: Sequence[str]) -> tuple[str, ...]:
    """Both sequences' items in order, each once."""
    return tuple(dict.fromkeys([*first, *second]))


@dataclass(frozen=True)
class Verdict:
    """The trust decision and a short human-readable reason (no secrets)."""

    trusted: bool
    reason: str
    sender: str = ""
    #: A short kind of distrust that rejections are counted by ("" when trusted).
    label: str = ""


def domain_matches(domain: str, trusted: str) -> bool:
    """Exact label match: ``a.salesforce.com`` matches ``salesforce.com``; look-alikes do not."""
    domain = domain.lower().rstrip(".")
    trusted = trusted.lower().rstrip(".")
    return domain == trusted or domain.endswith("." + trusted)


def _aligned(a: str, b: str) -> bool:
    """Relaxed DMARC-style alignment: one domain equals or is a subdomain of the other."""
    return domain_matches(a, b) or domain_matches(b, a)


def sender_address(from_raw: str) -> str | None:
    """The single From address, lower-cased; None if absent or ambiguous (several addresses)."""
    import email.utils  # lazy: see parse.py

    addresses = [addr for _, addr in email.utils.getaddresses([from_raw]) if addr]
    if len(addresses) != 1 or "@" not in addresses[0]:
        return None
    return addresses[0].strip().lower()


_COMMENT = re.compile(r"\([^()]*\)")


def _strip_comments(value: str) -> str:
    for _ in range(5):  # comments may nest; a few passes remove realistic nesting
        value, n = _COMMENT.subn(" ", value)
        if not n:
            break
    return value


@dataclass(frozen=True)
class AuthResult:
    """One ``method=result`` clause of an Authentication-Results header."""

    method: str
    result: str
    props: dict[str, str]


def parse_auth_results(value: str) -> tuple[str, list[AuthResult]]:
    """Split an Authentication-Results value into its authserv-id and method results (RFC 8601)."""
    clauses = [c.strip() for c in _strip_comments(value).split(";")]
    head = clauses[0].split() if clauses and clauses[0] else [""]
    results = []
    for clause in clauses[1:]:
        words = clause.split()
        if not words or "=" not in words[0]:
            continue
        method, _, result = words[0].partition("=")
        props = {}
        for word in words[1:]:
            key, sep, val = word.partition("=")
            if sep:
                props[key.lower()] = val.strip('"').lower()
        results.append(AuthResult(method.split("/")[0].lower(), result.lower(), props))
    return head[0].lower(), results


def _authserv_trusted(authserv_id: str, patterns: Sequence[str]) -> bool:
    return any(fnmatch.fnmatchcase(authserv_id, p.lower()) for p in patterns)


def _domain_of(value: str) -> str:
    return value.rpartition("@")[2].lower().rstrip(".")


def _spoof_reason(results: Sequence[AuthResult], from_domain: str) -> str | None:
    # DMARC is the verdict about the From domain itself, so it is reported first.
    if any(r.method == "dmarc" and r.result == "fail" for r in results):
        return "dmarc=fail"
    for r in results:
        if r.method == "dkim" and r.result == "fail":
            signer = r.props.get("header.d") or _domain_of(r.props.get("header.i", ""))
            if signer and _aligned(signer, from_domain):
                return f"dkim=fail for {signer}"
        if r.method == "spf" and r.result == "fail":
            mailfrom = _domain_of(r.props.get("smtp.mailfrom", ""))
            if mailfrom and _aligned(mailfrom, from_domain):
                return f"spf=fail for {mailfrom}"
    return None


def judge(headers: Headers, policy: TrustPolicy | None = None) -> Verdict:
    """Decide whether a message's headers come from a trusted Salesforce sender."""
    policy = policy or TrustPolicy()
    sender = sender_address(headers.from_raw)
    if sender is None:
        return Verdict(False, "no single From address", label="no single From address")
    domain = _domain_of(sender)
    if not any(domain_matches(domain, t) for t in policy.sender_domains):
        return Verdict(
            False, f"untrusted sender domain {domain}", sender, "untrusted sender domain"
        )
    for value in headers.auth_results:  # topmost first
        authserv_id, results = parse_auth_results(value)
        if not _authserv_trusted(authserv_id, policy.authserv_ids):
            continue
        spoof = _spoof_reason(results, domain)
        if spoof:
            method = spoof.partition("=")[0].upper()
            label = f"spoofed sender ({method} fail)"
            return Verdict(False, f"spoofed: {spoof} per {authserv_id}", sender, label)
        summary = ",".join(f"{r.method}={r.result}" for r in results if r.method == "dmarc")
        return Verdict(
            True, f"authentication-results {authserv_id}: {summary or 'no fail'}", sender
        )
    return Verdict(True, f"sender domain {domain}", sender)

"""The engine: walk a provider's candidates newest first and turn trusted token mails into
Findings, stopping as soon as the answer is known."""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import NamedTuple

from inbox_finder.boundary.provider import Provider, Query
from inbox_finder.errors import MessageVanishedError
from inbox_finder.mail.bounces import bounce_reason
from inbox_finder.mail.headers import from_header_mentions
from inbox_finder.mail.parse import Headers, parse_headers, parse_message
from inbox_finder.model import Candidate, Finding
from inbox_finder.trust.policy import TrustPolicy, Verdict, judge

log = logging.getLogger(__name__)

# A token mail is a few KB. Hostile or huge mail (a 50 MB attachment) is read only this far:
# headers and the first text parts are always within it.
MAX_MESSAGE_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class Selection:
    """Which findings the caller wants."""

    username: str | None = None
    since: datetime | None = None
    # Narrow the provider's folder scope (see Query.folders); sources opened from a URL or
    # profile get theirs through SourceOptions instead.
    folders: tuple[str, ...] = ()
    exclude_folders: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rejection:
    """Why a candidate yielded no finding (for logs and tests; never holds a token)."""

    reason: str
    #: What the "not found" summary counts this as; "" for mail that does not even claim to
    #: be a token mail (its subject names no security token), which is not counted.
    label: str = ""
    #: The sender, set only when the mail passed every trust check, its subject is a
    #: security-token mail's and its body yielded no token: a genuine token mail this version
    #: cannot read (see ``Unreadable``).
    trusted_sender: str | None = None


class Unreadable(NamedTuple):
    """A token mail that passed every trust check but whose body yielded no token (a new
    layout, a body format we do not read). Newer than the answer, it may hold the newest
    token: the answer is then reported with a warning (``warn_unreadable``)."""

    received: datetime
    sender: str
    why: str


#: Counts of rejected candidate token mails by ``Rejection.label`` (see ``rejection_summary``).
RejectionCounts = Counter[str]


def screen_headers(headers: Headers, policy: TrustPolicy) -> Verdict | Rejection:
    """Cheap checks on headers alone: trusted sender, no bounce, no reply, subject names a token."""
    from inbox_finder.mail.extract import (  # lazy: compiles the template table
        is_reply,
        subject_mentions_token,
    )

    claims = subject_mentions_token(headers.subject)  # a candidate token mail: worth counting
    verdict = judge(headers, policy)
    if not verdict.trusted:
        return Rejection(verdict.reason, verdict.label if claims else "")
    bounce = bounce_reason(headers)
    if bounce is not None:
        # It may quote or attach a token mail that is not its own. One fixed reason (the
        # detail goes to the debug log) so rejections can be counted by reason.
        log.debug("bounce: %s", bounce)
        return Rejection("a bounce or delivery report")
    if is_reply(headers.subject):
        return Rejection("a reply", "reply" if claims else "")
    if not claims:
        return Rejection("subject does not name a security token")
    return verdict


def evaluate(
    raw: bytes, candidate: Candidate, source: str, policy: TrustPolicy
) -> Finding | Rejection:
    """Turn one raw message into a Finding, or say why not."""
    whole = raw
    if len(raw) > MAX_MESSAGE_BYTES:
        log.debug(
            "%s is %d bytes; reading the first %d", candidate.ref, len(raw), MAX_MESSAGE_BYTES
        )
        raw = raw[:MAX_MESSAGE_BYTES]
    parsed = parse_message(raw)
    screened = screen_headers(parsed.headers, policy)
    if isinstance(screened, Rejection):
        return screened
    trust = screened.reason
    if policy.verify_dkim:
        from inbox_finder.trust.dkim import verify_dkim  # lazy: dkimpy is an optional extra

        passed, why = verify_dkim(whole, screened.sender.rpartition("@")[2], policy.dkim_dns)
        if not passed:
            return Rejection(f"--verify-dkim: {why}", "no valid DKIM signature (--verify-dkim)")
        trust = f"{trust}; {why}"
    from inbox_finder.mail.extract import extract, subject_language, why_no_token

    found = extract(parsed)
    if found is None:
        why = why_no_token(parsed)
        # Unreadable only when the subject is a security-token mail's (in a table language);
        # Salesforce's other mail about tokens (OAuth, refresh-token policy) never holds one.
        genuine = subject_language(parsed.headers.subject) is not None
        sender = screened.sender if genuine else None
        return Rejection(f"no unambiguous token in the body: {why}", why, sender)
    return Finding(
        token=found.token,
        username=found.username,
        received=candidate.received,
        sender=screened.sender,
        subject=parsed.headers.subject,
        message_id=parsed.headers.message_id,
        source=source,
        language=found.language,
        template=found.template,
        trust=trust,
        received_source=candidate.received_source,
        folder=candidate.folder,
        folder_role=candidate.folder_role,
        ref=candidate.ref,
    )


def _username_matches(finding: Finding, wanted: str | None) -> bool:
    if wanted is None:
        return True
    return (finding.username or "").casefold() == wanted.casefold()


def _rejected(ref: str, rejection: Rejection, counts: RejectionCounts | None, stage: str) -> None:
    """Log a rejection and count it when it was a candidate token mail."""
    if rejection.label:
        # A mail that claims to be a token mail: --verbose names each one.
        log.info("rejected %s%s: %s", ref, stage, rejection.reason)
        if counts is not None:
            counts[rejection.label] += 1
    else:
        log.debug("skip %s%s: %s", ref, stage, rejection.reason)


def rejection_summary(counts: Mapping[str, int]) -> str:
    """``2 candidate mails rejected: 1 spoofed sender (DMARC fail), 1 reply`` ("" if none)."""
    total = sum(counts.values())
    if not total:
        return ""
    parts = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    kinds = ", ".join(f"{n} {label}" for label, n in parts)
    return f"{total} candidate mail{'s' if total != 1 else ''} rejected: {kinds}"


def _query(selection: Selection, policy: TrustPolicy, after_cursor: str | None) -> Query:
    from inbox_finder.mail.templates import subject_search_words

    return Query(
        selection.since,
        policy.sender_domains,
        # screen_headers rejects, uncounted, every subject that names no security token
        subject_words=subject_search_words(),
        after_cursor=after_cursor,
        folders=selection.folders,
        exclude_folders=selection.exclude_folders,
    )


def iter_findings(
    provider: Provider,
    selection: Selection | None = None,
    policy: TrustPolicy | None = None,
    after_cursor: str | None = None,
    rejected: RejectionCounts | None = None,
    *,
    named: bool = True,
    unreadable: list[Unreadable] | None = None,
) -> Iterator[Finding]:
    """Yield findings newest first; stop iterating it as soon as you have what you need.

    ``after_cursor`` (from ``Provider.sync_cursor``) lets a provider return only newer mail.
    ``rejected``, if given, counts the candidate token mails turned down, by reason.
    ``named=False`` leaves folders as the provider's candidates carried them (ids on Graph
    and Gmail) for a caller that keeps only some findings and names those with
    ``name_folders``. ``unreadable``, if given, collects the trusted token mails whose body
    yielded no token, in the order met (newest first).
    """
    selection = selection or Selection()
    policy = policy or TrustPolicy()
    query = _query(selection, policy, after_cursor)
    fetched = 0
    for candidate in provider.search(query):
        if selection.since is not None and candidate.received < selection.since:
            break  # newest first: everything after is older still
        header_block = provider.fetch_headers(candidate)
        if header_block is not None:
            if not from_header_mentions(header_block, policy.sender_domains):
                log.debug("skip %s (headers): From names no trusted domain", candidate.ref)
                continue
            screened = screen_headers(parse_headers(header_block), policy)
            if isinstance(screened, Rejection):
                _rejected(candidate.ref, screened, rejected, " (headers)")
                continue
        try:
            raw = provider.fetch(candidate)
        except MessageVanishedError as exc:
            # Deleted or moved since the search: not a token; an older mail may be the answer.
            log.info("skip %s: %s", candidate.ref, exc)
            continue
        fetched += 1
        result = evaluate(raw, candidate, provider.source, policy)
        if isinstance(result, Rejection):
            _rejected(candidate.ref, result, rejected, "")
            if unreadable is not None and result.trusted_sender is not None:
                unreadable.append(
                    Unreadable(candidate.received, result.trusted_sender, result.label)
                )
            continue
        if not _username_matches(result, selection.username):
            log.debug("skip %s: another username", candidate.ref)  # not a fault: just debug
            if rejected is not None:
                rejected["for another username"] += 1
            continue
        if named:
            result = name_folder(provider, result)
        log.info(
            "token mail %s for %s received %s in %s (%d fetched so far)",
            candidate.ref,
            result.username,
            result.received.isoformat(),
            repr(result.folder) if result.folder is not None else "the source",
            fetched,
        )
        yield result


_WARNED: set[Unreadable] = set()  # once per process: `find --wait` and `watch` look again


def warn_unreadable(
    unreadable: Iterable[Unreadable], findings: Sequence[Finding], *, everything: bool = False
) -> int:
    """Warn (one log line each, never a token) about every unreadable token mail that may hold
    a newer token than ``findings``: received after the oldest of them, or any at all with
    ``everything`` (a listing of every token mail) or no finding. Once per process; the
    number warned about."""
    newer_than = None if everything or not findings else min(f.received for f in findings)
    warned = 0
    for mail in unreadable:
        if (newer_than is not None and mail.received <= newer_than) or mail in _WARNED:
            continue
        _WARNED.add(mail)
        log.warning(
            "a security token email from %s received %s yielded no token (%s): a token "
            "shown may not be the newest; rerun with --verbose and report the mail's layout",
            mail.sender,
            f"{mail.received.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC",
            mail.why,
        )
        warned += 1
    return warned


def name_folder(provider: Provider, finding: Finding) -> Finding:
    """The finding with its folder as the user names it (see Provider.describe_folder)."""
    folder, role = provider.describe_folder(finding)
    return replace(finding, folder=folder, folder_role=role)


def name_folders(provider: Provider, findings: Iterable[Finding]) -> list[Finding]:
    """``name_folder`` for each of ``findings``."""
    return [name_folder(provider, f) for f in findings]


def newest_per_username(findings: Iterator[Finding]) -> list[Finding]:
    """Newest finding for each username (None counts as one username), newest first."""
    seen: dict[str | None, Finding] = {}
    for finding in findings:
        key = finding.username.casefold() if finding.username else None
        seen.setdefault(key, finding)
    return list(seen.values())


def merge_copies(findings: Iterable[Finding], limit: int | None = None) -> list[Finding]:
    """One finding per mail, newest first: copies of it (same Message-ID and token, e.g. in two
    folders) are folded into ``also_in``; a copy outside trash and junk is the one shown.

    With ``limit``, reading stops at the ``limit``-th distinct mail (so copies found later
    are not listed).
    """
    out: list[Finding] = []
    index: dict[tuple[str, str], int] = {}
    for finding in findings:
        key = (finding.message_id or "", finding.token)
        at = index.get(key) if finding.message_id else None
        if at is None:
            if finding.message_id:
                index[key] = len(out)
            out.append(finding)
            if limit is not None and len(out) >= limit:
                break  # stop early: later copies of these are not looked for
            continue
        first = out[at]
        if first.folder_role is not None and finding.folder_role is None:
            first, finding = replace(finding, also_in=first.also_in), first
        extra = finding.folder
        if extra is not None and extra != first.folder and extra not in first.also_in:
            first = replace(first, also_in=(*first.also_in, extra))
        out[at] = first
    return out

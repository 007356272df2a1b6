"""Batched body reads on Gmail and Graph: round trips when the wanted username's token mail
sits behind other usernames' ones, the common case, and partial failures inside a batch.

Real google-api-python-client and MSAL + requests talk to the emulators in tests/emulators;
a batch request counts as one round trip. "Unbatched" is the same provider with read-ahead
off (``BodyPrefetch(1)``: every body alone, as before batching).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from emulators.gmail_emulator import GmailEmulator
from emulators.ms_emulators import IdentityEmulator, LoopbackCA
from emulators.ms_graph_emulator import GraphEmulator
from inbox_finder.providers.gmail.provider import GmailProvider
from inbox_finder.providers.outlook.provider import OutlookProvider

from inbox_finder import find_token
from inbox_finder.boundary.prefetch import BUDGET, BodyPrefetch
from inbox_finder.boundary.provider import Provider, Query, SourceOptions
from inbox_finder.engine import Selection, iter_findings
from inbox_finder.errors import MessageVanishedError
from inbox_finder.net.retry import RetryPolicy
from inbox_finder.testing.mail import new_token, other_mail, token_mail

UPN = "dana@example.com"
APP_ID = "11111111-2222-3333-4444-555555555555"
SECRET_ENV = "BATCH_TEST_APP_SECRET"
SECRET = "batch~test.secret-value_0123456789"
T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
DOMAINS = ("salesforce.com",)


def behind_mailbox(sandboxes: int = 6) -> tuple[list[tuple[bytes, datetime]], str]:
    """Dana's token mail, then ``sandboxes`` newer token mails for sandbox usernames and some
    ordinary mail on top (oldest first); and Dana's token."""
    dana = new_token()
    mail = [(other_mail(0, when=T0 - timedelta(hours=2)), T0 - timedelta(hours=2))]
    mail.append((token_mail(dana, UPN, T0), T0))
    for n in range(1, sandboxes + 1):
        when = T0 + timedelta(minutes=n)
        mail.append((token_mail(new_token(), f"{UPN}.sbx{n}", when), when))
    mail.append((other_mail(1, when=T0 + timedelta(hours=1)), T0 + timedelta(hours=1)))
    return mail, dana


class Pauses:
    """A retry sleep that records instead of sleeping."""

    def __init__(self) -> None:
        self.seen: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.seen.append(seconds)


def fast_retry(pauses: Pauses) -> RetryPolicy:
    return RetryPolicy(max_attempts=5, max_total=60.0, base_delay=0.01, sleep=pauses)


def unbatched(provider: Provider) -> Provider:
    provider._prefetch = BodyPrefetch(1)  # type: ignore[attr-defined]
    return provider


def findings(provider: Provider) -> list[tuple[str, str | None, datetime, str | None]]:
    return [(f.token, f.username, f.received, f.ref) for f in iter_findings(provider)]


# --- Gmail --------------------------------------------------------------------------------------


class Gmail:
    def __init__(self, emu: GmailEmulator, tmp: Path) -> None:
        self.emu, self.tmp, self.n = emu, tmp, 0

    def provider(self) -> GmailProvider:
        self.n += 1
        creds = self.tmp / f"gmail-{self.n}.json"
        expiry = datetime.now(UTC) + timedelta(hours=1)
        info = self.emu.authorized_user_info(token=self.emu.issue_access_token(), expiry=expiry)
        creds.write_text(json.dumps(info))
        creds.chmod(0o600)
        profile = {"credentials": str(creds), "api_endpoint": self.emu.url}
        profile["token_uri"] = self.emu.token_uri
        return GmailProvider.from_url("gmail://me", SourceOptions(timeout=10, profile=profile))

    def trips(self, since: int) -> int:
        return sum(1 for r in self.emu.round_trips()[since:] if r.path != "/token")


@pytest.fixture
def gmail(tmp_path: Path) -> Iterator[Gmail]:
    emu = GmailEmulator().start()
    try:
        yield Gmail(emu, tmp_path)
    finally:
        emu.close()


def raw_parts(emu: GmailEmulator) -> list[tuple[str, int]]:
    return [
        (r.path.rsplit("/", 1)[-1], r.status)
        for r in emu.requests
        if r.in_batch and r.query.get("format") == ["raw"]
    ]


def test_gmail_behind_other_usernames_takes_four_round_trips(gmail: Gmail) -> None:
    mail, dana = behind_mailbox()
    for raw, when in mail:
        gmail.emu.add_message(raw, when)
    before = len(gmail.emu.round_trips())
    with gmail.provider() as provider:
        assert find_token(provider, username=UPN).token == dana
    # list, metadata batch, the newest body alone, one batch with the next six bodies
    assert gmail.trips(before) == 4
    assert len(raw_parts(gmail.emu)) == 6
    with gmail.provider() as one, gmail.provider() as other:
        assert findings(one) == findings(unbatched(other))


def test_gmail_common_case_reads_one_body_alone(gmail: Gmail) -> None:
    dana = new_token()
    gmail.emu.add_message(token_mail(new_token(), UPN, T0 - timedelta(days=1)), T0 - timedelta(1))
    gmail.emu.add_message(token_mail(dana, UPN, T0), T0)
    gmail.emu.add_message(other_mail(1, when=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    before = len(gmail.emu.round_trips())
    with gmail.provider() as provider:
        assert find_token(provider).token == dana
    assert gmail.trips(before) == 3  # list, metadata batch, one raw get
    assert raw_parts(gmail.emu) == []  # nothing read ahead


def test_gmail_throttled_parts_retried_after_the_largest_retry_after(gmail: Gmail) -> None:
    mail, dana = behind_mailbox()
    ids = [gmail.emu.add_message(raw, when) for raw, when in mail]
    pauses = Pauses()
    with gmail.provider() as provider:
        provider.retry = fast_retry(pauses)
        candidates = list(provider.search(Query(sender_domains=DOMAINS)))
        assert [c.ref for c in candidates] == ids[1:-1][::-1]
        late, later = candidates[2].ref, candidates[4].ref
        gmail.emu.fail_next(1, 429, retry_after="1", prefix=f"/gmail/v1/users/me/messages/{late}")
        gmail.emu.fail_next(1, 503, retry_after="3", prefix=f"/gmail/v1/users/me/messages/{later}")
        bodies = [provider.fetch(c) for c in candidates]
    with gmail.provider() as plain:
        unbatched(plain)
        list(plain.search(Query(sender_domains=DOMAINS)))
        assert bodies == [plain.fetch(c) for c in candidates]
    parts = raw_parts(gmail.emu)[:8]
    assert (late, 429) in parts and (later, 503) in parts and (late, 200) in parts
    assert pauses.seen and pauses.seen[0] >= 3.0  # the larger of the two Retry-After values
    assert dana.encode() in bodies[-1]


def test_gmail_vanished_message_inside_a_batch_is_skipped(gmail: Gmail) -> None:
    mail, dana = behind_mailbox()
    for raw, when in mail:
        gmail.emu.add_message(raw, when)
    with gmail.provider() as provider:
        candidates = list(provider.search(Query(sender_domains=DOMAINS)))
        gone = candidates[3].ref
        gmail.emu.delete_message(gone)
        provider.fetch(candidates[0])
        provider.fetch(candidates[1])  # the batch: candidates 1..6, one of them gone
        with pytest.raises(MessageVanishedError, match=gone):
            provider.fetch(candidates[3])
    assert (gone, 404) in raw_parts(gmail.emu)
    with gmail.provider() as provider:
        found = list(iter_findings(provider, Selection(username=UPN)))
    assert [f.token for f in found] == [dana]


def test_gmail_large_mail_is_not_read_ahead(gmail: Gmail) -> None:
    mail, dana = behind_mailbox()
    raw, when = mail[4]  # a sandbox token mail in the middle, made larger than the budget
    mail[4] = (raw + b"\r\n" + b"padding " * (BUDGET // 8 + 1) + b"\r\n", when)
    ids = [gmail.emu.add_message(raw, when) for raw, when in mail]
    before = len(gmail.emu.round_trips())
    with gmail.provider() as provider:
        assert find_token(provider, username=UPN).token == dana
    big = ids[4]
    assert big not in [i for i, _ in raw_parts(gmail.emu)]
    singles = [r.path for r in gmail.emu.round_trips()[before:] if r.query.get("format") == ["raw"]]
    assert len(singles) == 2 and singles[1].endswith(big)  # the newest body, then the large one
    assert gmail.trips(before) == 5


# --- Graph --------------------------------------------------------------------------------------


class Graph:
    def __init__(self, ca: LoopbackCA) -> None:
        self.ca = ca
        self.idp = IdentityEmulator(ca, pending_polls=0)
        self.idp.register_app(APP_ID, secret=SECRET)
        self.emu = GraphEmulator(self.idp, ca)
        self.emu.add_mailbox(UPN)

    def close(self) -> None:
        self.emu.close()
        self.idp.close()

    def provider(self, **extra: Any) -> OutlookProvider:
        profile: dict[str, Any] = {
            "client_id": APP_ID,
            "tenant": self.idp.tenant_id,
            "authority": self.idp.authority(),
            "client_secret_env": SECRET_ENV,
            "graph_endpoint": self.emu.endpoint,
            **extra,
        }
        options = SourceOptions(ca_file=str(self.ca.ca_file), timeout=10, profile=profile)
        return OutlookProvider.from_url(f"outlook://{UPN}", options)

    def kinds(self, since: int) -> list[str]:
        return [r.path.rsplit("/", 1)[-1] for r in self.emu.requests[since:]]


@pytest.fixture
def graph(ca: LoopbackCA, monkeypatch: pytest.MonkeyPatch) -> Iterator[Graph]:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    g = Graph(ca)
    try:
        yield g
    finally:
        g.close()


def body_parts(emu: GraphEmulator) -> list[tuple[str, int]]:
    return [
        (p.split("/messages/")[1].removesuffix("/$value"), s)
        for b in emu.batches
        for p, s in b
        if p.endswith("/$value")
    ]


def test_graph_behind_other_usernames_takes_four_round_trips(graph: Graph) -> None:
    mail, dana = behind_mailbox()
    for raw, when in mail:
        graph.emu.add_message(UPN, raw, when)
    with graph.provider() as provider:
        assert find_token(provider, username=UPN).token == dana
    # list, the newest body alone, one $batch with the next six bodies, one $batch naming
    # the finding's folder
    assert graph.kinds(0) == ["messages", "$value", "$batch", "$batch"]
    assert len(body_parts(graph.emu)) == 6
    with graph.provider() as one, graph.provider() as other:
        assert findings(one) == findings(unbatched(other))


def test_graph_common_case_reads_one_body_alone(graph: Graph) -> None:
    dana = new_token()
    graph.emu.add_message(UPN, token_mail(new_token(), UPN, T0 - timedelta(1)), T0 - timedelta(1))
    graph.emu.add_message(UPN, token_mail(dana, UPN, T0), T0)
    graph.emu.add_message(UPN, other_mail(1, when=T0 + timedelta(hours=1)), T0 + timedelta(hours=1))
    with graph.provider() as provider:
        assert find_token(provider).token == dana
    bodies = [k for k in graph.kinds(0) if k != "$batch"]
    assert bodies == ["messages", "$value"] and body_parts(graph.emu) == []


def test_graph_throttled_parts_retried_after_the_largest_retry_after(graph: Graph) -> None:
    mail, dana = behind_mailbox()
    ids = [graph.emu.add_message(UPN, raw, when) for raw, when in mail]
    pauses = Pauses()
    with graph.provider() as provider:
        provider.retry = fast_retry(pauses)
        candidates = list(provider.search(Query(sender_domains=DOMAINS)))
        assert [c.ref for c in candidates] == ids[1:-1][::-1]
        late, later = candidates[2].ref, candidates[4].ref
        graph.emu.inject(429, retry_after="1", path_part=late)
        graph.emu.inject(503, retry_after="3", path_part=later)
        bodies = [provider.fetch(c) for c in candidates]
    with graph.provider() as plain:
        unbatched(plain)
        list(plain.search(Query(sender_domains=DOMAINS)))
        assert bodies == [plain.fetch(c) for c in candidates]
    first, second = graph.emu.batches[0], graph.emu.batches[1]
    assert len(first) == 6 and sorted(s for _, s in first) == [200] * 4 + [429, 503]
    assert sorted(p.split("/")[-2] for p, _ in second) == sorted([late, later])
    assert pauses.seen and pauses.seen[0] >= 3.0  # the larger of the two Retry-After values
    assert dana.encode() in bodies[-1]


def test_graph_vanished_message_inside_a_batch_is_skipped(graph: Graph) -> None:
    mail, dana = behind_mailbox()
    for raw, when in mail:
        graph.emu.add_message(UPN, raw, when)
    with graph.provider() as provider:
        candidates = list(provider.search(Query(sender_domains=DOMAINS)))
        gone = candidates[3].ref
        graph.emu.remove_message(UPN, gone)
        provider.fetch(candidates[0])
        provider.fetch(candidates[1])
        with pytest.raises(MessageVanishedError, match="vanished"):
            provider.fetch(candidates[3])
    assert (gone, 404) in body_parts(graph.emu)
    with graph.provider() as provider:
        found = list(iter_findings(provider, Selection(username=UPN)))
    assert [f.token for f in found] == [dana]

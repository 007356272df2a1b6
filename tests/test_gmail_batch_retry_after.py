"""Throttled parts of one Gmail batch: the retry waits as long as the most demanding part asks.

Each part of a batch answer carries its own status and Retry-After. The provider retries the
throttled parts together after one pause, so that pause must honour the largest Retry-After
among them (retrying earlier only earns another 429), whichever part carries it.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulators.gmail_emulator import GmailEmulator
from inbox_finder.providers.gmail.provider import GmailProvider, RetryPolicy
from loopback import FakeClock
from mailboxes import fresh_gmail_creds

from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.testing.mail import new_token, token_mail

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)
PART = "/gmail/v1/users/me/messages/"


@pytest.fixture
def emu() -> Iterator[GmailEmulator]:
    with GmailEmulator() as emulator:
        yield emulator


@pytest.fixture
def ids(emu: GmailEmulator) -> list[str]:
    """Six token mails, oldest first."""
    return [
        emu.add_message(token_mail(new_token(), when=T0), T0 + timedelta(minutes=i))
        for i in range(6)
    ]


def provider(emu: GmailEmulator, tmp_path: Path, clock: FakeClock) -> GmailProvider:
    profile = {
        "credentials": str(fresh_gmail_creds(emu, tmp_path / "gmail.json")),
        "api_endpoint": emu.url,
        "token_uri": emu.token_uri,
    }
    retry = RetryPolicy(
        max_total=60.0,
        base_delay=0.5,
        max_delay=4.0,
        sleep=clock.sleep,
        clock=clock.clock,
        random=lambda: 0.5,
    )
    return GmailProvider.from_url(
        "gmail://me", SourceOptions(timeout=5.0, profile=profile), retry=retry
    )


def throttle(emu: GmailEmulator, msg_id: str, retry_after: str | None) -> None:
    """Answer the batch part that reads ``msg_id`` with 429 (and Retry-After) once."""
    emu.fail_next(1, 429, retry_after=retry_after, prefix=PART + msg_id)


@pytest.mark.parametrize(
    "delays",
    [
        {1: "2", 4: "9"},  # the largest last
        {1: "9", 4: "2"},  # the largest first
        {0: "3", 2: "11", 5: "5"},  # the largest in the middle
        {1: None, 3: "7"},  # one part without Retry-After: its backoff is shorter
    ],
    ids=["largest-last", "largest-first", "largest-middle", "one-without"],
)
def test_the_largest_retry_after_of_the_throttled_parts_is_honoured(
    emu: GmailEmulator,
    ids: list[str],
    tmp_path: Path,
    delays: dict[int, str | None],
) -> None:
    for index, retry_after in delays.items():
        throttle(emu, ids[index], retry_after)
    clock = FakeClock()
    with provider(emu, tmp_path, clock) as gmail:
        refs = [c.ref for c in gmail.search(Query())]
    assert refs == list(reversed(ids))  # every message came through, newest first
    largest = max(float(v) for v in delays.values() if v is not None)
    assert clock.sleeps == [largest]  # one pause, as long as the most demanding part asked
    assert len(emu.round_trips("/batch/")) == 2
    retried = [r.path.rsplit("/", 1)[1] for r in emu.requests if r.in_batch][len(ids) :]
    assert sorted(retried) == sorted(ids[i] for i in delays)  # only the throttled parts again

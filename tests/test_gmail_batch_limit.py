"""Gmail batches are kept to 50 calls: the emulator rate-limits the calls after the 50th.

Google's batch guide allows 100 calls per batch but warns that more than 50 are likely to be
rate limited; the emulator answers every call past the 50th of one batch with 429
``rateLimitExceeded``. The provider's batches must never meet that limit, however many
candidate mails a search has.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulators.gmail_emulator import GmailEmulator
from inbox_finder.providers.gmail import batch
from inbox_finder.providers.gmail.provider import GmailProvider, RetryPolicy
from mailboxes import fresh_gmail_creds

from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.testing.mail import new_token, token_mail

T0 = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)


@pytest.fixture
def emu() -> Iterator[GmailEmulator]:
    with GmailEmulator() as emulator:
        yield emulator


def token_mails(emu: GmailEmulator, count: int) -> list[str]:
    """``count`` token mails a minute apart, oldest first; their message ids."""
    return [
        emu.add_message(token_mail(new_token(), when=T0), T0 + timedelta(minutes=i))
        for i in range(count)
    ]


def provider(emu: GmailEmulator, tmp_path: Path, retry: RetryPolicy | None = None) -> GmailProvider:
    profile = {
        "credentials": str(fresh_gmail_creds(emu, tmp_path / "gmail.json")),
        "api_endpoint": emu.url,
        "token_uri": emu.token_uri,
    }
    options = SourceOptions(timeout=5.0, profile=profile)
    if retry is None:
        return GmailProvider.from_url("gmail://me", options)
    return GmailProvider.from_url("gmail://me", options, retry=retry)


def test_the_emulator_rate_limits_calls_past_the_fiftieth(emu: GmailEmulator) -> None:
    import requests

    boundary = "b0undary"
    token = emu.issue_access_token()
    parts = [
        f"--{boundary}\r\nContent-Type: application/http\r\nContent-ID: <{n}>\r\n\r\n"
        f"GET /gmail/v1/users/me/profile HTTP/1.1\r\nAuthorization: Bearer {token}\r\n\r\n"
        for n in range(60)
    ]
    answer = requests.post(
        f"{emu.url}/batch/gmail/v1",
        data="".join(parts) + f"--{boundary}--\r\n",
        headers={
            "Content-Type": f"multipart/mixed; boundary={boundary}",
            "Authorization": f"Bearer {token}",
        },
        timeout=10,
    )
    statuses = [line.split()[1] for line in answer.text.splitlines() if line.startswith("HTTP/")]
    assert statuses == ["200"] * 50 + ["429"] * 10
    assert emu.throttled_parts == 10
    assert "rateLimitExceeded" in answer.text  # the reason Google gives


def test_a_search_with_many_candidates_never_meets_the_limit(
    emu: GmailEmulator, tmp_path: Path
) -> None:
    ids = token_mails(emu, 130)
    with provider(emu, tmp_path) as gmail:
        refs = [c.ref for c in gmail.search(Query())]
    assert refs == list(reversed(ids))
    assert emu.throttled_parts == 0
    assert emu.batch_rate_limit >= batch.MAX_BATCH  # the provider's own cap keeps below it


def test_throttled_parts_are_retried_until_every_call_is_answered(
    emu: GmailEmulator, tmp_path: Path
) -> None:
    """A stricter service (20 calls per batch): the provider retries the throttled parts."""
    ids = token_mails(emu, 50)
    emu.batch_rate_limit = 20
    sleeps: list[float] = []
    retry = RetryPolicy(
        max_total=60.0, base_delay=0.5, max_delay=4.0, sleep=sleeps.append,
        clock=lambda: sum(sleeps), random=lambda: 0.5,
    )  # fmt: skip
    with provider(emu, tmp_path, retry) as gmail:
        refs = [c.ref for c in gmail.search(Query())]
    assert refs == list(reversed(ids))  # all 50, newest first
    assert emu.throttled_parts == 30 + 10  # 50 asked: 30 throttled, then 10 of those 30
    assert len(sleeps) == 2

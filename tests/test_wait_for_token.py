"""wait_for_token: poll a real (local) mailbox until the token mail arrives, never past its end."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from mailgen import new_token, token_mail

import inbox_finder
from inbox_finder import ConfigError, NotFoundError, wait_for_token
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.boundary.registry import open_provider

START = datetime(2024, 6, 3, 9, 0, tzinfo=UTC)


class FakeTime:
    """A monotonic clock that only ``sleep`` advances; ``on_sleep`` runs after each pause."""

    def __init__(self) -> None:
        self.now = 1000.0
        self.sleeps: list[float] = []
        self.on_sleep: list[object] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds
        if self.on_sleep:
            action = self.on_sleep.pop(0)
            if callable(action):
                action()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    path = tmp_path / "eml"
    path.mkdir()
    return path


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def deliver(folder: Path, token: str, when: datetime, name: str) -> None:
    (folder / f"{name}.eml").write_bytes(token_mail(token, "dana@example.com", when))


def test_the_mail_already_there_returns_without_sleeping(folder: Path) -> None:
    token = new_token()
    deliver(folder, token, START + timedelta(minutes=1), "a")
    fake = FakeTime()
    found = wait_for_token(
        f"eml:{folder}", timeout=60, since=START, clock=fake.clock, sleep=fake.sleep
    )
    assert found.token == token and fake.sleeps == []


def test_returns_once_the_mail_arrives(folder: Path) -> None:
    old, new = new_token(), new_token()
    deliver(folder, old, START - timedelta(days=1), "old")  # before --since: not the answer
    fake = FakeTime()
    fake.on_sleep = [None, lambda: deliver(folder, new, START + timedelta(seconds=40), "new")]
    found = wait_for_token(
        f"eml:{folder}",
        timeout=600,
        interval=15,
        since=START,
        clock=fake.clock,
        sleep=fake.sleep,
    )
    assert found.token == new
    assert fake.sleeps == [15, 15]  # found at the third lookup


def test_never_sleeps_past_the_deadline_and_looks_once_more_at_it(folder: Path) -> None:
    fake = FakeTime()
    lefts: list[float] = []
    with pytest.raises(NotFoundError) as info:
        wait_for_token(
            f"eml:{folder}",
            timeout=timedelta(seconds=10),
            interval=4,
            since=START,
            on_wait=lefts.append,
            clock=fake.clock,
            sleep=fake.sleep,
        )
    assert fake.sleeps == [4, 4, 2]  # the last pause cut to the time left
    assert math.isclose(sum(fake.sleeps), 10)
    assert lefts == [10, 6, 2]  # the countdown callback, before each pause
    assert "no security token email found since" in str(info.value)
    assert "(waited 10s)" in str(info.value)


def test_a_mail_arriving_in_the_last_cut_pause_is_found(folder: Path) -> None:
    token = new_token()
    fake = FakeTime()
    fake.on_sleep = [None, None, lambda: deliver(folder, token, START + timedelta(hours=1), "n")]
    found = wait_for_token(
        f"eml:{folder}", timeout=10, interval=4, since=START, clock=fake.clock, sleep=fake.sleep
    )
    assert found.token == token and fake.sleeps == [4, 4, 2]


def test_since_defaults_to_the_call_so_an_older_token_is_not_the_answer(folder: Path) -> None:
    deliver(folder, new_token(), datetime.now(UTC) - timedelta(minutes=5), "older")
    fake = FakeTime()
    with pytest.raises(NotFoundError):
        wait_for_token(f"eml:{folder}", timeout=0, clock=fake.clock, sleep=fake.sleep)
    assert fake.sleeps == []  # timeout 0: one lookup, no pause


def test_a_provider_instance_and_a_username(folder: Path) -> None:
    token = new_token()
    deliver(folder, token, START + timedelta(minutes=1), "a")
    provider = open_provider(f"eml:{folder}", SourceOptions())
    found = wait_for_token(provider, timeout=1, since=START, username="DANA@example.com")
    assert found.token == token
    with pytest.raises(NotFoundError, match=r"for ops@example\.com"):
        wait_for_token(provider, timeout=0, since=START, username="ops@example.com")


@pytest.mark.parametrize(
    ("timeout", "interval"),
    [(math.nan, 1), (math.inf, 1), (-1, 1), (10, 0), (10, math.nan), (10, -5)],
)
def test_bad_timeout_or_interval_is_a_config_error(
    folder: Path, timeout: float, interval: float
) -> None:
    fake = FakeTime()
    with pytest.raises(ConfigError):
        wait_for_token(
            f"eml:{folder}", timeout=timeout, interval=interval, clock=fake.clock, sleep=fake.sleep
        )
    assert fake.sleeps == []


def test_exported_lazily_like_find_token() -> None:
    assert "wait_for_token" in inbox_finder.__all__
    assert inbox_finder.wait_for_token is wait_for_token

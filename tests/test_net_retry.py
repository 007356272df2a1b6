"""The one retry policy (inbox_finder/net/retry.py): its meaning, profile keys and the loop.

Clock, sleep and random are injected, so the tests neither sleep nor guess: each asserts the
exact pauses and the exact number of attempts a policy allows.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Any

import pytest
from inbox_finder.providers.gmail.api import DEFAULT_RETRY as GMAIL
from inbox_finder.providers.imap.session import DEFAULT_RETRY as IMAP
from inbox_finder.providers.outlook.graph import DEFAULT_RETRY as GRAPH
from loopback import FakeClock

from inbox_finder.errors import AuthError, ConfigError, MailboxError
from inbox_finder.net.retry import Failure, RetryPolicy, run

log = logging.getLogger("test")


class Clock(FakeClock):
    def policy(self, jitter: float = 0.5, **fields: Any) -> RetryPolicy:
        return RetryPolicy(sleep=self.sleep, clock=self.clock, random=lambda: jitter, **fields)


class Flaky:
    """An operation failing ``fails`` times (each ``cost`` seconds of clock), then "done"."""

    def __init__(self, clock: Clock, fails: int, cost: float = 0.0) -> None:
        self.clock, self.fails, self.cost, self.calls = clock, fails, cost, 0

    def __call__(self) -> str:
        self.calls += 1
        self.clock.now += self.cost
        if self.calls <= self.fails:
            raise ConnectionResetError("reset")
        return "done"


def transient(retry_after: float | None = None) -> Callable[[Exception], Failure | None]:
    def classify(exc: Exception) -> Failure | None:
        if isinstance(exc, ConnectionResetError):
            return Failure(MailboxError, "server reset", retryable=True, retry_after=retry_after)
        return None

    return classify


def test_backoff_doubles_with_equal_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, random=lambda: 0.0)
    assert [policy.pause(n) for n in range(1, 6)] == [0.25, 0.5, 1.0, 1.5, 1.5]  # floor: half
    top = dataclasses.replace(policy, random=lambda: 0.999999)
    assert [round(top.pause(n), 3) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.pause(1, retry_after=7.0) == 7.0  # Retry-After wins over a shorter pause
    assert policy.pause(4, retry_after=0.1) == 1.5  # and never shortens one


def test_max_attempts_counts_the_first_try() -> None:
    clock = Clock()
    op = Flaky(clock, fails=10)
    with pytest.raises(MailboxError, match=r"server reset \(gave up after 3 attempts\)") as info:
        run(clock.policy(max_attempts=3), op, transient(), log)
    assert op.calls == 3 and clock.sleeps == [0.375, 0.75]
    assert isinstance(info.value.__cause__, ConnectionResetError)


def test_one_attempt_raises_the_failure_as_it_is() -> None:
    clock = Clock()
    with pytest.raises(MailboxError, match=r"^server reset$"):
        run(clock.policy(max_attempts=1), Flaky(clock, 1), transient(), log)
    assert clock.sleeps == []


def test_success_after_failures_returns_the_result() -> None:
    clock = Clock()
    op = Flaky(clock, fails=2)
    assert run(clock.policy(max_attempts=3), op, transient(), log) == "done"
    assert op.calls == 3


def test_the_budget_counts_attempts_and_pauses() -> None:
    clock = Clock()
    op = Flaky(clock, fails=100, cost=1.0)  # each attempt takes 1 s
    policy = clock.policy(max_attempts=None, max_total=5.0, base_delay=0.5, max_delay=16.0)
    with pytest.raises(MailboxError, match="gave up after 3 attempts"):
        run(policy, op, transient(), log)
    # 1 s, pause 0.375, 1 s, pause 0.75, 1 s (4.125 s): a 1.5 s pause would pass 5 s.
    assert op.calls == 3 and clock.sleeps == [0.375, 0.75]


def test_retry_after_beyond_the_budget_gives_up_at_once() -> None:
    clock = Clock()
    op = Flaky(clock, fails=100)
    policy = clock.policy(max_attempts=5, max_total=60.0)
    with pytest.raises(MailboxError) as info:
        run(policy, op, transient(retry_after=25.0), log)
    assert clock.sleeps == [25.0, 25.0] and op.calls == 3  # a third wait would end at 75 s
    assert "asked to wait 25s with 10.0s left" in str(info.value)


def test_not_retryable_and_unclassified_errors() -> None:
    clock = Clock()

    def refused() -> None:
        raise ConnectionRefusedError("refused")

    def auth(exc: Exception) -> Failure | None:
        return Failure(AuthError, "rejected")

    with pytest.raises(AuthError, match=r"^rejected$"):
        run(clock.policy(), refused, auth, log)
    with pytest.raises(ConnectionRefusedError):  # classify says None: propagates unchanged
        run(clock.policy(), refused, lambda exc: None, log)
    assert clock.sleeps == []


def test_a_failure_may_name_its_own_cause() -> None:
    clock = Clock()
    root = OSError("the socket error behind it")

    def op() -> None:
        raise MailboxError("translated")

    def classify(exc: Exception) -> Failure:
        return Failure(MailboxError, str(exc), retryable=True, cause=root)

    with pytest.raises(MailboxError) as info:
        run(clock.policy(max_attempts=2), op, classify, log)
    assert info.value.__cause__ is root


def test_a_policy_needs_a_bound() -> None:
    with pytest.raises(ValueError, match="max_attempts or max_total"):
        RetryPolicy(max_attempts=None, max_total=None)
    with pytest.raises(ValueError, match="at least 1"):
        RetryPolicy(max_attempts=0)


def test_profile_keys_mean_the_same_for_every_provider() -> None:
    keys = {"retries": 4, "retry_backoff": 0.2, "retry_max_seconds": 9}
    for default in (IMAP, GMAIL, GRAPH):
        policy = RetryPolicy.from_profile(keys, default)
        assert (policy.max_attempts, policy.base_delay, policy.max_total) == (5, 0.2, 9.0)
        assert policy.max_delay == default.max_delay
        assert RetryPolicy.from_profile({}, default) == default


def test_provider_defaults_keep_their_documented_meaning() -> None:
    assert (IMAP.max_attempts, IMAP.max_total, IMAP.base_delay) == (3, None, 0.5)  # retries 2
    assert (GMAIL.max_attempts, GMAIL.max_total) == (None, 60.0)  # retry_max_seconds 60
    assert (GRAPH.max_attempts, GRAPH.max_total, GRAPH.base_delay) == (5, 60.0, 1.0)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("retries", -1),
        ("retries", 11),
        ("retries", 1.5),
        ("retries", True),
        ("retries", "3"),
        ("retry_backoff", -0.1),
        ("retry_backoff", 61),
        ("retry_backoff", "1s"),
        ("retry_max_seconds", -1),
        ("retry_max_seconds", float("nan")),
        ("retry_max_seconds", False),
    ],
)
def test_bad_profile_values(key: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"profile key {key}"):
        RetryPolicy.from_profile({key: value}, GMAIL)

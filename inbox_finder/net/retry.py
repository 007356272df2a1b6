"""The one retry policy of every network client: IMAP, Gmail, Graph and the OAuth token endpoints.

What a policy means, for every provider alike:

- an operation (one IMAP command group, one HTTP request) is tried at most ``max_attempts``
  times (``None``: no count limit);
- no retry starts once ``max_total`` seconds have passed since the first try began, counting
  the attempts and the pauses between them (``None``: no time limit). An attempt that has
  started is not cut short by the budget: each network exchange has its own total deadline
  (the source timeout, see ``inbox_finder.net.deadline``);
- before retry n the pause is ``base_delay * 2**(n-1)``, at most ``max_delay``, times a random
  factor in [0.5, 1) ("equal jitter": clients that failed together spread out, yet each waits at
  least half the backoff);
- a server's Retry-After replaces a shorter pause; when it asks for longer than the budget has
  left, the operation gives up at once instead of retrying early or sleeping past the budget.

Profile keys (``RetryPolicy.from_profile``): ``retries`` (retries after the first try, so
``max_attempts = retries + 1``), ``retry_backoff`` (``base_delay``), ``retry_max_seconds``
(``max_total``). ``clock``, ``sleep`` and ``random`` are injectable so tests neither sleep nor
guess. ``run`` is the loop every provider uses; ``Attempts`` is its state for callers that
collect failures themselves (a Gmail metadata batch).
"""

from __future__ import annotations

import logging
import random as _random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from inbox_finder.errors import ConfigError, InboxFinderError

T = TypeVar("T")

MAX_RETRIES = 10
MAX_BACKOFF = 60.0


@dataclass(frozen=True)
class Failure:
    """A classified failure: the error to raise, and whether waiting may help."""

    error: type[InboxFinderError]
    message: str
    retryable: bool = False
    retry_after: float | None = None
    status: int | None = None
    # What the raised error is chained to, when not the exception that was classified (IMAP
    # classifies its own MailboxError; the socket or protocol error behind it is the cause).
    cause: BaseException | None = field(default=None, compare=False)


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded, jittered exponential backoff (see the module docstring for the meaning)."""

    max_attempts: int | None = 3
    max_total: float | None = None
    base_delay: float = 0.5
    max_delay: float = 16.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False, compare=False)
    clock: Callable[[], float] = field(default=time.monotonic, repr=False, compare=False)
    random: Callable[[], float] = field(default=_random.random, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.max_attempts is None and self.max_total is None:
            raise ValueError("a retry policy needs max_attempts or max_total (or both)")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts counts the first try: at least 1")

    @classmethod
    def from_profile(cls, profile: Mapping[str, Any], default: RetryPolicy) -> RetryPolicy:
        """``default`` with the profile's ``retries``, ``retry_backoff``, ``retry_max_seconds``."""
        changes: dict[str, Any] = {}
        retries = profile.get("retries")
        if retries is not None:
            if isinstance(retries, bool) or not isinstance(retries, int):
                raise ConfigError(f"profile key retries must be a whole number 0-{MAX_RETRIES}")
            if not 0 <= retries <= MAX_RETRIES:
                raise ConfigError(f"profile key retries must be a whole number 0-{MAX_RETRIES}")
            changes["max_attempts"] = retries + 1
        backoff = _seconds(profile, "retry_backoff", MAX_BACKOFF)
        if backoff is not None:
            changes["base_delay"] = backoff
        budget = _seconds(profile, "retry_max_seconds", None)
        if budget is not None:
            changes["max_total"] = budget
        return replace(default, **changes)

    def pause(self, retry: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (1-based); never below Retry-After."""
        backoff = min(self.max_delay, self.base_delay * 2.0 ** (retry - 1))
        backoff *= 0.5 + self.random() / 2  # equal jitter: spreads clients, keeps a floor
        return max(backoff, retry_after or 0.0)

    def start(self) -> Attempts:
        """The attempt counter and budget of one operation, starting now."""
        return Attempts(self)


def _seconds(profile: Mapping[str, Any], key: str, most: float | None) -> float | None:
    value = profile.get(key)
    if value is None:
        return None
    bounds = f"0-{most:g} seconds" if most is not None else "a non-negative number of seconds"
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"profile key {key} must be {bounds}")
    if value != value or value < 0 or (most is not None and value > most):  # NaN included
        raise ConfigError(f"profile key {key} must be {bounds}")
    return float(value)


class Attempts:
    """Attempts of one operation under a policy: which one this is, and whether to go on."""

    def __init__(self, policy: RetryPolicy) -> None:
        self.policy = policy
        self.number = 1
        self._started = policy.clock()

    def _stop_reason(self, pause: float, retry_after: float | None) -> str | None:
        """Why no retry follows (a message suffix), or None to retry after ``pause``."""
        policy = self.policy
        if policy.max_attempts is not None and self.number >= policy.max_attempts:
            return f"gave up after {self.number} attempts" if self.number > 1 else ""
        if policy.max_total is None:
            return None
        left = self._started + policy.max_total - policy.clock()
        if pause <= left:
            return None
        done = f"gave up after {self.number} attempts"
        if retry_after is not None and retry_after >= pause:
            return f"{done}; asked to wait {retry_after:g}s with {max(left, 0.0):.1f}s left"
        return done

    def retry_or_raise(
        self, failure: Failure, cause: BaseException | None, log: logging.Logger
    ) -> None:
        """Sleep before the next attempt if ``failure`` may pass and the policy allows another;
        otherwise raise its error (saying why no more attempts were made)."""
        cause = failure.cause or cause
        if not failure.retryable:
            raise failure.error(failure.message) from cause
        pause = self.policy.pause(self.number, failure.retry_after)
        reason = self._stop_reason(pause, failure.retry_after)
        if reason is not None:
            message = f"{failure.message} ({reason})" if reason else failure.message
            raise failure.error(message) from cause
        log.info("%s; retry %d in %.2fs", failure.message, self.number, pause)
        self.policy.sleep(pause)
        self.number += 1


def run(
    policy: RetryPolicy,
    op: Callable[[], T],
    classify: Callable[[Exception], Failure | None],
    log: logging.Logger,
) -> T:
    """``op()`` retried under ``policy``: ``classify`` maps each exception to a Failure, or to
    None to let it propagate unchanged (e.g. an error already in the inbox_finder tree)."""
    attempts = policy.start()
    while True:
        try:
            return op()
        except Exception as exc:
            failure = classify(exc)
            if failure is None:
                raise
            cause: BaseException = exc  # ``exc`` is unbound once the except block ends
        attempts.retry_or_raise(failure, cause, log)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a Retry-After header: delta-seconds or an HTTP date (RFC 9110)."""
    if not value or not value.strip():
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        pass
    else:
        return max(0.0, seconds) if seconds == seconds else None  # NaN is no answer
    try:
        from email.utils import parsedate_to_datetime  # lazy: email.utils costs start-up

        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())

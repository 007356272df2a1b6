"""Click options shared by every command that opens a SOURCE or selects findings."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def source_options(func: F) -> F:
    """Options every command that opens a SOURCE takes."""
    func = click.option(
        "--ca-file",
        type=click.Path(exists=True, dir_okay=False),
        help="Extra CA certificate (PEM) to trust for TLS, e.g. a private mail server's CA.",
    )(func)
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0.1),
        default=None,
        metavar="SECONDS",
        help="Network connect/read timeout in seconds (default 30).",
    )(func)


def trust_options(func: F) -> F:
    """Options that tighten the trust policy."""
    return click.option(
        "--verify-dkim",
        is_flag=True,
        help="Also require a verifying DKIM signature aligned with the From domain "
        "(needs the dkim extra; looks up keys in DNS). Config: [trust] verify_dkim = true.",
    )(func)


def selection_options(func: F) -> F:
    """Options every command that selects findings takes."""
    func = click.option(
        "--username",
        "-u",
        metavar="USERNAME",
        help="Only tokens for this Salesforce username (e.g. dana@example.com.uat).",
    )(func)
    return click.option(
        "--since",
        metavar="WHEN",
        help="Only mail received since WHEN: an ISO date/time (2024-05-01, "
        "2024-05-01T09:00+02:00; naive = local time) or an age (90m, 12h, 7d, 2w).",
    )(func)

"""The append round of ``bench_local.py``: mail appended to an indexed copy of a benchmark mbox.

The copy lives next to the fixtures (``$INBOX_FINDER_BENCH_DIR``) and is deleted afterwards;
each round appends the fixture's last ~1 MiB of mail again, then a new token mail dated after
everything else, so a correct lookup must return that round's token.
"""

from __future__ import annotations

import contextlib
import shutil
from collections.abc import Iterator
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime
from pathlib import Path

from bench.gen_mailbox import END

APPEND_BYTES = 1 << 20  # mail appended before each ``append`` run


def token_mail(token: str, when: datetime) -> bytes:
    """A current-template token mail for dana@example.com with its From_ line."""
    msg = EmailMessage()
    msg["From"] = "Salesforce <support@salesforce.com>"
    msg["To"] = "dana@example.com"
    msg["Subject"] = "Your new Salesforce security token"
    msg["Date"] = format_datetime(when)
    msg["Message-ID"] = f"<{token}@salesforce.com>"
    msg.set_content(
        "We've sent you a new Salesforce security token because you recently changed your\n"
        "password or requested to reset your security token.\n\n"
        f"Username: dana@example.com\nSecurity token (case-sensitive): {token}\n"
    )
    stamp = when.strftime("%a %b %d %H:%M:%S %Y")
    return f"From noreply@salesforce.com {stamp}\n".encode() + msg.as_bytes() + b"\n"


def tail_batch(path: Path) -> bytes:
    """The last ~APPEND_BYTES of ``path``, from a From_ line on: a day or so of mail."""
    with path.open("rb") as fh:
        fh.seek(max(0, path.stat().st_size - APPEND_BYTES))
        data = fh.read()
    return data[data.index(b"\nFrom ") + 1 :]


@contextlib.contextmanager
def work_copy(path: Path, folder: Path) -> Iterator[Path]:
    """A copy of the mbox ``path`` in ``folder`` (a new inode), removed afterwards."""
    work = folder / f"append-work-{path.name}"
    try:
        shutil.copyfile(path, work)
        yield work
    finally:
        work.unlink(missing_ok=True)


def append_rounds(work: Path, batch: bytes, rounds: int) -> Iterator[str]:
    """Append ``batch`` and a new token mail to ``work`` per round; yield that round's token."""
    for n in range(rounds):
        token = f"Appended{n:04d}TokenAbcdefg"[:25]
        with work.open("ab") as fh:
            fh.write(batch + token_mail(token, END + timedelta(days=n + 1)))
        yield token

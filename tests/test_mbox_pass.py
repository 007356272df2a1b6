"""The mbox header index pass on small files: any order, odd From_ lines, chunk sizes, cursors."""

from __future__ import annotations

import os
import random
import tempfile
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from email.utils import format_datetime
from pathlib import Path
from unittest.mock import patch

import pytest
from corpus_util import GoldenCorpus
from hypothesis import given, settings
from hypothesis import strategies as st
from inbox_finder.providers.local import _base as local
from inbox_finder.providers.local import mbox, mbox_cache, mbox_index
from mailboxes import LocalFixtures

from inbox_finder import MailboxError, find_token, find_tokens
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.model import Candidate
from inbox_finder.testing import ProviderContract
from inbox_finder.testing.mail import new_token, other_mail, token_mail


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache folder per test; returns the index folder in it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "inbox-finder" / "mbox-index"


def from_line(when: datetime) -> bytes:
    return f"From MAILER-DAEMON {when.strftime('%a %b %d %H:%M:%S %Y')}\n".encode()


def filler(i: int, when: datetime) -> bytes:
    return (
        b"From: news@example.org\nSubject: digest %d\nDate: " % i
        + format_datetime(when).encode()
        + b"\n\n"
        + b"Nothing to see here.\n" * 90
        + b"\n"
    )


def _append(path: Path, *messages: tuple[datetime, bytes]) -> int:
    data = b"".join(from_line(when) + raw + b"\n" for when, raw in messages)
    with path.open("ab") as fh:
        fh.write(data)
    return len(data)


T0 = datetime(2024, 1, 1, tzinfo=UTC)


@pytest.fixture
def cached_always(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mbox_cache, "MIN_CACHED", 0)


class TestMboxCachedContract(GoldenCorpus, LocalFixtures, ProviderContract):
    """The corpus mbox through a cached index: every file is indexed and cached, whatever
    its size, so each lookup after a contract test's first one reads the saved index."""

    kind = "mbox"
    by_time = True

    @pytest.fixture(autouse=True)
    def _cached(self, cached_always: None) -> None:
        pass


@pytest.mark.parametrize("chunk", [97, 333, 1000, 1024, 4096, 1 << 20])
def test_index_pass_splits_the_same_whatever_the_chunk_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    parts = [b"From MAILER-DAEMON Mon Jan 01 00:00:00 2024\n" + other_mail(0) + b"\n"]
    for i in range(1, 40):
        when = T0 + timedelta(hours=i)
        stamp = when.strftime("%a %b %d %H:%M:%S %Y")
        sender = "x" * 1500 if i % 9 == 0 else "MAILER-DAEMON"  # a From_ line > 1 KiB
        raw = token_mail(f"T{i:024d}", "dana@example.com", when)
        if i % 3 == 0:  # unescaped body lines starting with "From " (no date: no split)
            raw += b"From the desk of the editor\nFrom nobody\n"
        if i % 5 == 0:  # mboxrd-escaped, and a Takeout-style From_ line with an offset
            raw += b">From MAILER-DAEMON Mon Jan 01 00:00:00 2024\n"
            stamp = when.strftime("%a %b %d %H:%M:%S +0000 %Y")
        if i % 7 == 0:
            raw = raw.replace(b"\n", b"\r\n")
        parts.append(f"From {sender} {stamp}\n".encode() + raw + b"\n")
    box = tmp_path / "mixed.mbox"
    box.write_bytes(b"".join(parts))
    with mbox.MboxProvider.from_url(f"mbox:{box}", SourceOptions()) as provider:
        size, when = box.stat().st_size, local.mtime(box)
        reference = mbox_index.build(provider._pread, 0, size, when, ("salesforce.com",))
        monkeypatch.setattr(mbox_index, "CHUNK", chunk)
        index = mbox_index.build(provider._pread, 0, size, when, ("salesforce.com",))
    assert (index.count, len(index.rows) // mbox_index.FIELDS) == (40, 39)
    assert index.rows == reference.rows
    assert [index.row(k)[3] for k in index.newest_first()] == [
        T0 + timedelta(hours=i) for i in range(39, 0, -1)
    ]


def test_takeout_export_in_no_order(tmp_path: Path) -> None:
    tokens = {i: new_token() for i in (30, 120, 299)}
    order = list(range(300))
    random.Random(7).shuffle(order)
    chunks = []
    for n, i in enumerate(order):
        when = T0 + timedelta(hours=i)
        raw = (
            token_mail(tokens[i], "dana@example.com", when) if i in tokens else other_mail(i, when)
        )
        stamp = when.astimezone(timezone(timedelta(hours=2))).strftime("%a %b %d %H:%M:%S %z %Y")
        chunks.append(f"From 17812398987654{n:05d}@xxx {stamp}\n".encode() + raw + b"\n")
    box = tmp_path / "takeout.mbox"
    box.write_bytes(b"".join(chunks))
    found = find_tokens(f"mbox:{box}")
    assert [f.token for f in found] == [tokens[299], tokens[120], tokens[30]]
    assert [f.received for f in found] == [T0 + timedelta(hours=i) for i in (299, 120, 30)]


@pytest.mark.usefixtures("cached_always")
def test_first_from_line_without_a_date(tmp_path: Path, cache: Path) -> None:
    """The first message's time is then bounded by the file's mtime; an append rebuilds."""
    first, later = new_token(), new_token()
    box = tmp_path / "nodate.mbox"
    box.write_bytes(b"From MAILER-DAEMON\n" + token_mail(first, "dana@example.com", T0) + b"\n")
    os.utime(box, (T0.timestamp() + 60, T0.timestamp() + 60))
    found = find_token(f"mbox:{box}")
    assert (found.token, found.received, found.received_source) == (first, T0, "date-header")
    when = T0 + timedelta(days=1)
    _append(box, (when, token_mail(later, "dana@example.com", when)))
    assert [f.token for f in find_tokens(f"mbox:{box}")] == [later, first]


@pytest.mark.parametrize("cached", [False, True])
def test_incremental_scan_of_an_appended_mbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cached: bool
) -> None:
    if cached:
        monkeypatch.setattr(mbox_cache, "MIN_CACHED", 0)
    old, new = new_token(), new_token()
    box = tmp_path / "inbox.mbox"
    box.write_bytes(
        b"".join(
            from_line(T0 + timedelta(hours=i))
            + (
                token_mail(old, "dana@example.com", T0 + timedelta(hours=i))
                if i == 100
                else filler(i, T0 + timedelta(hours=i))
            )
            for i in range(300)
        )
    )
    with mbox.MboxProvider.from_url(f"mbox:{box}", SourceOptions()) as provider:
        cursor = provider.sync_cursor()
        assert len(list(provider.search(Query()))) == 1
    resume = box.stat().st_size
    when = T0 + timedelta(hours=350)
    _append(box, (when, token_mail(new, "dana@example.com", when)))
    with mbox.MboxProvider.from_url(f"mbox:{box}", SourceOptions()) as provider:
        seen = [c.ref for c in provider.search(Query(after_cursor=cursor))]
        everything = [c.received for c in provider.search(Query())]
    assert len(seen) == 1 and int(seen[0].partition(":")[0]) > resume
    assert everything == [when, T0 + timedelta(hours=100)]


def test_search_refuses_to_yield_out_of_order(tmp_path: Path) -> None:
    """The safety net under every local provider: a wrong order cannot reorder results."""
    times = {"a": T0 + timedelta(days=1), "c": T0, "b": T0 + timedelta(days=10)}
    blocks = {ref: token_mail(new_token(), "dana@example.com", when) for ref, when in times.items()}

    class Lying(local.LocalProvider):
        scheme = "test"

        def _entries(self, after_cursor: str | None) -> Iterator[local.Entry]:
            for ref, when in times.items():  # claims to be newest first; b is not
                head = blocks[ref]
                yield local.Entry(ref, when, lambda h=head: h, received=(when, "date-header"))

        def fetch(self, candidate: Candidate) -> bytes:
            return blocks[candidate.ref]

    search = Lying(tmp_path, "test:x").search(Query())
    assert next(search).ref == "a"
    with pytest.raises(MailboxError, match=r"changed while it was read: message b"):
        next(search)


@settings(max_examples=40, deadline=None)
@given(
    hours=st.lists(st.integers(0, 400), min_size=1, max_size=30, unique=True),
    kinds=st.lists(st.sampled_from(["token", "sf", "other"]), min_size=30, max_size=30),
    chunk=st.sampled_from([61, 256, 4096]),
    cached=st.booleans(),
)
def test_any_order_gives_every_token_newest_first(
    hours: list[int], kinds: list[str], chunk: int, cached: bool
) -> None:
    """Any order of messages: every token, newest receive time first, on first and second lookup."""
    parts, want = [], []
    for i, h in enumerate(hours):
        when = T0 + timedelta(hours=h)
        if kinds[i] == "token":
            token = new_token()
            want.append((when, token))
            raw = token_mail(token, "dana@example.com", when)
        else:
            raw = other_mail(i, when, "info@salesforce.com" if kinds[i] == "sf" else "a@b.org")
        parts.append(from_line(when) + raw + b"\n")
    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp) / "x.mbox"
        box.write_bytes(b"".join(parts))
        with (
            patch.dict(os.environ, {"XDG_CACHE_HOME": str(Path(tmp) / "cache")}),
            patch.multiple(mbox_index, CHUNK=chunk),
            patch.multiple(mbox_cache, MIN_CACHED=0 if cached else 1 << 62),
        ):
            for _ in range(2):
                found = find_tokens(f"mbox:{box}")
                assert [(f.received, f.token) for f in found] == sorted(want, reverse=True)

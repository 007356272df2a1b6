"""Local providers (eml, mbox, Maildir) run the shared contract and their own edge cases."""

from __future__ import annotations

import hashlib
import os
import random
import tempfile
import tracemalloc
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from unittest.mock import patch

import pytest
from contract import ProviderContract
from corpus_util import build_eml_dir, build_maildir, build_mbox, load_expected
from hypothesis import given, settings
from hypothesis import strategies as st
from inbox_finder.providers.local import _base as local
from inbox_finder.providers.local import mbox
from mailgen import new_token, other_mail, token_mail

from inbox_finder import ConfigError, MailboxError, find_token, find_tokens
from inbox_finder.boundary.provider import Query, SourceOptions
from inbox_finder.boundary.registry import open_provider
from inbox_finder.model import Candidate


@pytest.fixture(scope="module")
def corpus_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("local")
    return {
        "eml": build_eml_dir(base / "eml"),
        "mbox": build_mbox(base / "corpus.mbox"),
        "maildir": build_maildir(base / "Maildir"),
        "mbox-sorted": _build_sorted_mbox(base / "sorted.mbox"),
    }


def _build_sorted_mbox(target: Path) -> Path:
    """The corpus as an mbox in delivery order (``build_mbox`` keeps the corpus's file order)."""
    entries = sorted(load_expected(), key=lambda e: e.received)
    target.write_bytes(b"".join(_from_line(e.received) + e.raw + b"\n" for e in entries))
    return target


class TestEmlContract(ProviderContract):
    @pytest.fixture
    def source(self, corpus_dirs: dict[str, Path]) -> str:
        return f"eml:{corpus_dirs['eml']}"


class TestMboxContract(ProviderContract):
    @pytest.fixture
    def source(self, corpus_dirs: dict[str, Path]) -> str:
        return f"mbox:{corpus_dirs['mbox']}"


class TestMboxBackwardContract(ProviderContract):
    """The backward walk forced on (small constants), on the corpus in delivery order."""

    @pytest.fixture
    def source(self, corpus_dirs: dict[str, Path], fast: None) -> str:
        return f"mbox:{corpus_dirs['mbox-sorted']}"


class TestMboxBackwardUnorderedContract(ProviderContract):
    """The same on the corpus in its own (not delivery) order: the guard must catch it."""

    @pytest.fixture
    def source(self, corpus_dirs: dict[str, Path], fast: None) -> str:
        return f"mbox:{corpus_dirs['mbox']}"


class TestMaildirContract(ProviderContract):
    @pytest.fixture
    def source(self, corpus_dirs: dict[str, Path]) -> str:
        return f"maildir:{corpus_dirs['maildir']}"


def _tree_digest(root: Path) -> dict[str, tuple[str, float, int]]:
    out = {}
    for path in sorted(root.rglob("*")) if root.is_dir() else [root]:
        if path.is_file():
            st = path.stat()
            out[str(path.relative_to(root) if root.is_dir() else path.name)] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                st.st_mtime,
                st.st_mode,
            )
    return out


@pytest.mark.parametrize("kind", ["eml", "mbox", "maildir"])
def test_lookup_leaves_mailbox_untouched(corpus_dirs: dict[str, Path], kind: str) -> None:
    root = corpus_dirs[kind]
    before = _tree_digest(root)
    names_before = sorted(os.listdir(root / "new")) if kind == "maildir" else None
    find_tokens(f"{kind}:{root}")
    assert _tree_digest(root) == before
    if names_before is not None:  # nothing moved from new/ to cur/
        assert sorted(os.listdir(root / "new")) == names_before


def test_missing_date_uses_received_header(corpus_dirs: dict[str, Path]) -> None:
    entry = next(e for e in load_expected() if "missing_date" in e.file)
    found = find_token(f"eml:{corpus_dirs['eml']}", username=entry.username, since=entry.received)
    by_id = {f.message_id: f for f in find_tokens(f"eml:{corpus_dirs['eml']}")}
    assert by_id[entry.message_id].received_source == "received-header"
    assert by_id[entry.message_id].received == entry.received
    assert found.received >= entry.received


def test_file_time_is_last_resort(tmp_path: Path) -> None:
    entry = next(e for e in load_expected() if "missing_date" in e.file)
    raw = b"\n".join(
        line for line in entry.raw.split(b"\n") if not line.lower().startswith(b"received:")
    )
    folder = tmp_path / "eml"
    folder.mkdir()
    (folder / "m.eml").write_bytes(raw)
    os.utime(folder / "m.eml", (1_600_000_000, 1_600_000_000))
    found = find_token(f"eml:{folder}")
    assert found.received_source == "file-time"
    assert found.received.timestamp() == 1_600_000_000
    assert found.received.tzinfo is not None


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("mbox:/nonexistent/box.mbox", "not found"),
        ("maildir:/nonexistent/Maildir", "not found"),
        ("eml:/nonexistent/dir", "not found"),
        ("mbox:", "needs a path"),
        ("nosuch:thing", "known schemes: eml"),
    ],
)
def test_bad_local_sources_are_config_errors(url: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        open_provider(url)


def test_mbox_that_is_not_an_mbox(tmp_path: Path) -> None:
    bogus = tmp_path / "x.mbox"
    bogus.write_bytes(b"hello world\n")
    with pytest.raises(ConfigError, match="not an mbox"):
        find_tokens(f"mbox:{bogus}")


def test_maildir_without_cur_or_new(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not a Maildir"):
        open_provider(f"maildir:{tmp_path}")


def test_empty_mbox_has_no_token(tmp_path: Path) -> None:
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    assert find_tokens(f"mbox:{empty}") == []


def test_mbox_body_line_starting_with_from_does_not_split(tmp_path: Path) -> None:
    entry = next(e for e in load_expected() if e.file.startswith("01_"))
    raw = entry.raw.replace(b"\n\nWe've sent", b"\n\nFrom the Salesforce team:\n\nWe've sent", 1)
    box = tmp_path / "one.mbox"
    box.write_bytes(b"From MAILER-DAEMON Thu Sep 14 10:03:07 2023\n" + raw + b"\n")
    found = find_tokens(f"mbox:{box}")
    assert [f.token for f in found] == [entry.token]


def test_mbox_path_that_is_a_folder_without_mbox_files(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("not mail\n")
    with pytest.raises(ConfigError, match="no mbox files"):
        open_provider(f"mbox:{tmp_path}")


def _write_maildir(root: Path, messages: list[tuple[datetime, bytes]]) -> Path:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, (when, raw) in enumerate(messages):
        (root / "cur" / f"{int(when.timestamp())}.M{i}P7.host:2,S").write_bytes(raw)
    return root


def test_large_maildir_reads_only_the_newest_headers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2024, 1, 1, tzinfo=UTC)
    messages = [
        (start + timedelta(hours=i), other_mail(i, start + timedelta(hours=i))) for i in range(3000)
    ]
    token = new_token()
    when = start + timedelta(hours=2990, minutes=30)
    messages.append((when, token_mail(token, "dana@example.com", when)))
    root = _write_maildir(tmp_path / "Maildir", messages)
    reads = []
    real = local.header_block
    monkeypatch.setattr(local, "header_block", lambda data: reads.append(1) or real(data))
    assert find_token(f"maildir:{root}").token == token
    # Stops a day of delivery (24 messages here) past the token mail, not 3,000 messages later.
    assert len(reads) < 60


def test_maildir_orders_by_name_time_and_mtime_for_odd_names(tmp_path: Path) -> None:
    tokens = [new_token() for _ in range(3)]
    start = datetime(2024, 1, 1, tzinfo=UTC)
    root = _write_maildir(
        tmp_path / "Maildir",
        # Date headers of "now" are far after delivery: the delivery time is the receive time.
        [(start + timedelta(hours=h), token_mail(tokens[i])) for i, h in enumerate((1, 3))],
    )
    odd = root / "new" / "odd-name-from-an-import"
    odd.write_bytes(token_mail(tokens[2]).replace(b"\nDate:", b"\nX-Date:"))
    mtime = (start + timedelta(hours=2, microseconds=250_000)).timestamp()
    os.utime(odd, (mtime, mtime))
    with open_provider(f"maildir:{root}") as provider:
        got = [
            (c.ref.partition("/")[0], c.received, c.received_source)
            for c in provider.search(Query())
        ]
    assert got == [
        ("cur", start + timedelta(hours=3), "file-time"),
        ("new", start + timedelta(hours=2, microseconds=250_000), "file-time"),
        ("cur", start + timedelta(hours=1), "file-time"),
    ]


def test_mbox_out_of_delivery_order_and_takeout_from_lines(tmp_path: Path) -> None:
    old, new = new_token(), new_token()
    t_old = datetime(2023, 5, 1, 12, tzinfo=UTC)
    t_new = datetime(2024, 5, 1, 12, tzinfo=UTC)
    box = tmp_path / "takeout.mbox"
    box.write_bytes(
        b"From 1781239898765432100@xxx Wed May 01 14:00:00 +0200 2024\n"
        + token_mail(new, "dana@example.com", t_new)
        + b"\nFrom 1781239898765432101@xxx Mon May 01 12:00:00 +0000 2023\n"
        + token_mail(old, "dana@example.com", t_old)
        + b"\n"
    )
    found = find_tokens(f"mbox:{box}")
    assert [(f.token, f.received) for f in found] == [(new, t_new), (old, t_old)]


def test_date_far_after_delivery_is_not_believed(tmp_path: Path) -> None:
    delivered = datetime(2024, 3, 1, tzinfo=UTC)
    raw = token_mail(new_token(), "dana@example.com", datetime(2031, 1, 1, tzinfo=UTC))
    root = _write_maildir(tmp_path / "Maildir", [(delivered, raw)])
    found = find_token(f"maildir:{root}")
    assert (found.received, found.received_source) == (delivered, "file-time")


# --- mbox: the backward walk and its guard against files not in delivery order ----------------

T0 = datetime(2024, 1, 1, tzinfo=UTC)
SLOT = 2000  # every message padded to this many bytes, so offsets are predictable


def _from_line(when: datetime) -> bytes:
    return f"From MAILER-DAEMON {when.strftime('%a %b %d %H:%M:%S %Y')}\n".encode()


def _padded(raw: bytes) -> bytes:
    assert len(raw) < SLOT
    return raw + b" " * (SLOT - len(raw) - 1) + b"\n"


def _hourly(count: int, tokens: dict[int, str]) -> list[tuple[datetime, bytes]]:
    """``count`` messages one hour apart (From_ time = Date), token mails at ``tokens``."""
    out = []
    for i in range(count):
        when = T0 + timedelta(hours=i)
        raw = (
            token_mail(tokens[i], "dana@example.com", when) if i in tokens else other_mail(i, when)
        )
        out.append((when, raw))
    return out


def _write_mbox(path: Path, messages: list[tuple[datetime, bytes]]) -> Path:
    """Messages in file order, each From_ line + padded message + blank line (same length)."""
    path.write_bytes(b"".join(_from_line(when) + _padded(raw) + b"\n" for when, raw in messages))
    return path


def _slot_bytes() -> int:
    return len(_from_line(T0)) + SLOT + 1


@pytest.fixture
def fast(monkeypatch: pytest.MonkeyPatch) -> None:
    """Small constants: every mbox takes the backward walk, with 8 samples and a short lookahead."""
    monkeypatch.setattr(mbox, "EXACT_MAX", 0)
    monkeypatch.setattr(mbox, "CHUNK", 4096)
    monkeypatch.setattr(mbox, "PROBE", 4096)
    monkeypatch.setattr(mbox, "SAMPLES", 8)
    monkeypatch.setattr(mbox, "LOOKAHEAD", 10 * _slot_bytes())


def _candidates(path: Path, after_cursor: str | None = None) -> list[tuple[str, datetime]]:
    with mbox.MboxProvider.from_url(f"mbox:{path}", SourceOptions()) as provider:
        return [(c.ref, c.received) for c in provider.search(Query(after_cursor=after_cursor))]


def _exact(path: Path, after_cursor: str | None = None) -> list[tuple[str, datetime]]:
    with patch.object(mbox, "EXACT_MAX", 1 << 62):
        return _candidates(path, after_cursor)


def _probe_targets(size: int) -> set[int]:
    """Index of the message each sample lands on (the first From_ line after each probe)."""
    slot = _slot_bytes()
    return {-(-(size * k // mbox.SAMPLES) // slot) for k in range(mbox.SAMPLES)}


class _Paths:
    """Records which read path each lookup took."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.exact: list[tuple[int, int]] = []
        self.backward = 0
        real_sorted = mbox.MboxProvider._sorted_entries
        real_backward = mbox.MboxProvider._backward_entries

        def sorted_entries(
            provider: mbox.MboxProvider, lo: int, hi: int, file_time: datetime
        ) -> Iterator[local.Entry]:
            self.exact.append((lo, hi))
            return real_sorted(provider, lo, hi, file_time)

        def backward_entries(
            provider: mbox.MboxProvider,
            lo: int,
            hi: int,
            file_time: datetime,
            sample: list[mbox._Sep],
        ) -> Iterator[local.Entry]:
            self.backward += 1
            return real_backward(provider, lo, hi, file_time, sample)

        monkeypatch.setattr(mbox.MboxProvider, "_sorted_entries", sorted_entries)
        monkeypatch.setattr(mbox.MboxProvider, "_backward_entries", backward_entries)


@pytest.mark.parametrize("chunk", [97, 333, 1000, 1024, 4096, 1 << 20])
def test_backward_walk_splits_like_the_forward_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Same messages, same delivery times, as the exact index, whatever the chunk size."""
    monkeypatch.setattr(mbox, "CHUNK", chunk)
    parts = [b"From MAILER-DAEMON Mon Jan 01 00:00:00 2024\n" + other_mail(0) + b"\n"]
    for i in range(1, 40):
        when = T0 + timedelta(hours=i)
        stamp = when.strftime("%a %b %d %H:%M:%S %Y")
        sender = "x" * 1500 if i % 9 == 0 else "MAILER-DAEMON"  # a From_ line > 1 KiB
        raw = other_mail(i, when)
        if i % 3 == 0:  # unescaped body lines starting with "From " (no date: no split)
            raw += b"From the desk of the editor\nFrom nobody\n"
        if i % 5 == 0:  # mboxrd-escaped, and a Takeout-style From_ line with an offset
            raw += b">From MAILER-DAEMON Mon Jan 01 00:00:00 2024\n"
            stamp = when.strftime("%a %b %d %H:%M:%S +0000 %Y")
        if i % 7 == 0:
            raw = raw.replace(b"\n", b"\r\n")
        parts.append(f"From {sender} {stamp}\n".encode() + raw * (1 + i % 4) + b"\n")
    box = tmp_path / "ordered.mbox"
    box.write_bytes(b"".join(parts))
    size = box.stat().st_size
    with mbox.MboxProvider.from_url(f"mbox:{box}", SourceOptions()) as provider:
        when = local.mtime(box)
        exact = [(e.ref, e.delivered) for e in provider._sorted_entries(0, size, when)]
        walked = [(e.ref, e.delivered) for e in provider._backward_entries(0, size, when, [])]
        middle = int(exact[20][0].partition(":")[2])  # an incremental scan's resume offset
        exact_tail = [(e.ref, e.delivered) for e in provider._sorted_entries(middle, size, when)]
        walked_tail = [
            (e.ref, e.delivered) for e in provider._backward_entries(middle, size, when, [])
        ]
    assert len(exact) == 40 and walked == exact
    assert len(exact_tail) == 20 and walked_tail == exact_tail


@pytest.mark.usefixtures("fast")
def test_large_ordered_mbox_reads_only_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token()
    box = _write_mbox(tmp_path / "big.mbox", _hourly(1500, {1490: token}))
    reads: list[int] = []
    real = mbox.MboxProvider._pread
    monkeypatch.setattr(
        mbox.MboxProvider,
        "_pread",
        lambda self, offset, size: reads.append(size) or real(self, offset, size),
    )
    paths = _Paths(monkeypatch)
    assert find_token(f"mbox:{box}").token == token
    assert paths.backward == 1 and paths.exact == []
    # 8 samples, then the last ~70 messages (10 after the token, 2 days = 48 hourly ones until
    # the frontier passes it, 10 of lookahead), each read twice (From_ walk, header): 320 KB,
    # not the 3 MB file.
    assert sum(reads) < 200 * _slot_bytes() < 0.15 * box.stat().st_size


def test_default_constants_on_a_mbox_above_the_exact_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = new_token()
    filler = _padded(other_mail(0, T0)) * 4  # ~8 KB messages
    count = (mbox.EXACT_MAX // len(filler)) * 3  # ~48 MB
    with (tmp_path / "big.mbox").open("wb") as fh:
        for i in range(count):
            when = T0 + timedelta(minutes=10 * i)
            body = token_mail(token, "ops@example.com", when) if i == count - 30 else filler
            fh.write(_from_line(when) + body + b"\n")
    reads: list[int] = []
    real = mbox.MboxProvider._pread
    monkeypatch.setattr(
        mbox.MboxProvider,
        "_pread",
        lambda self, offset, size: reads.append(size) or real(self, offset, size),
    )
    paths = _Paths(monkeypatch)
    assert find_token(f"mbox:{tmp_path / 'big.mbox'}").token == token
    assert paths.backward == 1 and paths.exact == []
    # 64 samples of 64 KiB, the lookahead and two days of mail: ~13 MB of ~48 MB.
    assert sum(reads) < 16 << 20


@pytest.mark.usefixtures("fast")
def test_backward_walk_memory_does_not_grow_with_the_message_count(tmp_path: Path) -> None:
    def peak(count: int, exact: bool) -> int:
        path = tmp_path / f"{count}.mbox"
        if not path.exists():
            path.write_bytes(
                b"".join(
                    _from_line(T0 + timedelta(minutes=i)) + b"Subject: %d\n\nhi\n\n" % i
                    for i in range(count)
                )
            )
        with (
            patch.object(mbox, "EXACT_MAX", 1 << 62 if exact else 0),
            mbox.MboxProvider.from_url(f"mbox:{path}", SourceOptions()) as provider,
        ):
            tracemalloc.start()
            try:
                assert sum(1 for _ in provider._entries(None)) == count
                return tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()

    # The walk holds the lookahead only (~90 KB here, whatever the count); the exact index
    # holds ~260 bytes per message.
    assert peak(16_000, exact=False) < 1.5 * peak(4_000, exact=False) < 256 * 1024
    assert peak(16_000, exact=True) > 3 * peak(4_000, exact=True) > 1024 * 1024


@pytest.mark.usefixtures("fast")
def test_out_of_order_message_at_a_sampled_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sample lands on it: the whole file is indexed before anything is read."""
    tail, stray = new_token(), new_token()
    messages = _hourly(300, {290: tail})
    size = 300 * _slot_bytes()
    at = sorted(_probe_targets(size))[4]
    late = T0 + timedelta(days=40)
    messages[at] = (late, token_mail(stray, "dana@example.com", late))
    box = _write_mbox(tmp_path / "stray.mbox", messages)
    paths = _Paths(monkeypatch)
    assert find_token(f"mbox:{box}").token == stray
    assert paths.exact == [(0, size)] and paths.backward == 0
    assert _candidates(box) == _exact(box)


@pytest.mark.usefixtures("fast")
def test_out_of_order_message_found_by_the_walk_before_anything_is_yielded(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Between samples, but reached while the tail's candidates still wait for the frontier."""
    tail, stray = new_token(), new_token()
    messages = _hourly(300, {290: tail})
    at = 260
    assert at not in _probe_targets(300 * _slot_bytes())
    late = T0 + timedelta(days=40)
    messages[at] = (late, token_mail(stray, "dana@example.com", late))
    box = _write_mbox(tmp_path / "stray.mbox", messages)
    paths = _Paths(monkeypatch)
    assert find_token(f"mbox:{box}").token == stray
    assert paths.backward == 1 and paths.exact and paths.exact[0][0] == 0
    assert _candidates(box) == _exact(box)


@pytest.mark.usefixtures("fast")
def test_out_of_order_message_deep_between_samples(tmp_path: Path) -> None:
    """The documented limit: a lookup that stops at the end never sees it; one that reads on
    reaches it and refuses to return results out of order."""
    tail, stray = new_token(), new_token()
    messages = _hourly(300, {290: tail})
    at = 100
    assert at not in _probe_targets(300 * _slot_bytes())
    late = T0 + timedelta(days=40)
    messages[at] = (late, token_mail(stray, "dana@example.com", late))
    box = _write_mbox(tmp_path / "stray.mbox", messages)
    assert find_token(f"mbox:{box}").token == tail  # the end of the file, as delivered
    with pytest.raises(MailboxError, match="not in delivery order"):
        find_tokens(f"mbox:{box}")
    with patch.object(mbox, "EXACT_MAX", 1 << 62):  # the exact index believes the From_ date
        assert find_token(f"mbox:{box}").token == stray


@pytest.mark.usefixtures("fast")
def test_out_of_order_message_that_is_no_candidate_changes_nothing(tmp_path: Path) -> None:
    tokens = {50: new_token(), 290: new_token()}
    messages = _hourly(300, tokens)
    late = T0 + timedelta(days=40)
    messages[100] = (late, other_mail(100, late))
    box = _write_mbox(tmp_path / "stray.mbox", messages)
    assert [f.token for f in find_tokens(f"mbox:{box}")] == [tokens[290], tokens[50]]
    assert _candidates(box) == _exact(box)


@pytest.mark.usefixtures("fast")
def test_old_mail_saved_at_the_end_keeps_the_fast_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Messages moved into an mbox keep their old From_ date: fewer than the lookahead holds
    must not lower the frontier."""
    token, old_token = new_token(), new_token()
    messages = _hourly(300, {280: token})
    old = datetime(2019, 5, 1, tzinfo=UTC)
    messages[-5:] = [(old, other_mail(i, old)) for i in range(4)] + [
        (old, token_mail(old_token, "dana@example.com", old))
    ]
    box = _write_mbox(tmp_path / "saved.mbox", messages)
    paths = _Paths(monkeypatch)
    assert find_token(f"mbox:{box}").token == token
    assert paths.backward == 1 and paths.exact == []
    assert [f.token for f in find_tokens(f"mbox:{box}")] == [token, old_token]


@pytest.mark.usefixtures("fast")
def test_old_archive_appended_after_newer_mail(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More than the lookahead, fewer than a sample gap: the samples before it catch it."""
    token, old_token = new_token(), new_token()
    messages = _hourly(300, {250: token})
    old = datetime(2019, 5, 1, tzinfo=UTC)
    for i in range(270, 300):
        when = old + timedelta(hours=i)
        raw = token_mail(old_token, "dana@example.com", when) if i == 295 else other_mail(i, when)
        messages[i] = (when, raw)
    assert not set(range(270, 300)) & _probe_targets(300 * _slot_bytes())
    box = _write_mbox(tmp_path / "appended.mbox", messages)
    paths = _Paths(monkeypatch)
    assert find_token(f"mbox:{box}").token == token
    assert paths.backward == 1 and paths.exact == [(0, 300 * _slot_bytes())]
    assert _candidates(box) == _exact(box)


@pytest.mark.usefixtures("fast")
def test_takeout_export_in_no_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tokens = {i: new_token() for i in (30, 120, 299)}
    messages = _hourly(300, tokens)
    order = list(range(300))
    random.Random(7).shuffle(order)
    chunks = []
    for n, i in enumerate(order):
        when, raw = messages[i]
        stamp = when.astimezone(timezone(timedelta(hours=2))).strftime("%a %b %d %H:%M:%S %z %Y")
        chunks.append(f"From 17812398987654{n:05d}@xxx {stamp}\n".encode() + raw + b"\n")
    box = tmp_path / "takeout.mbox"
    box.write_bytes(b"".join(chunks))
    paths = _Paths(monkeypatch)
    found = find_tokens(f"mbox:{box}")
    assert [f.token for f in found] == [tokens[299], tokens[120], tokens[30]]
    assert [f.received for f in found] == [messages[i][0] for i in (299, 120, 30)]
    assert paths.exact == [(0, box.stat().st_size)] and paths.backward == 0


@pytest.mark.usefixtures("fast")
def test_mbox_whose_first_from_line_has_no_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first message's delivery time is then the file's mtime: later than everything."""
    token, first = new_token(), new_token()
    messages = _hourly(300, {290: token})
    box = _write_mbox(tmp_path / "nodate.mbox", messages[1:])
    raw = b"From MAILER-DAEMON\n" + token_mail(first, "dana@example.com", T0) + b"\n"
    box.write_bytes(raw + box.read_bytes())
    paths = _Paths(monkeypatch)
    found = find_tokens(f"mbox:{box}")
    assert [f.token for f in found] == [token, first]
    assert paths.exact == [(0, box.stat().st_size)] and paths.backward == 0
    assert _candidates(box) == _exact(box)


@pytest.mark.usefixtures("fast")
@pytest.mark.parametrize("exact_max", [0, 1 << 62])
def test_incremental_scan_of_an_appended_mbox(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exact_max: int
) -> None:
    monkeypatch.setattr(mbox, "EXACT_MAX", exact_max)
    old, new = new_token(), new_token()
    messages = _hourly(400, {100: old, 350: new})
    box = _write_mbox(tmp_path / "inbox.mbox", messages[:300])
    with mbox.MboxProvider.from_url(f"mbox:{box}", SourceOptions()) as provider:
        cursor = provider.sync_cursor()
    grown = _write_mbox(tmp_path / "more.mbox", messages[300:]).read_bytes()
    with box.open("ab") as fh:
        fh.write(grown)
    resume = 300 * _slot_bytes()
    seen = _candidates(box, cursor)
    assert seen and all(int(ref.partition(":")[0]) > resume for ref, _ in seen)
    assert seen == _exact(box, cursor)
    assert [f.token for f in find_tokens(f"mbox:{box}")] == [new, old]
    # The first appended message starts exactly at the old size: it is not lost.
    first = _write_mbox(tmp_path / "one.mbox", [(T0, token_mail(new_token()))]).read_bytes()
    with box.open("ab") as fh:
        fh.write(first)
    with mbox.MboxProvider.from_url(f"mbox:{box}", SourceOptions()) as provider:
        cursor = f"mbox:{box.stat().st_ino}:{box.stat().st_size - len(first)}:0"
        refs = [c.ref for c in provider.search(Query(after_cursor=cursor))]
    assert refs == [f"{box.stat().st_size - len(first) + len(_from_line(T0))}:{box.stat().st_size}"]


def test_search_refuses_to_yield_out_of_order(tmp_path: Path) -> None:
    """The safety net under every local provider: a wrong frontier cannot reorder results."""
    newer, older = T0 + timedelta(days=10), T0
    blocks = {
        "a": token_mail(new_token(), "dana@example.com", older),
        "b": token_mail(new_token(), "dana@example.com", newer),
    }

    class Lying(local.LocalProvider):
        scheme = "test"

        def _entries(self, after_cursor: str | None) -> Iterator[local.Entry]:
            yield local.Entry("a", older, lambda: local.header_block(blocks["a"]), older)
            # claims b and everything after it were delivered 2 days before a: a is yielded
            lie = older - timedelta(days=2)
            yield local.Entry("b", newer, lambda: local.header_block(blocks["b"]), lie)

        def fetch(self, candidate: Candidate) -> bytes:
            return blocks[candidate.ref]

    search = Lying(tmp_path, "test:x").search(Query())
    assert next(search).ref == "a"
    with pytest.raises(MailboxError, match=r"not in delivery order: message b"):
        next(search)


@settings(max_examples=60, deadline=None)
@given(
    times=st.lists(st.integers(0, 96), min_size=1, max_size=30),
    ordered=st.booleans(),
    kinds=st.lists(st.sampled_from(["token", "sf", "other"]), min_size=30, max_size=30),
    chunk=st.sampled_from([61, 256, 4096]),
    lookahead=st.sampled_from([0, 300, 3000, 1 << 20]),
    samples=st.integers(1, 8),
)
def test_backward_walk_is_exact_or_refuses(
    times: list[int],
    ordered: bool,
    kinds: list[str],
    chunk: int,
    lookahead: int,
    samples: int,
) -> None:
    """Any file: the same candidates in the same order as the exact index, or MailboxError;
    never an error for a file in delivery order."""
    hours = sorted(times) if ordered else times
    parts = []
    for i, h in enumerate(hours):
        when = T0 + timedelta(hours=h * 6)
        if kinds[i] == "token":
            raw = token_mail(new_token(), "dana@example.com", when)
        else:
            raw = other_mail(i, when, "info@salesforce.com" if kinds[i] == "sf" else "a@b.org")
        parts.append(_from_line(when) + raw + b"\n")
    with tempfile.TemporaryDirectory() as tmp:
        box = Path(tmp) / "x.mbox"
        box.write_bytes(b"".join(parts))
        exact = _exact(box)
        with patch.multiple(
            mbox, EXACT_MAX=0, CHUNK=chunk, PROBE=chunk, LOOKAHEAD=lookahead, SAMPLES=samples
        ):
            try:
                walked = _candidates(box)
            except MailboxError:
                assert not ordered
                return
    assert [t for _, t in walked] == [t for _, t in exact]
    assert sorted(walked) == sorted(exact)

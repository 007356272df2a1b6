"""The mbox header index: exact answers for any message order, cached, extended, never trusted blindly."""

from __future__ import annotations

import hashlib
import json
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from inbox_finder.providers.local import _base as local
from inbox_finder.providers.local import mbox, mbox_cache, mbox_index
from mailgen import new_token, token_mail

from inbox_finder import find_token, find_tokens
from inbox_finder.boundary.provider import SourceOptions
from inbox_finder.cli.main import main
from inbox_finder.trust.policy import TrustPolicy

T_NEW = datetime(2025, 6, 1, 12, tzinfo=UTC)  # the newest token mail, in the middle of the file
T_OLD = datetime(2025, 2, 20, 12, tzinfo=UTC)  # an older one, at the end of the file
T_OPS = datetime(2024, 6, 1, 12, tzinfo=UTC)  # another username's, in order near the start
NEW, OLD, OPS = (
    "NewerTokenInTheMiddle0001",
    "OlderTokenAtTheEnd0000002",
    "OpsTokenNearTheStart00003",
)
START = datetime(2024, 5, 1, tzinfo=UTC)


def from_line(when: datetime) -> bytes:
    return f"From MAILER-DAEMON {when.strftime('%a %b %d %H:%M:%S %Y')}\n".encode()


def filler(i: int, when: datetime) -> bytes:
    """A small non-token message (built from a template: 20,000 of them take 0.1 s)."""
    return (
        b"From: news@example.org\nTo: dana@example.com\nSubject: digest %d\nDate: " % i
        + format_datetime(when).encode()
        + b"\nMessage-ID: <%d@example.org>\n\n" % i
        + b"Nothing to see here.\n" * 90
        + b"\n"
    )


def _big_mbox_bytes(size: int = 40 << 20) -> bytes:
    """~40 MB in delivery order, except one newer token mail in the middle."""
    count = size // 2100
    parts = []
    for i in range(count):
        when = START + timedelta(minutes=20 * i)  # ends 2025-02-02, before T_OLD
        if i == count // 2:
            parts.append(from_line(T_NEW) + token_mail(NEW, "dana@example.com", T_NEW) + b"\n")
        if when == T_OPS:
            parts.append(from_line(when) + token_mail(OPS, "ops@example.com", when) + b"\n")
        parts.append(from_line(when) + filler(i, when))
    parts.append(from_line(T_OLD) + token_mail(OLD, "dana@example.com", T_OLD) + b"\n")
    return b"".join(parts)


@pytest.fixture(scope="module")
def big_bytes() -> bytes:
    return _big_mbox_bytes()


@pytest.fixture
def big(tmp_path: Path, big_bytes: bytes) -> Path:
    path = tmp_path / "mail" / "inbox.mbox"
    path.parent.mkdir()
    path.write_bytes(big_bytes)
    return path


@pytest.fixture(autouse=True)
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private user cache folder per test; returns the index folder in it."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    return tmp_path / "cache" / "inbox-finder" / "mbox-index"


class Reads:
    """Counts the bytes read from mailboxes (every read goes through MboxProvider._pread)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.bytes = 0
        real = mbox.MboxProvider._pread

        def counted(provider: mbox.MboxProvider, offset: int, size: int) -> bytes:
            data = real(provider, offset, size)
            self.bytes += len(data)
            return data

        monkeypatch.setattr(mbox.MboxProvider, "_pread", counted)

    def take(self) -> int:
        done, self.bytes = self.bytes, 0
        return done


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def tokens_of(out: str) -> list[tuple[str, str]]:
    data = json.loads(out)
    return [(d["token"], d["username"]) for d in (data if isinstance(data, list) else [data])]


def index_file(cache: Path) -> Path:
    files = list(cache.glob("*.idx"))
    assert len(files) == 1, files
    return files[0]


# --- a newer mail anywhere in the file: every command is exact ---------------------------------


@pytest.mark.parametrize(
    ("args", "want"),
    [
        ((), [(NEW, "dana@example.com")]),
        (("--since", "2025-03-01"), [(NEW, "dana@example.com")]),
        (
            ("--all",),
            [(NEW, "dana@example.com"), (OLD, "dana@example.com"), (OPS, "ops@example.com")],
        ),
        (("--per-username",), [(NEW, "dana@example.com"), (OPS, "ops@example.com")]),
        (("-u", "ops@example.com"), [(OPS, "ops@example.com")]),
    ],
)
def test_find_is_exact_in_a_large_mbox_out_of_order(
    capsys: pytest.CaptureFixture[str],
    big: Path,
    args: tuple[str, ...],
    want: list[tuple[str, str]],
) -> None:
    for _ in ("built", "cached"):
        code, out, err = run(capsys, "find", f"mbox:{big}", "--json", *args)
        assert (code, err) == (0, "")
        assert tokens_of(out) == want


def test_scan_is_exact_in_a_large_mbox_out_of_order(
    capsys: pytest.CaptureFixture[str], big: Path, tmp_path: Path
) -> None:
    state = str(tmp_path / "state.json")
    code, out, err = run(capsys, "scan", f"mbox:{big}", "--state", state, "--json")
    assert (code, err) == (0, "")
    assert sorted(t for line in out.splitlines() for t in tokens_of(line)) == [
        (NEW, "dana@example.com"),
        (OPS, "ops@example.com"),
    ]
    assert run(capsys, "scan", f"mbox:{big}", "--state", state, "--json")[:2] == (0, "")


# --- the cache ---------------------------------------------------------------------------------


def test_second_lookup_reads_only_the_answer(
    big: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    reads = Reads(monkeypatch)
    assert find_token(f"mbox:{big}").token == NEW
    assert reads.take() >= big.stat().st_size  # the one full pass
    idx = index_file(cache)
    assert idx.stat().st_mode & 0o777 == 0o600 and cache.stat().st_mode & 0o777 == 0o700
    assert cache.parent.stat().st_mode & 0o777 == 0o700
    before = (idx.read_bytes(), idx.stat().st_mtime_ns)
    assert find_token(f"mbox:{big}").token == NEW
    # Two 64 KiB checksummed blocks and the header block of the one candidate read.
    assert reads.take() < 200_000
    assert (idx.read_bytes(), idx.stat().st_mtime_ns) == before  # used, not rewritten
    assert [f.token for f in find_tokens(f"mbox:{big}")] == [NEW, OLD, OPS]
    assert reads.take() < 250_000


def test_index_holds_no_tokens_or_text_and_the_mailbox_is_untouched(
    big: Path, cache: Path, big_bytes: bytes
) -> None:
    before = (sorted(os.listdir(big.parent)), big.stat().st_mtime_ns)
    find_tokens(f"mbox:{big}")
    data = index_file(cache).read_bytes()
    for text in (NEW, OLD, OPS, "dana@example.com", "ops@example.com", "Subject", "security"):
        assert text.encode() not in data
    assert len(data) < 2000  # offsets and times of three candidates, and a short header
    assert (sorted(os.listdir(big.parent)), big.stat().st_mtime_ns) == before
    assert hashlib.sha256(big.read_bytes()).digest() == hashlib.sha256(big_bytes).digest()


def _append(path: Path, *messages: tuple[datetime, bytes]) -> int:
    data = b"".join(from_line(when) + raw + b"\n" for when, raw in messages)
    with path.open("ab") as fh:
        fh.write(data)
    return len(data)


def test_appended_mail_is_indexed_from_the_old_end(
    big: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert find_token(f"mbox:{big}").token == NEW
    reads = Reads(monkeypatch)
    later = datetime(2025, 7, 1, tzinfo=UTC)
    newest = new_token()
    appended = _append(
        big,
        *[(later + timedelta(hours=i), filler(i, later + timedelta(hours=i))) for i in range(50)],
        (
            later + timedelta(days=3),
            token_mail(newest, "dana@example.com", later + timedelta(days=3)),
        ),
    )
    assert find_token(f"mbox:{big}").token == newest
    # The new end, the last old message again, the checksummed blocks and one header block.
    assert appended < reads.take() < appended + 300_000
    assert find_token(f"mbox:{big}").token == newest
    assert reads.take() < 200_000
    # The extended index is the one a full pass builds.
    with mbox.MboxProvider.from_url(f"mbox:{big}", SourceOptions()) as provider:
        full = mbox_index.build(
            provider._pread, 0, big.stat().st_size, local.mtime(big), ("salesforce.com",)
        )
        cached = mbox_cache.load(index_file(cache), big.stat(), provider._pread)
    assert cached is not None
    assert (cached[0].rows, cached[0].count, cached[0].tail) == (full.rows, full.count, full.tail)


def test_truncated_file_is_indexed_again(big: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert find_token(f"mbox:{big}").token == NEW
    data = big.read_bytes()
    cut = data.index(from_line(T_NEW))  # drops the newer token mail and everything after it
    with big.open("r+b") as fh:
        fh.truncate(cut)
    reads = Reads(monkeypatch)
    assert [f.token for f in find_tokens(f"mbox:{big}")] == [OPS]
    assert reads.take() >= cut


def test_replaced_file_gets_its_own_index(big: Path, cache: Path) -> None:
    assert find_token(f"mbox:{big}").token == NEW
    swapped = big.read_bytes().replace(NEW.encode(), b"Replaced" + NEW[8:].encode())
    tmp = big.with_suffix(".new")
    tmp.write_bytes(swapped)
    os.replace(tmp, big)  # a new inode, as a rewriting mail client leaves it
    assert find_token(f"mbox:{big}").token == "Replaced" + NEW[8:]
    assert len(list(cache.glob("*.idx"))) == 2


def test_file_rewritten_in_place_is_indexed_again(big: Path) -> None:
    assert find_token(f"mbox:{big}").token == NEW
    data = big.read_bytes()
    at = data.index(b"support@salesforce.com", data.index(from_line(T_NEW)))
    with big.open("r+b") as fh:  # same size: the newer token mail is no longer From salesforce
        fh.seek(at)
        fh.write(b"support@salesforcX.com")
    st = big.stat()
    os.utime(big, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000_000))
    assert find_token(f"mbox:{big}").token == OLD


def _rewrite_index(path: Path, edit: str) -> None:
    data = path.read_bytes()
    if edit == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif edit == "half":
        path.write_bytes(data[: len(data) // 2])
    elif edit == "empty":
        path.write_bytes(b"")
    elif edit == "flipped":  # one bit of the payload: the digest no longer matches
        path.write_bytes(data[:-3] + bytes([data[-3] ^ 1]) + data[-2:])
    elif edit == "header":
        path.write_bytes(data.replace(b'"version": 1', b'"version": "1"'))
    elif edit == "directory":
        path.unlink()
        path.mkdir()


@pytest.mark.parametrize("edit", ["garbage", "half", "empty", "flipped", "header", "directory"])
def test_corrupt_index_is_rebuilt_silently(
    big: Path, cache: Path, edit: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert find_token(f"mbox:{big}").token == NEW
    idx = index_file(cache)
    _rewrite_index(idx, edit)
    code, out, err = run(capsys, "find", f"mbox:{big}", "--all", "--json")
    assert (code, err) == (0, "")
    assert [t for t, _ in tokens_of(out)] == [NEW, OLD, OPS]
    if edit != "directory":  # written again, and now trusted
        with mbox.MboxProvider.from_url(f"mbox:{big}", SourceOptions()) as provider:
            assert mbox_cache.load(idx, big.stat(), provider._pread) is not None


def test_index_of_another_file_is_not_used(big: Path, cache: Path, tmp_path: Path) -> None:
    other = tmp_path / "other.mbox"
    other.write_bytes(_big_mbox_bytes(2 << 20))
    assert find_token(f"mbox:{other}").token == NEW  # a smaller file of the same make
    assert find_token(f"mbox:{big}").token == NEW
    mine, foreign = (cache / f"{p.stat().st_dev:x}-{p.stat().st_ino:x}.idx" for p in (big, other))
    mine.write_bytes(foreign.read_bytes())
    assert [f.token for f in find_tokens(f"mbox:{big}")] == [NEW, OLD, OPS]


def test_well_formed_index_with_wrong_offsets_is_caught(
    big: Path, cache: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An index that passes every load check but points elsewhere: rebuilt when first read."""
    assert find_token(f"mbox:{big}").token == NEW
    idx = index_file(cache)
    with mbox.MboxProvider.from_url(f"mbox:{big}", SourceOptions()) as provider:
        loaded = mbox_cache.load(idx, big.stat(), provider._pread)
        assert loaded is not None
        index = loaded[0]
        for k in range(0, len(index.rows), mbox_index.FIELDS):  # From_ lines 3 bytes later
            index.rows[k] += 3
            index.rows[k + 1] += 3
        index.tail += 3
        mbox_cache.save(idx, index, big.stat(), provider._pread)
        assert mbox_cache.load(idx, big.stat(), provider._pread) is not None
    with caplog.at_level("INFO", logger="inbox_finder.providers.local.mbox"):
        assert [f.token for f in find_tokens(f"mbox:{big}")] == [NEW, OLD, OPS]
    assert "does not match the file; indexing it again" in caplog.text


@pytest.mark.parametrize("value", [-(10**17), 2**62])  # year -1200; far past 9999
def test_index_with_impossible_times_is_not_loaded(big: Path, cache: Path, value: int) -> None:
    assert find_token(f"mbox:{big}").token == NEW
    idx = index_file(cache)
    with mbox.MboxProvider.from_url(f"mbox:{big}", SourceOptions()) as provider:
        loaded = mbox_cache.load(idx, big.stat(), provider._pread)
        assert loaded is not None
        loaded[0].rows[3] = value  # a receive time no datetime can hold, digest recomputed
        mbox_cache.save(idx, loaded[0], big.stat(), provider._pread)
        assert mbox_cache.load(idx, big.stat(), provider._pread) is None
    assert [f.token for f in find_tokens(f"mbox:{big}")] == [NEW, OLD, OPS]


def test_unwritable_cache_is_still_exact(
    big: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # mkdir below a file fails, even as root
    reads = Reads(monkeypatch)
    for _ in range(2):
        assert [f.token for f in find_tokens(f"mbox:{big}")] == [NEW, OLD, OPS]
        assert reads.take() >= big.stat().st_size  # in memory, every time
    assert blocker.read_text() == "x"


def test_other_sender_domains_extend_the_index(
    big: Path, cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    relayed = new_token()
    when = datetime(2025, 8, 1, tzinfo=UTC)
    _append(big, (when, token_mail(relayed, "dana@example.com", when, "sf@relay.example.net")))
    assert find_token(f"mbox:{big}").token == NEW  # a domain not trusted: not a candidate
    policy = TrustPolicy().with_extra_domains(["relay.example.net"])
    assert find_token(f"mbox:{big}", policy=policy).token == relayed
    reads = Reads(monkeypatch)
    assert find_token(f"mbox:{big}").token == NEW  # the index covers both domain sets now
    assert find_token(f"mbox:{big}", policy=policy).token == relayed
    assert reads.take() < 400_000

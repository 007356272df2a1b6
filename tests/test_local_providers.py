"""Local providers (eml, mbox, Maildir) run the shared contract and their own edge cases."""

from __future__ import annotations

import hashlib
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from corpus_util import GoldenCorpus, build_eml_dir, build_maildir, build_mbox, load_expected
from inbox_finder.providers.local import _base as local
from mailboxes import LocalFixtures

from inbox_finder import ConfigError, find_token, find_tokens
from inbox_finder.boundary.provider import Query
from inbox_finder.boundary.registry import open_provider
from inbox_finder.testing import ProviderContract
from inbox_finder.testing.mail import new_token, other_mail, token_mail


@pytest.fixture(scope="module")
def corpus_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("local")
    return {
        "eml": build_eml_dir(base / "eml"),
        "mbox": build_mbox(base / "corpus.mbox"),
        "maildir": build_maildir(base / "Maildir"),
    }


class TestEmlContract(LocalFixtures, ProviderContract):
    kind = "eml"


class TestEmlGoldenContract(GoldenCorpus, TestEmlContract):
    pass


class TestMboxContract(LocalFixtures, ProviderContract):
    kind = "mbox"


class TestMboxGoldenContract(GoldenCorpus, TestMboxContract):
    pass


class TestMboxDeliveryOrderContract(GoldenCorpus, TestMboxContract):
    """The corpus written in delivery order (an append log), not the corpus's file order."""

    by_time = True


class TestMboxDeliveryOrderStandardContract(TestMboxContract):
    """The standard mails in delivery order."""

    by_time = True


class TestMaildirContract(LocalFixtures, ProviderContract):
    kind = "maildir"


class TestMaildirGoldenContract(GoldenCorpus, TestMaildirContract):
    pass


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
        ("nosuch:thing", r"known schemes: (\w+, )*eml, "),
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
        ("cur", start + timedelta(hours=3), "delivery-time"),
        ("new", start + timedelta(hours=2, microseconds=250_000), "file-time"),
        ("cur", start + timedelta(hours=1), "delivery-time"),
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
    assert (found.received, found.received_source) == (delivered, "delivery-time")

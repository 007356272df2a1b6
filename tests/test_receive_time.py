"""Local receive times: delivery evidence beats a sender's Date that disagrees with it."""

from __future__ import annotations

import json
import os
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from inbox_finder.providers.local import _base as local
from mailgen import new_token, token_mail

from inbox_finder import find_token, find_tokens
from inbox_finder.cli.main import main

T = datetime(2025, 3, 10, 9, 0, tzinfo=UTC)
NOW = datetime(2025, 4, 1, tzinfo=UTC)  # when the .eml files were copied


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))


def mail(token: str, date: datetime, *received: datetime) -> bytes:
    """A token mail with this Date and Received fields (the first one on top)."""
    hops = b"".join(
        b"Received: from mta%d.salesforce.com by mx.example.com; %s\n"
        % (n, format_datetime(when).encode())
        for n, when in enumerate(received)
    )
    return hops + token_mail(token, "dana@example.com", date)


def maildir(root: Path, *messages: tuple[datetime, bytes]) -> str:
    for sub in ("cur", "new", "tmp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for i, (delivered, raw) in enumerate(messages):
        (root / "new" / f"{int(delivered.timestamp())}.M{i}P9.host").write_bytes(raw)
    return f"maildir:{root}"


def from_line(when: datetime, zone: str = "") -> bytes:
    stamp = when.strftime("%a %b %d %H:%M:%S") + (f" {zone}" if zone else "") + when.strftime(" %Y")
    return f"From MAILER-DAEMON {stamp}\n".encode()


def mbox(path: Path, *messages: tuple[bytes, bytes]) -> str:
    path.write_bytes(b"".join(line + raw + b"\n" for line, raw in messages))
    return f"mbox:{path}"


def eml(folder: Path, *messages: bytes, copied: datetime = NOW) -> str:
    folder.mkdir(exist_ok=True)
    for i, raw in enumerate(messages):
        (folder / f"{i}.eml").write_bytes(raw)
        os.utime(folder / f"{i}.eml", (copied.timestamp(), copied.timestamp()))
    return f"eml:{folder}"


def newest(source: str) -> tuple[str, datetime, str]:
    found = find_token(source)
    return found.token, found.received, found.received_source


# --- a Date up to a day ahead no longer beats a really newer mail ------------------------------


def test_spoofed_date_loses_in_a_maildir(tmp_path: Path) -> None:
    genuine, spoof = new_token(), new_token()
    source = maildir(
        tmp_path / "Maildir",
        (T, mail(spoof, T + timedelta(hours=23))),
        (T + timedelta(hours=2), mail(genuine, T + timedelta(hours=2))),
    )
    assert newest(source) == (genuine, T + timedelta(hours=2), "date-header")
    found = find_tokens(source)
    assert [(f.token, f.received, f.received_source) for f in found][1] == (
        spoof,
        T,
        "delivery-time",
    )


def test_spoofed_date_loses_in_an_mbox(tmp_path: Path) -> None:
    genuine, spoof = new_token(), new_token()
    source = mbox(
        tmp_path / "inbox.mbox",
        (from_line(T), mail(spoof, T + timedelta(hours=23))),
        (from_line(T + timedelta(hours=2)), mail(genuine, T + timedelta(hours=2))),
    )
    assert newest(source) == (genuine, T + timedelta(hours=2), "date-header")
    assert [(f.received, f.received_source) for f in find_tokens(source)][1] == (T, "from-line")


def test_spoofed_date_loses_in_an_eml_folder(tmp_path: Path) -> None:
    genuine, spoof = new_token(), new_token()
    later = T + timedelta(hours=2)
    source = eml(
        tmp_path / "eml", mail(spoof, T + timedelta(hours=23), T), mail(genuine, later, later)
    )
    assert newest(source) == (genuine, later, "date-header")
    assert [(f.received, f.received_source) for f in find_tokens(source)][1] == (
        T,
        "received-header",
    )


def test_forged_lower_received_field_does_not_count(tmp_path: Path) -> None:
    """Only the topmost Received is the receiving server's; the sender wrote the ones below."""
    token = new_token()
    late = T + timedelta(hours=20)
    source = eml(tmp_path / "eml", mail(token, late, T, late))
    assert newest(source) == (token, T, "received-header")


# --- the allowed clock skew ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("offset", "want"),
    [
        (timedelta(minutes=14), "date-header"),  # a drifting sender clock: Date is kept
        (-timedelta(minutes=14), "date-header"),
        (timedelta(minutes=16), "delivery-time"),
        (timedelta(hours=1), "delivery-time"),  # a missed DST switch
        (-timedelta(hours=1), "date-header"),  # earlier: a queue, a sync or a download
        (-timedelta(hours=5), "date-header"),  # held in a queue for hours
        (-timedelta(days=300), "date-header"),  # synced by mbsync: the file name is the sync
        (timedelta(minutes=30), "delivery-time"),  # a wrong half-hour zone
    ],
)
def test_date_is_kept_unless_after_the_delivery_by_more_than_the_skew(
    tmp_path: Path, offset: timedelta, want: str
) -> None:
    token = new_token()
    source = maildir(tmp_path / "Maildir", (T, mail(token, T + offset)))
    expected = T + offset if want == "date-header" else T
    assert newest(source) == (token, expected, want)


# --- each kind of delivery evidence -------------------------------------------------------------


def test_from_line_with_an_offset_is_an_instant(tmp_path: Path) -> None:
    token = new_token()
    # Google Takeout style: 11:00 at +0200 is 09:00 UTC; the Date is 3 hours off.
    line = (
        b"From 1781239898765432100@xxx "
        + (T + timedelta(hours=2)).strftime("%a %b %d %H:%M:%S +0200 %Y").encode()
        + b"\n"
    )
    source = mbox(tmp_path / "takeout.mbox", (line, mail(token, T + timedelta(hours=3))))
    assert newest(source) == (token, T, "from-line")


def test_from_line_in_local_time_defers_to_the_received_field(tmp_path: Path) -> None:
    """A From_ line without an offset, written at UTC+2: the Received field has the instant."""
    agreeing, lying = new_token(), new_token()
    local_wall = T + timedelta(hours=2)
    source = mbox(
        tmp_path / "local.mbox",
        (from_line(local_wall), mail(agreeing, T, T)),
        (
            from_line(local_wall + timedelta(hours=1)),
            mail(lying, T + timedelta(hours=6), T + timedelta(hours=1)),
        ),
    )
    found = find_tokens(source)
    assert [(f.token, f.received, f.received_source) for f in found] == [
        (lying, T + timedelta(hours=1), "received-header"),
        (agreeing, T, "date-header"),
    ]


def test_from_line_without_received_field(tmp_path: Path) -> None:
    token = new_token()
    source = mbox(tmp_path / "a.mbox", (from_line(T), mail(token, T + timedelta(days=2))))
    assert newest(source) == (token, T, "from-line")


def test_eml_without_delivery_evidence_keeps_date(tmp_path: Path) -> None:
    """An .eml file's mtime is when it was copied: Date stays the best evidence."""
    token = new_token()
    source = eml(tmp_path / "eml", mail(token, T))
    assert newest(source) == (token, T, "date-header")


def test_eml_date_later_than_the_copy_is_not_believed(tmp_path: Path) -> None:
    token = new_token()
    source = eml(tmp_path / "eml", mail(token, NOW + timedelta(hours=3)))
    assert newest(source) == (token, NOW, "file-time")


def test_eml_without_date_uses_received(tmp_path: Path) -> None:
    token = new_token()
    raw = mail(token, T, T + timedelta(minutes=5)).replace(b"\nDate:", b"\nX-Date:")
    source = eml(tmp_path / "eml", raw)
    assert newest(source) == (token, T + timedelta(minutes=5), "received-header")


def test_received_source_in_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    token = new_token()
    source = mbox(tmp_path / "a.mbox", (from_line(T), mail(token, T + timedelta(hours=23))))
    assert main(["find", source, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert (data["token"], data["received"], data["received_source"]) == (
        token,
        T.isoformat(),
        "from-line",
    )


# --- receive_time itself ------------------------------------------------------------------------


def block(date: datetime | None, *received: datetime) -> bytes:
    lines = [b"Received: by mx.example.com; " + format_datetime(r).encode() for r in received]
    if date is not None:
        lines.append(b"Date: " + format_datetime(date).encode())
    return b"\n".join([*lines, b"From: x@salesforce.com", b"", b""])


@pytest.mark.parametrize(
    ("evidence", "header", "want"),
    [
        (local.DELIVERY_TIME, block(T + timedelta(hours=23)), (T, "delivery-time")),
        (
            local.FROM_LINE,
            block(T + timedelta(minutes=10)),
            (T + timedelta(minutes=10), "date-header"),
        ),
        (local.FROM_LINE_NO_ZONE, block(None), (T, "from-line")),
        (
            local.FROM_LINE_NO_ZONE,
            block(None, T - timedelta(hours=3)),
            (T - timedelta(hours=3), "received-header"),
        ),
        # A Received time no time zone explains: the From_ line is the file's own record.
        (local.FROM_LINE_NO_ZONE, block(None, T + timedelta(days=2)), (T, "from-line")),
        (local.FILE_TIME, block(T - timedelta(days=9)), (T - timedelta(days=9), "date-header")),
        (
            local.FILE_TIME,
            block(None, T - timedelta(days=9)),
            (T - timedelta(days=9), "received-header"),
        ),
        (local.FILE_TIME, block(None, T + timedelta(days=1)), (T, "file-time")),
        (local.FILE_TIME, block(None), (T, "file-time")),
    ],
)
def test_receive_time(evidence: local.Evidence, header: bytes, want: tuple[datetime, str]) -> None:
    assert local.receive_time(header, T, evidence) == want


@pytest.mark.parametrize("evidence", [local.DELIVERY_TIME, local.FROM_LINE, local.FILE_TIME])
def test_receive_time_never_above_the_search_bound(evidence: local.Evidence) -> None:
    """What lets search() stop early: nothing later than delivery + CLOCK_SKEW is returned."""
    for hours in (-30, -1, 0, 1, 23, 25):
        for rcv in (None, T + timedelta(minutes=10), T + timedelta(hours=hours)):
            got, _ = local.receive_time(
                block(T + timedelta(hours=hours), *([rcv] if rcv else [])), T, evidence
            )
            assert got <= T + local.CLOCK_SKEW


def test_receive_time_survives_extreme_dates() -> None:
    late = datetime(9999, 12, 31, 23, 59, tzinfo=UTC)
    assert local.receive_time(block(None), late, local.FROM_LINE_NO_ZONE) == (late, "from-line")
    early = datetime(1, 1, 1, tzinfo=UTC)
    assert local.receive_time(block(None), early, local.FROM_LINE_NO_ZONE) == (early, "from-line")

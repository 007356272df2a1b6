"""The token inventory (`report`) on the golden corpus, and the retirement notices."""

from __future__ import annotations

import csv
import io
import json
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path

import pytest
from corpus_util import build_eml_dir, positives

from inbox_finder.cli.main import main
from inbox_finder.salesforce import retirement
from inbox_finder.salesforce.retirement import inventory_notices, is_retired, login_check_notice


def clock(year: int, month: int, day: int) -> retirement.Clock:
    return lambda: datetime(year, month, day, 12, tzinfo=UTC)


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return build_eml_dir(tmp_path / "corpus")


def expected_rows() -> dict[str | None, list[datetime]]:
    """Receive times per username, from expected.json alone (not from the code under test)."""
    rows: dict[str | None, list[datetime]] = defaultdict(list)
    for e in positives():
        rows[e.username.casefold() if e.username else None].append(e.received)
    return rows


def test_json_rows_match_the_corpus(corpus_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["report", f"eml:{corpus_dir}", "--json"]) == 0
    out = capsys.readouterr().out
    rows = json.loads(out)
    want = expected_rows()
    assert len(rows) == len(want)
    for row in rows:
        key = row["username"].casefold() if row["username"] else None
        times = want[key]
        assert row["token_mails"] == len(times)
        assert datetime.fromisoformat(row["newest_received"]) == max(times)
        assert datetime.fromisoformat(row["first_received"]) == min(times)
        assert row["source"] == f"eml:{corpus_dir}"
        assert "token" not in row
    newest = [datetime.fromisoformat(r["newest_received"]) for r in rows]
    assert newest == sorted(newest, reverse=True)
    for e in positives():
        assert e.token not in out


def test_sandbox_rows_come_from_the_subject_prefix(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", f"eml:{corpus_dir}", "--json"]) == 0
    rows = {r["username"]: r for r in json.loads(capsys.readouterr().out)}
    sandbox = {
        (e.username or "")
        for e in positives()
        if e.raw.split(b"\n\n", 1)[0].lower().find(b"subject: sandbox:") >= 0
    }
    assert sandbox, "the corpus has a sandbox token mail"
    for name, row in rows.items():
        if name in sandbox:
            assert row["environment"] == "sandbox"
        elif name:
            assert row["environment"] == "production"
        else:
            assert row["environment"] == "unknown"


def test_csv_parses_with_the_stdlib_and_hides_tokens(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", f"eml:{corpus_dir}", "--csv"]) == 0
    out = capsys.readouterr().out
    table = list(csv.DictReader(io.StringIO(out)))
    assert len(table) == len(expected_rows())
    assert "token" not in table[0]
    assert all(e.token not in out for e in positives())


def test_show_tokens_adds_the_newest_token_per_username(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", f"eml:{corpus_dir}", "--csv", "--show-tokens"]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    newest = {}
    for e in positives():  # newest first
        newest.setdefault(e.username.casefold() if e.username else "", e.token)
    assert {(r["username"] or "").casefold(): r["token"] for r in table} == newest


def test_table_hides_tokens_and_notices_go_to_stderr(
    corpus_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", f"eml:{corpus_dir}"]) == 0
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0].startswith("USERNAME")
    assert all(e.token not in captured.out for e in positives())
    assert "SOAP API login()" in captured.err and "SOAP" not in captured.out


def test_empty_mailbox_is_exit_1(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["report", f"eml:{tmp_path / 'empty'}"]) == 1


def test_json_and_csv_exclude_each_other(corpus_dir: Path) -> None:
    assert main(["report", f"eml:{corpus_dir}", "--json", "--csv"]) == 2


@pytest.mark.parametrize(
    ("day", "soap_retired", "oauth_retired"),
    [
        ((2026, 12, 1), False, False),
        ((2027, 2, 19), False, False),
        ((2027, 2, 20), False, True),
        ((2027, 5, 31), False, True),
        ((2027, 6, 1), True, True),
    ],
)
def test_retirement_dates_with_an_injected_clock(
    day: tuple[int, int, int], soap_retired: bool, oauth_retired: bool
) -> None:
    now = clock(*day)
    assert is_retired("soap-login", now) is soap_retired
    assert is_retired("oauth-username-password", now) is oauth_retired
    notice = login_check_notice(now)
    if soap_retired:
        assert "retired" in notice and "no longer" in notice
    else:
        assert "Summer '27" in notice and "External Client App" in notice
    lines = inventory_notices(now)
    assert len(lines) == 2
    assert ("was retired" in lines[0]) is oauth_retired
    assert ("was retired" in lines[1]) is soap_retired


def test_days_left_are_counted_from_the_clock() -> None:
    assert "in 182 days" in login_check_notice(clock(2026, 12, 1))
    assert "in 1 day)" in login_check_notice(clock(2027, 5, 31))

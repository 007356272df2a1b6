"""`report` over several sources: searched concurrently, one failing source isolated."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from corpus_util import build_eml_dir

from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode


@pytest.fixture
def corpus_dir(tmp_path: Path) -> Path:
    return build_eml_dir(tmp_path / "corpus")


def rows_by_source(out: str) -> dict[str, int]:
    counts: dict[str, int] = {}
    for row in json.loads(out):
        counts[row["source"]] = counts.get(row["source"], 0) + 1
    return counts


def test_a_failing_source_is_named_and_the_others_still_reported(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", f"eml:{corpus_dir}", "--json"]) == 0
    alone = capsys.readouterr().out
    missing = tmp_path / "no-such-dir"
    code = main(["report", f"maildir:{missing}", f"eml:{corpus_dir}", "--json", "--jobs", "2"])
    captured = capsys.readouterr()
    assert code == ExitCode.USAGE  # a missing local store is a configuration error
    assert json.loads(captured.out) == json.loads(alone)  # the answering source, whole
    err = captured.err.splitlines()
    assert [line for line in err if line.startswith("inbox-finder: error: ")] == [
        next(line for line in err if f"maildir:{missing}" in line)
    ]
    assert "inbox-finder: warning: the inventory is incomplete: only 1 of 2 sources" in captured.err
    assert err[-1] == "inbox-finder: 1 of 2 sources failed"


def test_every_source_failing_prints_no_rows(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["report", f"maildir:{tmp_path / 'a'}", f"maildir:{tmp_path / 'b'}"])
    captured = capsys.readouterr()
    assert code == ExitCode.USAGE and captured.out == ""
    assert captured.err.splitlines()[-1] == "inbox-finder: 2 of 2 sources failed"


def test_the_same_inventory_with_one_job_or_many(
    corpus_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = build_eml_dir(tmp_path / "copy")
    outs = []
    for jobs in ("1", "4"):
        assert main(["report", f"eml:{corpus_dir}", f"eml:{other}", "--json", "-j", jobs]) == 0
        outs.append(json.loads(capsys.readouterr().out))
    assert outs[0] == outs[1]

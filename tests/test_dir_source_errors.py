"""A folder-tree source given a file is exit 2 with one line naming what it must be."""

from __future__ import annotations

from pathlib import Path

import pytest

from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode


@pytest.mark.parametrize(
    ("scheme", "wanted"),
    [
        ("eml", "a folder of .eml files"),
        ("mh", "an MH folder (a directory)"),
        ("msg", "a folder of .msg files"),
        ("evolution", "a directory"),
    ],
)
def test_a_file_where_a_folder_belongs(
    scheme: str, wanted: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    file = tmp_path / "one.file"
    file.write_bytes(b"From: a@example.com\n\nhello\n")
    assert main(["find", f"{scheme}:{file}"]) == ExitCode.USAGE
    err = capsys.readouterr().err
    assert err == f"inbox-finder: error: {scheme}: source must be {wanted}: {file}\n"

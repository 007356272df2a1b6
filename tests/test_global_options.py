"""--config, --verbose/-v and --debug work before the subcommand and after it (find, scan, verify)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from corpus_util import build_mbox, positives

from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError

NEWEST = positives()[0]


@pytest.fixture
def config(tmp_path: Path) -> Path:
    box = build_mbox(tmp_path / "m.mbox")
    empty = tmp_path / "empty.mbox"
    empty.write_bytes(b"")
    path = tmp_path / "config.toml"
    path.write_text(
        f'[mailbox.work]\nurl = "mbox:{box}"\n\n[mailbox.empty]\nurl = "mbox:{empty}"\n',
        encoding="utf-8",
    )
    return path


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def placements(command: list[str], *option: str) -> list[list[str]]:
    """The option before the subcommand, right after it, and at the very end."""
    return [[*option, *command], [command[0], *option, *command[1:]], [*command, *option]]


@pytest.mark.parametrize("where", [0, 1, 2], ids=["before", "after-subcommand", "at-end"])
def test_config_anywhere_for_find(
    capsys: pytest.CaptureFixture[str], config: Path, where: int
) -> None:
    args = placements(["find", "work", "-q"], "--config", str(config))[where]
    assert run(capsys, *args)[:2] == (0, NEWEST.token + "\n")


@pytest.mark.parametrize("where", [0, 1, 2], ids=["before", "after-subcommand", "at-end"])
def test_config_anywhere_for_scan(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, where: int
) -> None:
    state = tmp_path / f"state{where}"
    command = ["scan", "work", "--state", str(state), "--json"]
    code, out, err = run(capsys, *placements(command, "--config", str(config))[where])
    assert code == 0, err
    assert NEWEST.token in out and state.exists()


@pytest.mark.parametrize("where", [0, 1, 2], ids=["before", "after-subcommand", "at-end"])
def test_config_anywhere_for_verify(
    capsys: pytest.CaptureFixture[str], config: Path, where: int
) -> None:
    # The profile is found (exit 1: no token email in it), not "neither a URL nor a profile".
    code, out, err = run(capsys, *placements(["verify", "empty"], "--config", str(config))[where])
    assert (code, out) == (1, "") and "no security token email found" in err


def test_without_config_the_profile_is_unknown(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("INBOX_FINDER_CONFIG", str(tmp_path / "none.toml"))
    code, _, err = run(capsys, "verify", "empty")
    assert code == 2 and "config file not found" in err


def test_the_subcommands_config_wins_over_the_groups(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path
) -> None:
    other = tmp_path / "other.toml"
    other.write_text('[mailbox.x]\nurl = "mbox:/nowhere"\n', encoding="utf-8")
    code, out, _ = run(capsys, "--config", str(other), "find", "work", "--config", str(config))
    assert code == 0 and NEWEST.token in out


@pytest.mark.parametrize(
    "command",
    [
        ["find", "mbox:/no/such.mbox"],
        ["scan", "mbox:/no/such.mbox", "--state", "/tmp/inbox-finder-unused-state"],
        ["verify", "mbox:/no/such.mbox"],
    ],
    ids=["find", "scan", "verify"],
)
@pytest.mark.parametrize("where", [0, 1, 2], ids=["before", "after-subcommand", "at-end"])
def test_debug_anywhere_reaches_the_exit_code_mapping(
    capsys: pytest.CaptureFixture[str], command: list[str], where: int
) -> None:
    assert run(capsys, *command)[0] == 2  # without --debug: one line, exit 2
    with pytest.raises(ConfigError, match="not found"):  # with it: the traceback is shown
        main(placements(command, "--debug")[where])
    assert logging.getLogger().level == logging.DEBUG
    assert run(capsys, *command)[0] == 2  # the next run starts without --debug again
    assert logging.getLogger().level == logging.WARNING


@pytest.mark.parametrize("flag", ["--verbose", "-v"])
@pytest.mark.parametrize("where", [0, 1, 2], ids=["before", "after-subcommand", "at-end"])
def test_verbose_anywhere_logs_progress(
    capsys: pytest.CaptureFixture[str], config: Path, tmp_path: Path, flag: str, where: int
) -> None:
    commands = [
        ["find", "work", "-q"],
        ["scan", "work", "--state", str(tmp_path / "s")],
        ["verify", "empty"],
    ]
    for command in commands:
        args = placements([*command, "--config", str(config)], flag)[where]
        code, _, _ = run(capsys, *args)
        assert code in (0, 1)
        assert logging.getLogger().level == logging.INFO, args
    find_args = placements(["find", "work", "--config", str(config)], flag)[where]
    assert "INFO inbox_finder.engine: token mail" in run(capsys, *find_args)[2]

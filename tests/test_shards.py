"""--shard K/N: N workers split the sources by a stable hash, with no overlap and no gap."""

from __future__ import annotations

import hashlib
import json
import mailbox
from pathlib import Path

import pytest

from inbox_finder.cli.main import main
from inbox_finder.errors import ConfigError, ExitCode
from inbox_finder.sources import in_shard, parse_shard, shard_of
from inbox_finder.testing.mail import new_token, token_mail


@pytest.fixture
def profiles(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Eight Maildir profiles, one token each (token -> profile name)."""
    tokens, lines = {}, []
    for i in range(8):
        name = f"box{i}"
        box = mailbox.Maildir(tmp_path / name, create=True)
        token = new_token()
        box.add(token_mail(token, f"{name}@example.com"))
        tokens[token] = name
        lines += [f"[mailbox.{name}]", f'url = "maildir:{tmp_path / name}"']
    cfg = tmp_path / "config.toml"
    cfg.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(cfg), tokens


def test_shard_is_sha256_of_the_name_mod_n() -> None:
    for name in ("work", "ops", "imaps://dana@imap.example.com", "ünïcode"):
        for count in (1, 2, 3, 7):
            expected = int(hashlib.sha256(name.encode()).hexdigest(), 16) % count
            assert shard_of(name, count) == expected


def test_shards_cover_every_source_exactly_once() -> None:
    sources = [f"profile-{i}" for i in range(60)] + [f"mbox:/m/{i}" for i in range(40)]
    parts = [in_shard(sources, (k, 3)) for k in range(3)]
    assert sorted(s for part in parts for s in part) == sorted(sources)
    assert all(part for part in parts)  # 100 sources: no shard is empty
    assert in_shard(sources, None) == sources


@pytest.mark.parametrize("text", ["3/3", "a/b", "1", "-1/3", "0/0", "1/", "/2", "1/2/3", ""])
def test_bad_shard_is_refused(text: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(ConfigError):
        parse_shard(text)
    assert main(["find", "mbox:/nonexistent", "--shard", text]) == ExitCode.USAGE
    assert "--shard" in capsys.readouterr().err
    assert main(["report", "mbox:/nonexistent", "--shard", text]) == ExitCode.USAGE


def test_find_shards_split_the_profiles(
    profiles: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, tokens = profiles
    seen: list[str] = []
    for k in range(3):
        code = main(["find", "--config", cfg, "--all-profiles", "--all", "-q", "--shard", f"{k}/3"])
        out = capsys.readouterr().out.split()
        assert code == (ExitCode.FOUND if out else ExitCode.NOT_FOUND)
        assert {tokens[t] for t in out} == set(in_shard(sorted(set(tokens.values())), (k, 3)))
        seen += out
    assert sorted(seen) == sorted(tokens)  # every profile's token, each once


def test_report_shards_split_the_profiles(
    profiles: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, tokens = profiles
    users: list[str] = []
    for k in range(2):
        code = main(["report", "--config", cfg, "--all-profiles", "--json", "--shard", f"{k}/2"])
        out = capsys.readouterr().out
        if code == ExitCode.NOT_FOUND:
            continue
        assert code == 0
        users += [row["username"] for row in json.loads(out)]
    assert sorted(users) == sorted(f"{name}@example.com" for name in tokens.values())


def test_an_empty_shard_is_not_found(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = "mbox:/nonexistent/only-one"
    empty = next(k for k in range(2) if shard_of(source, 2) != k)
    assert main(["find", source, "--shard", f"{empty}/2"]) == ExitCode.NOT_FOUND
    assert f"shard {empty}/2 holds none of the 1 source(s)" in capsys.readouterr().err

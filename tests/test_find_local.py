"""`find` with no SOURCE, `find local:` and `sources`, run through the real CLI with HOME
(and APPDATA, $MAIL, XDG_DATA_HOME) pointed at fake homes built by desktop_homes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from desktop_homes import Home, day, full_home, maildir_file, tb_entry, write

from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode
from inbox_finder.testing.mail import token_mail

EXE = str(Path(sys.executable).with_name("inbox-finder"))
LEAK = "Xx1Yy2Zz3Ww4Vv5Uu6Tt7Ss8R"  # newer than everything, but outside every store


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Home:
    built = full_home(tmp_path / "home")
    isolate(monkeypatch, built.root, tmp_path)
    return built


def isolate(monkeypatch: pytest.MonkeyPatch, home: Path, tmp_path: Path) -> None:
    """This process and its children see ``home`` and nothing of the real user's."""
    monkeypatch.setenv("HOME", str(home))
    for name in ("MAIL", "XDG_DATA_HOME", "APPDATA", "INBOX_FINDER_CONFIG"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "no-config"))


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """The installed console script, with this process's environment (plus ``env``)."""
    return subprocess.run(
        [EXE, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, **(env or {})},
        check=False,
    )


def test_find_per_username_json_is_the_newest_token_of_each_username_across_stores(
    home: Home,
) -> None:
    done = run("find", "--per-username", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert {f["username"]: f["token"] for f in found} == home.newest
    assert [f["received"] for f in found] == sorted((f["received"] for f in found), reverse=True)
    where = {f["username"]: (f["source"], f["folder"], f["folder_role"]) for f in found}
    tb1, tb2 = (f"thunderbird:{p}" for p in home.profiles)
    assert where == {
        "ci@example.com": (f"maildir:{home.root / 'Mail'}", "inbox", None),
        "dana@example.com.uat": (tb2, "dana@work.example.com/Inbox/Salesforce", None),
        "ops@example.com": (tb1, "dana@example.com/INBOX", None),
        "dana@example.com": (tb1, "Local Folders/Salesforce/Tokens", "deleted"),
        "qa@example.com": (
            f"maildir:{home.root / '.local/share/evolution/mail/local'}",
            "Salesforce",
            None,
        ),
    }


def test_find_without_source_prints_the_newest_token(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["find", "-q"]) == ExitCode.FOUND
    assert capsys.readouterr().out == home.newest["ci@example.com"] + "\n"
    assert main(["find", "local:", "-q", "--username", "dana@example.com"]) == ExitCode.FOUND
    assert capsys.readouterr().out == home.tokens["tb_expunged"] + "\n"
    assert main(["find", "--username", "dana@example.com"]) == ExitCode.FOUND
    out = capsys.readouterr().out
    assert "Folder:    Local Folders/Salesforce/Tokens" in out
    assert "Note:      this mail was deleted (marked deleted" in out


def test_find_all_since_and_jobs_apply_to_every_store(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["find", "--all", "--json", "--jobs", "1"]) == ExitCode.FOUND
    every = json.loads(capsys.readouterr().out)
    assert len(every) == 9  # every token mail of the four stores, the expunged one included
    assert main(["find", "--all", "--json", "--since", day(24).isoformat()]) == ExitCode.FOUND
    since = json.loads(capsys.readouterr().out)
    assert [f["username"] for f in since] == [
        "ci@example.com",
        "dana@example.com.uat",
        "ops@example.com",
    ]


def test_nothing_found_names_how_many_stores_were_searched(
    home: Home, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["find", "--username", "nobody@example.com"]) == ExitCode.NOT_FOUND
    err = capsys.readouterr().err
    assert "no security token email found for nobody@example.com in 4 source(s)" in err
    assert "searched 4 local mail store(s)" in err


def test_no_store_under_home_is_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    empty = tmp_path / "empty"
    (empty / ".thunderbird").mkdir(parents=True)  # a client directory without profiles
    (empty / "Mail").mkdir()
    isolate(monkeypatch, empty, tmp_path)
    done = run("find")
    assert done.returncode == ExitCode.USAGE
    assert done.stderr == (
        f"inbox-finder: error: no local mail store found under {empty}; give a SOURCE\n"
    )
    assert done.stdout == ""
    listed = run("sources")
    assert (listed.returncode, listed.stdout) == (1, "")
    assert "no local mail store found under" in listed.stderr
    assert run("sources", "--json").stdout == "[]\n"


def test_config_default_wins_over_discovery(
    home: Home, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    other = tmp_path / "work.mbox"
    write(other, tb_entry(token_mail("Gg1Hh2Jj3Kk4Ll5Zz6Xx7Cc8V", "w@example.com", day(2)), day(2)))
    config = tmp_path / "config.toml"
    config.write_text(
        f'default = "work"\n\n[mailbox.work]\nurl = "mbox:{other}"\n'
        f'[mailbox.ops]\nurl = "mbox:{other}"\n[group.both]\nmembers = ["work", "ops"]\n',
        encoding="utf-8",
    )
    assert main(["find", "-q", "--config", str(config)]) == ExitCode.FOUND
    assert capsys.readouterr().out == "Gg1Hh2Jj3Kk4Ll5Zz6Xx7Cc8V\n"
    # A SOURCE given wins over the default.
    assert main(["find", "-q", "--config", str(config), "local:"]) == ExitCode.FOUND
    assert capsys.readouterr().out == home.newest["ci@example.com"] + "\n"
    for default in ("both", "local:", f"mbox:{other}"):
        text = config.read_text(encoding="utf-8").split("\n", 1)[1]
        config.write_text(f"default = {json.dumps(default)}\n{text}", encoding="utf-8")
        assert main(["find", "-q", "--config", str(config)]) == ExitCode.FOUND
        want = home.newest["ci@example.com"] if default == "local:" else "Gg1Hh2Jj3Kk4Ll5Zz6Xx7Cc8V"
        assert capsys.readouterr().out == want + "\n", default


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("default = 3", "default must be a profile, group or URL in quotes"),
        ('default = ""', "default must be a profile, group or URL"),
        ('default = ["work"]', "default must be a profile, group or URL"),
        ('default = "nosuch"', "default 'nosuch' is no profile or group; known: work"),
    ],
)
def test_config_check_rejects_a_bad_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], line: str, message: str
) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'{line}\n[mailbox.work]\nurl = "mbox:{tmp_path}"\n', encoding="utf-8")
    assert main(["config", "check", "--config", str(config)]) == ExitCode.USAGE
    assert message in capsys.readouterr().err
    assert main(["find", "--config", str(config)]) == ExitCode.USAGE
    assert message in capsys.readouterr().err


def test_config_check_accepts_a_default(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    box = write(tmp_path / "x.mbox", tb_entry(token_mail("Aa1Ss2Dd3Ff4Gg5Hh6Jj7Kk8L"), day(1)))
    config = tmp_path / "config.toml"
    config.write_text(f'default = "work"\n[mailbox.work]\nurl = "mbox:{box}"\n', encoding="utf-8")
    assert main(["config", "check", "--config", str(config)]) == ExitCode.FOUND
    out = capsys.readouterr().out
    assert "valid, 1 profile" in out and "default (find with no SOURCE): work" in out
    assert main(["config", "check", "--config", str(config), "--json"]) == ExitCode.FOUND
    assert json.loads(capsys.readouterr().out)["default"] == "work"


def test_sources_lists_every_store_with_client_and_size(home: Home) -> None:
    listed = run("sources", "--json")
    assert listed.returncode == 0, listed.stderr
    stores = json.loads(listed.stdout)
    tb1, tb2 = (f"thunderbird:{p}" for p in home.profiles)
    evo = home.root / ".local" / "share" / "evolution" / "mail" / "local"
    mutt = home.root / "Mail"
    assert [(s["url"], s["client"], s["path"], s["size_unit"]) for s in stores] == [
        (tb1, "Thunderbird", str(home.profiles[0]), "bytes"),
        (tb2, "Thunderbird", str(home.profiles[1]), "bytes"),
        (f"maildir:{evo}", "Evolution", str(evo), "messages"),
        (f"maildir:{mutt}", "mutt", str(mutt), "messages"),
    ]
    # The mbox folder files only (Inbox, Tokens, the IMAP INBOX; no .msf, no feed account).
    local = home.profiles[0] / "Mail" / "Local Folders"
    files = [local / "Inbox", local / "Salesforce.sbd" / "Tokens", local / "Trash"]
    files.append(home.profiles[0] / "ImapMail" / "imap.example.com" / "INBOX")
    assert stores[0]["size"] == sum(f.stat().st_size for f in files)
    assert [s["size"] for s in stores[2:]] == [2, 2]
    width = len(tb1)
    sizes = [f"{s['size'] / 1000:.1f} kB" for s in stores[:2]]
    assert run("sources").stdout == (
        f"{tb1:<{width}}  Thunderbird  {sizes[0]}\n"
        f"{tb2:<{width}}  Thunderbird  {sizes[1]}\n"
        f"{'maildir:' + str(evo):<{width}}  Evolution    2 messages\n"
        f"{'maildir:' + str(mutt):<{width}}  mutt         2 messages\n"
    )


def _booby_trap(home: Home, outside: Path) -> None:
    """Symlinks out of the stores to newer token mail, and FIFOs where files are read."""
    leak = token_mail(LEAK, "leak@example.com", day(30, hour=23))
    write(outside / "Leak", tb_entry(leak, day(30, hour=23)))
    maildir_file(outside / "leakdir", leak, day(30, hour=23), 99)
    local = home.profiles[0] / "Mail" / "Local Folders"
    (local / "Leak").symlink_to(outside / "Leak")
    (local / "Salesforce.sbd" / "Linked.sbd").symlink_to(outside, target_is_directory=True)
    (home.root / "Mail" / "leaked").symlink_to(outside / "leakdir", target_is_directory=True)
    (home.root / "Mail" / "inbox" / "cur" / "1798000000.M1P1.host:2,S").symlink_to(
        outside / "leakdir" / "cur" / os.listdir(outside / "leakdir" / "cur")[0]
    )
    for fifo in (
        local / "Pipe",
        local / "Salesforce.sbd" / "Fifo",
        home.root / "Mail" / "inbox" / "new" / "1798000001.M2P1.host",
        home.profiles[1] / "Mail" / "pop.work.example.com" / "Inbox" / "cur" / "fifo",
    ):
        os.mkfifo(fifo)


def test_symlinks_out_of_a_store_and_fifos_are_ignored(home: Home, tmp_path: Path) -> None:
    before = run("sources", "--json")
    _booby_trap(home, tmp_path / "outside")
    listed = run("sources", "--json")  # a FIFO opened for reading would hang this
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout == before.stdout  # nothing outside counted, no FIFO as a message
    done = run("find", "--all", "--json")
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert LEAK not in done.stdout and len(found) == 9
    assert found[0]["token"] == home.newest["ci@example.com"]


def test_a_fifo_as_prefs_or_profiles_ini_is_not_opened(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = full_home(tmp_path / "home")
    isolate(monkeypatch, built.root, tmp_path)
    (built.profiles[0] / "prefs.js").unlink()
    os.mkfifo(built.profiles[0] / "prefs.js")
    done = run("sources", "--json")
    assert done.returncode == 0, done.stderr
    urls = [s["url"] for s in json.loads(done.stdout)]
    # Without prefs.js every directory of Mail/ and ImapMail/ is an mbox store.
    assert f"thunderbird:{built.profiles[0]}" in urls
    ini = built.root / ".thunderbird" / "profiles.ini"
    ini.unlink()
    os.mkfifo(ini)
    done = run("sources", "--json")
    assert done.returncode == 0, done.stderr
    assert not [s for s in json.loads(done.stdout) if s["client"] == "Thunderbird"]

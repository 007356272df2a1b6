"""find over several sources: groups, --all-profiles, concurrency, and failure isolation."""

from __future__ import annotations

import json
import mailbox
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from inbox_finder import api
from inbox_finder.cli.main import main
from inbox_finder.config import load_config
from inbox_finder.errors import ExitCode, PartialSearchError
from inbox_finder.testing.dovecot import DovecotServer, free_port
from inbox_finder.testing.mail import new_token, token_mail

BASE = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


def maildir(root: Path, *mails: tuple[int, str, str]) -> str:
    """A real Maildir; each mail is (minutes after BASE, token, username)."""
    box = mailbox.Maildir(root, create=True)
    for minutes, token, user in mails:
        box.add(token_mail(token, user, BASE + timedelta(minutes=minutes)))
    return f"maildir:{root}"


def mbox(path: Path, *mails: tuple[int, str, str]) -> str:
    """A real mbox file, same arguments as ``maildir``."""
    box = mailbox.mbox(path, create=True)
    for minutes, token, user in mails:
        box.add(token_mail(token, user, BASE + timedelta(minutes=minutes)))
    box.flush()
    box.close()
    return f"mbox:{path}"


def write_config(path: Path, profiles: dict[str, dict[str, str | float]], extra: str = "") -> str:
    lines = []
    for name, keys in profiles.items():
        lines.append(f"[mailbox.{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
    path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
    return str(path)


@pytest.fixture
def three(tmp_path: Path) -> tuple[str, dict[str, str]]:
    """Three local sources (two Maildirs, one mbox) with tokens at known times, and a config."""
    tok = {name: new_token() for name in ("a1", "a2", "b1", "c1", "c2")}
    urls = {
        "alpha": maildir(
            tmp_path / "a", (10, tok["a1"], "x@example.com"), (40, tok["a2"], "y@e.com")
        ),
        "beta": maildir(tmp_path / "b", (50, tok["b1"], "x@example.com")),
        "gamma": mbox(tmp_path / "c.mbox", (20, tok["c1"], "z@e.com"), (30, tok["c2"], "y@e.com")),
    }
    cfg = write_config(
        tmp_path / "config.toml",
        {name: {"url": url} for name, url in urls.items()},
        '[group.ab]\nmembers = ["alpha", "beta"]\n',
    )
    return cfg, {**tok, **urls}


def test_newest_token_across_sources_and_source_says_where(
    three: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    assert main(["find", "--config", cfg, "alpha", t["gamma"], "beta", "--json"]) == 0
    found = json.loads(capsys.readouterr().out)
    assert found["token"] == t["b1"]  # beta's is the newest (minute 50)
    assert str(Path(t["beta"][len("maildir:") :])) in found["source"]


def test_all_and_per_username_merge_by_receive_time(
    three: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    assert main(["find", "--config", cfg, "alpha", "beta", "gamma", "--all", "--json"]) == 0
    tokens = [f["token"] for f in json.loads(capsys.readouterr().out)]
    assert tokens == [t["b1"], t["a2"], t["c2"], t["c1"], t["a1"]]
    assert main(["find", "--config", cfg, "gamma", "alpha", "beta", "--per-username", "-q"]) == 0
    # x: b1 (50) beats a1 (10); y: a2 (40) beats c2 (30); z: c1.
    assert capsys.readouterr().out.split() == [t["b1"], t["a2"], t["c1"]]


def test_group_and_all_profiles(
    three: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    assert main(["find", "--config", cfg, "ab", "--all", "-q"]) == 0
    assert capsys.readouterr().out.split() == [t["b1"], t["a2"], t["a1"]]
    assert main(["find", "--config", cfg, "--all-profiles", "--all", "-q"]) == 0
    assert len(capsys.readouterr().out.split()) == 5
    # A source named twice (here: alpha, and alpha again in the group) is searched once.
    assert main(["find", "--config", cfg, "alpha", "ab", "--all", "-q"]) == 0
    assert capsys.readouterr().out.split() == [t["b1"], t["a2"], t["a1"]]


def test_concurrent_answer_equals_one_by_one(three: tuple[str, dict[str, str]]) -> None:
    cfg, t = three
    config = load_config(cfg)
    names = ["gamma", "alpha", "beta", t["alpha"]]
    one_by_one = sorted(
        (f for name in names for f in api.find_tokens(name, config=config)),
        key=lambda f: f.received,
        reverse=True,
    )
    for jobs in (1, 2, 4, 8):
        assert api.find_tokens(names, config=config, jobs=jobs) == one_by_one
    assert api.find_token(names, config=config).token == t["b1"]
    # A list of one is that one source (same answer, same errors).
    assert api.find_tokens(["alpha"], config=config) == api.find_tokens("alpha", config=config)


def test_unknown_group_member_is_a_config_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = write_config(
        tmp_path / "c.toml", {"work": {"url": "mbox:/x"}}, '[group.g]\nmembers = ["work", "opz"]\n'
    )
    assert main(["find", "--config", cfg, "g"]) == ExitCode.USAGE
    assert "unknown member 'opz'" in capsys.readouterr().err
    clash = write_config(
        tmp_path / "d.toml", {"work": {"url": "mbox:/x"}}, '[group.work]\nmembers = ["work"]\n'
    )
    assert main(["find", "--config", clash, "work"]) == ExitCode.USAGE
    assert "[group.work] has the name of a [mailbox.work] profile" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("extra", "args", "needle"),
    [
        ("[run]\njobs = 0\n", [], "run.jobs must be a whole number from 1 to 64"),
        ("[run]\njobs = true\n", [], "run.jobs must be a whole number"),
        ("", ["--jobs", "0"], "--jobs"),
        ("", [], "no local mail store found under"),
    ],
)
def test_bad_jobs_or_no_source_is_exit_2(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    extra: str,
    args: list[str],
    needle: str,
) -> None:
    # No SOURCE searches the local stores under HOME: an empty one holds none.
    monkeypatch.setenv("HOME", str(tmp_path / "empty-home"))
    monkeypatch.delenv("MAIL", raising=False)
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    cfg = write_config(tmp_path / "c.toml", {}, extra)
    source = [] if needle.startswith("no local") else [maildir(tmp_path / "m")]
    assert main(["find", "--config", cfg, *source, *args]) == ExitCode.USAGE
    assert needle in capsys.readouterr().err


def test_config_jobs_is_used(
    three: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = three
    text = Path(cfg).read_text(encoding="utf-8") + "[run]\njobs = 2\n"
    Path(cfg).write_text(text, encoding="utf-8")
    assert load_config(cfg).jobs == 2
    assert main(["find", "--config", cfg, "alpha", "beta", "gamma", "-q"]) == 0
    assert capsys.readouterr().out.split() == [t["b1"]]


def test_wait_and_verify_take_one_source(
    three: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = three
    assert main(["find", "--config", cfg, "alpha", "beta", "--wait", "1s"]) == ExitCode.USAGE
    assert "--wait and --verify take one SOURCE" in capsys.readouterr().err


@pytest.fixture
def five(
    dovecot: DovecotServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> tuple[str, dict[str, str]]:
    """Two real IMAP users with mail, a Maildir, a closed port and a wrong password."""
    (u1, p1), (u2, p2) = dovecot.new_user("many"), dovecot.new_user("many")
    wrong_user, _ = dovecot.new_user("many")
    tok = {"i1": new_token(), "i2": new_token(), "m1": new_token()}
    at1, at2 = BASE + timedelta(minutes=5), BASE + timedelta(minutes=9)
    dovecot.append(u1, token_mail(tok["i1"], "a@example.com", at1), at1)
    dovecot.append(u2, token_mail(tok["i2"], "b@example.com", at2), at2)
    monkeypatch.setenv("MANY_P1", p1)
    monkeypatch.setenv("MANY_P2", p2)
    monkeypatch.setenv("MANY_WRONG", "not-the-password-1234")
    imap: dict[str, str | float] = {"ca_file": dovecot.ca_file, "timeout": 5.0}
    cfg = write_config(
        tmp_path / "config.toml",
        {
            "imap1": {"url": dovecot.url(u1), "password_env": "MANY_P1", **imap},
            "imap2": {"url": dovecot.url(u2), "password_env": "MANY_P2", **imap},
            "local": {"url": maildir(tmp_path / "m", (1, tok["m1"], "c@example.com"))},
            "closed": {
                "url": f"imaps://nobody@127.0.0.1:{free_port()}",
                "password_env": "MANY_P1",
                **imap,
            },
            "wrongpw": {"url": dovecot.url(wrong_user), "password_env": "MANY_WRONG", **imap},
        },
    )
    return cfg, {**tok, "p1": p1, "p2": p2}


def test_failures_are_isolated_reported_and_summarised(
    five: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = five
    code = main(["find", "--config", cfg, "--all-profiles", "--json"])
    out, err = capsys.readouterr()
    # Highest failing code: 4 (unreachable) over 3 (wrong password).
    assert code == ExitCode.MAILBOX
    assert json.loads(out)["token"] == t["i2"]  # newest among those that answered
    lines = err.splitlines()
    assert sum(line.startswith("inbox-finder: error: closed: ") for line in lines) == 1
    assert sum(line.startswith("inbox-finder: error: wrongpw: ") for line in lines) == 1
    assert "only 3 of 5 sources could be searched" in err
    assert lines[-1] == "inbox-finder: 2 of 5 sources failed"
    for secret in (t["p1"], t["p2"], "not-the-password-1234"):
        assert secret not in err and secret not in out


def test_only_the_wrong_password_fails_exit_3_and_all_listed(
    five: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, t = five
    code = main(["find", "--config", cfg, "imap1", "wrongpw", "local", "imap2", "--all", "-q"])
    out, err = capsys.readouterr()
    assert code == ExitCode.AUTH
    assert out.split() == [t["i2"], t["i1"], t["m1"]]
    assert err.splitlines()[-1] == "inbox-finder: 1 of 4 sources failed"


def test_every_source_fails(
    five: tuple[str, dict[str, str]], capsys: pytest.CaptureFixture[str]
) -> None:
    cfg, _ = five
    assert main(["find", "--config", cfg, "closed", "wrongpw"]) == ExitCode.MAILBOX
    out, err = capsys.readouterr()
    assert out == ""
    assert "no security token email found in the 0 of 2 sources" in err
    assert err.splitlines()[-1] == "inbox-finder: 2 of 2 sources failed"


def test_library_partial_search_error_carries_findings_and_failures(
    five: tuple[str, dict[str, str]],
) -> None:
    cfg, t = five
    with pytest.raises(PartialSearchError) as caught:
        api.find_tokens(["imap1", "closed", "local"], config=cfg)
    exc = caught.value
    assert [f.token for f in exc.findings] == [t["i1"], t["m1"]]
    assert [(f.label, int(f.error.exit_code)) for f in exc.failures] == [("closed", 4)]
    assert exc.exit_code == ExitCode.MAILBOX and exc.answered == 2
    assert str(exc) == "1 of 3 sources failed"


def test_misconfigured_profile_does_not_stop_the_others(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    token = new_token()
    cfg = write_config(
        tmp_path / "c.toml",
        {
            "good": {"url": maildir(tmp_path / "g", (1, token, "a@example.com"))},
            "typo": {"url": "maildir:/nonexistent/inbox-finder-many"},
            "badkey": {"url": maildir(tmp_path / "h"), "colour": "blue"},
        },
    )
    assert main(["find", "--config", cfg, "--all-profiles", "-q"]) == ExitCode.USAGE
    out, err = capsys.readouterr()
    assert out.split() == [token]
    assert "inbox-finder: error: typo: " in err and "inbox-finder: error: badkey: " in err
    assert err.splitlines()[-1] == "inbox-finder: 2 of 3 sources failed"

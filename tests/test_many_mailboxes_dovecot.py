"""40 real Dovecot mailboxes: find, --per-username, scan --state-dir, failures, shards, per_host.

One module-scoped fixture makes 40 users (mail written straight into their Maildirs), each with
its own newest token, and a config with a profile per user plus a closed port and a wrong
password. Every run goes through the real CLI.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from emulators.fault_proxy import FaultProxy, TlsTermination
from emulators.session_count import SessionCount

from inbox_finder.cli.main import main
from inbox_finder.errors import ExitCode
from inbox_finder.testing.dovecot import DovecotServer, free_port
from inbox_finder.testing.mail import new_token, token_mail

BASE = datetime(2026, 4, 1, 8, 0, tzinfo=UTC)
USERS = 40


class Fleet:
    """The 40 users, their tokens, and config files over them."""

    def __init__(self, dovecot: DovecotServer, root: Path) -> None:
        self.dovecot, self.root = dovecot, root
        self.names: list[str] = []
        self.tokens: dict[str, str] = {}  # profile -> its newest token
        self.passwords: dict[str, str] = {}
        self.users: dict[str, str] = {}  # profile -> Dovecot user
        self.received: dict[str, datetime] = {}  # profile -> when its newest token came
        for i in range(USERS):
            user, password = dovecot.new_user("fleet")
            name = f"m{i:02d}"
            old, new = new_token(), new_token()
            at = BASE + timedelta(minutes=i)
            dovecot.bulk_load(
                user,
                [
                    (token_mail(old, f"{name}@example.com", at - timedelta(days=1)), at),
                    (token_mail(new, f"{name}@example.com", at), at),
                ],
            )
            self.names.append(name)
            self.tokens[name] = new
            self.passwords[name] = password
            self.users[name] = user
            self.received[name] = at

    def newest(self, names: list[str]) -> str:
        """The newest token among these profiles."""
        return self.tokens[max(names, key=lambda name: self.received[name])]

    def config(self, path: Path, *, url: str | None = None, extra: str = "") -> str:
        """A profile per user (``url`` a template with ``{user}``), then ``extra``."""
        lines = []
        for name in self.names:
            user = self.users[name]
            target = url.format(user=user) if url else self.dovecot.url(user)
            lines += [
                f"[mailbox.{name}]",
                f'url = "{target}"',
                f'password_env = "FLEET_{name.upper()}"',
                f'ca_file = "{self.dovecot.ca_file}"',
                "timeout = 10.0",
            ]
        path.write_text("\n".join(lines) + "\n" + extra, encoding="utf-8")
        return str(path)


@pytest.fixture(scope="module")
def fleet(dovecot: DovecotServer, tmp_path_factory: pytest.TempPathFactory) -> Fleet:
    return Fleet(dovecot, tmp_path_factory.mktemp("fleet"))


@pytest.fixture
def env(fleet: Fleet, monkeypatch: pytest.MonkeyPatch) -> Fleet:
    for name, password in fleet.passwords.items():
        monkeypatch.setenv(f"FLEET_{name.upper()}", password)
    monkeypatch.setenv("FLEET_WRONG", "not-the-password-5678")
    return fleet


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def test_find_over_40_profiles_is_the_global_newest(
    env: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = env.config(tmp_path / "c.toml")
    code, out, err = cli(capsys, "find", "--config", cfg, "--all-profiles", "-j", "8", "--json")
    assert code == 0, err
    assert json.loads(out)["token"] == env.newest(env.names)
    code, out, err = cli(capsys, "find", "--config", cfg, "--all-profiles", "--per-username", "-q")
    assert code == 0, err
    assert sorted(out.split()) == sorted(env.tokens.values())  # every user's newest, no old one


def test_scan_state_dir_40_then_nothing_then_exactly_the_3_new(
    env: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = env.config(tmp_path / "c.toml")
    states = str(tmp_path / "states")
    args = ("scan", "--config", cfg, "--all-profiles", "--state-dir", states, "-j", "8", "--json")
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    first = [json.loads(line) for line in out.splitlines()]
    assert sorted(f["token"] for f in first) == sorted(env.tokens.values())
    assert all(f["source"] for f in first)
    assert cli(capsys, *args)[:2] == (0, "")
    fresh = {}
    for name in ("m03", "m17", "m31"):
        fresh[name] = new_token()
        at = datetime.now(UTC).replace(microsecond=0)
        env.dovecot.append(env.users[name], token_mail(fresh[name], f"{name}@example.com", at), at)
        env.tokens[name], env.received[name] = fresh[name], at  # what later tests expect
    code, out, err = cli(capsys, *args)
    assert code == 0, err
    assert sorted(json.loads(line)["token"] for line in out.splitlines()) == sorted(fresh.values())


def test_a_closed_port_and_a_wrong_password_leave_38_reported(
    env: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    wrong_user = env.users["m05"]
    extra = (
        f'[mailbox.zclosed]\nurl = "imaps://nobody@127.0.0.1:{free_port()}"\n'
        f'password_env = "FLEET_M00"\nca_file = "{env.dovecot.ca_file}"\ntimeout = 5.0\n'
        f'[mailbox.zwrong]\nurl = "{env.dovecot.url(wrong_user)}"\n'
        f'password_env = "FLEET_WRONG"\nca_file = "{env.dovecot.ca_file}"\ntimeout = 5.0\n'
    )
    cfg = env.config(tmp_path / "c.toml", extra=extra)
    drop = ("m00", "m01")  # 40 + 2 broken - these 2 = 40 sources, 38 of them good
    sources = [n for n in env.names if n not in drop] + ["zclosed", "zwrong"]
    states = str(tmp_path / "states")
    code, out, err = cli(
        capsys, "scan", "--config", cfg, *sources, "--state-dir", states, "-j", "8", "--json"
    )
    assert code == ExitCode.MAILBOX  # documented: the highest failing code (4 over 3)
    tokens = sorted(json.loads(line)["token"] for line in out.splitlines())
    assert tokens == sorted(v for k, v in env.tokens.items() if k not in drop)
    lines = err.splitlines()
    assert sum(line.startswith("inbox-finder: error: zclosed: ") for line in lines) == 1
    assert sum(line.startswith("inbox-finder: error: zwrong: ") for line in lines) == 1
    assert lines[-1] == "inbox-finder: 2 of 40 sources failed"
    assert "not-the-password-5678" not in err + out
    assert not (Path(states) / "zclosed.state").exists()
    code, out, err = cli(capsys, "find", "--config", cfg, *sources, "-j", "8", "-q")
    good = [n for n in env.names if n not in drop]
    assert code == ExitCode.MAILBOX and out.split() == [env.newest(good)]


def test_shards_cover_every_source_exactly_once(
    env: Fleet, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cfg = env.config(tmp_path / "c.toml")
    seen: list[str] = []
    for k in range(3):
        code, out, err = cli(
            capsys,
            *("scan", "--config", cfg, "--all-profiles", "--shard", f"{k}/3", "-j", "8"),
            *("--state-dir", str(tmp_path / f"shard{k}"), "--json"),
        )
        assert code == 0, err
        part = [json.loads(line)["token"] for line in out.splitlines()]
        assert 0 < len(part) < USERS  # each shard holds some, none all
        seen += part
    assert sorted(seen) == sorted(env.tokens.values())  # no gap, no overlap


@pytest.mark.parametrize(("per_host", "cap_holds"), [(3, True), (64, False)])
def test_per_host_caps_connections_to_one_server(
    env: Fleet,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    per_host: int,
    cap_holds: bool,
) -> None:
    tls = TlsTermination.from_dir(env.dovecot.base)
    upstream = (env.dovecot.host, env.dovecot.imaps_port)
    sessions = SessionCount(hold=0.3)  # held LOGINs: the sessions overlap for sure
    with FaultProxy(upstream, tls=tls, faults=sessions.faults()) as proxy:
        url = f"imaps://{{user}}@{proxy.host}:{proxy.port}"
        cfg = env.config(tmp_path / "c.toml", url=url, extra=f"[run]\nper_host = {per_host}\n")
        few = env.names[:12]
        code, out, err = cli(capsys, "find", "--config", cfg, *few, "-j", "12", "-q")
    assert code == 0, err
    assert out.split() == [env.newest(few)]
    assert sessions.open == 0  # every session logged out: the count is complete
    if cap_holds:
        assert sessions.peak == per_host  # full, never over
    else:
        assert sessions.peak > 3  # without the cap the same run opens more at once

"""--write-env and the state file: symlinks written through, owner and mode kept, or a refusal.

The tests run as root (CI does), so files can be given to another uid; one test drops to
``nobody`` to see the refusal when the owner cannot be kept.
"""

from __future__ import annotations

import contextlib
import json
import mailbox
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from corpus_util import build_mbox, positives
from mailgen import new_token, token_mail

from inbox_finder.cli.main import main
from inbox_finder.fileutil import write_private

EXE = str(Path(sys.executable).with_name("inbox-finder"))
DANA = next(e.token or "" for e in positives() if e.username == "dana@example.com")
NOBODY = 65534
as_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root to chown to other users")


@pytest.fixture
def mbox(tmp_path: Path) -> Path:
    return build_mbox(tmp_path / "inbox.mbox")


@pytest.fixture(autouse=True)
def _isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def scan(
    capsys: pytest.CaptureFixture[str], mbox: Path, state: Path, *extra: str
) -> tuple[int, str]:
    code = main(["scan", f"mbox:{mbox}", "--state", str(state), "-u", "dana@example.com", *extra])
    out, err = capsys.readouterr()
    assert DANA not in out + err
    return code, err


def test_write_env_writes_through_a_symlink(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    real = tmp_path / "app" / "real.env"
    real.write_text("A=1\nSF_TOKEN=old\n")
    real.chmod(0o640)
    link = tmp_path / "link.env"
    link.symlink_to("app/real.env")
    code, err = scan(capsys, mbox, tmp_path / "s", "--write-env", f"{link}:SF_TOKEN")
    assert (code, err) == (0, "")
    assert link.is_symlink() and os.readlink(link) == "app/real.env"
    assert real.read_text() == f"A=1\nSF_TOKEN={DANA}\n"
    assert stat.S_IMODE(real.stat().st_mode) == 0o640
    assert sorted(p.name for p in (tmp_path / "app").iterdir()) == ["real.env"]  # no temp left


def test_a_dangling_symlink_creates_its_target_0600(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    link = tmp_path / "link.env"
    link.symlink_to(tmp_path / "target.env")
    assert scan(capsys, mbox, tmp_path / "s", "--write-env", f"{link}:T") == (0, "")
    assert link.is_symlink() and (tmp_path / "target.env").read_text() == f"T={DANA}\n"
    assert stat.S_IMODE((tmp_path / "target.env").stat().st_mode) == 0o600


@as_root
def test_existing_file_keeps_owner_group_and_mode(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    env = tmp_path / "app.env"
    env.write_text("T=old\n")
    os.chown(env, 1234, 2345)
    env.chmod(0o640)
    assert scan(capsys, mbox, tmp_path / "s", "--write-env", f"{env}:T") == (0, "")
    st = env.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 2345, 0o640)
    assert env.read_text() == f"T={DANA}\n"


def test_new_files_are_0600_and_created_directories_0700_under_umask_000(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    with umask(0):
        assert scan(capsys, mbox, tmp_path / "s", "--write-env", f"{tmp_path}/n.env:T") == (0, "")
        for made in (tmp_path / "n.env", tmp_path / "s", tmp_path / "s.lock"):
            assert stat.S_IMODE(made.stat().st_mode) == 0o600, made
        # Caches (Gmail credentials, MSAL) may create their directory: each level 0700.
        write_private(tmp_path / "c1" / "c2" / "cache.json", "{}")
    for folder in (tmp_path / "c1", tmp_path / "c1" / "c2"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    assert stat.S_IMODE((tmp_path / "c1" / "c2" / "cache.json").stat().st_mode) == 0o600


def test_missing_directory_is_exit_5_and_the_token_is_offered_again(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    missing = tmp_path / "nodir" / "app.env"
    code, err = scan(capsys, mbox, tmp_path / "s", "--write-env", f"{missing}:T")
    assert code == 5 and f"directory {tmp_path / 'nodir'} does not exist" in err
    assert not (tmp_path / "nodir").exists()
    good = tmp_path / "app.env"
    assert scan(capsys, mbox, tmp_path / "s", "--write-env", f"{good}:T") == (0, "")
    assert good.read_text() == f"T={DANA}\n"


def test_hard_linked_file_is_refused(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    env = tmp_path / "app.env"
    env.write_text("T=old\n")
    os.link(env, tmp_path / "other-name.env")
    code, err = scan(capsys, mbox, tmp_path / "s", "--write-env", f"{env}:T")
    assert code == 5 and "2 hard links" in err
    assert env.read_text() == "T=old\n" and (tmp_path / "other-name.env").read_text() == "T=old\n"


@as_root
@pytest.mark.skipif(shutil.which("setpriv") is None, reason="needs setpriv (util-linux)")
def test_refused_when_the_owner_cannot_be_kept(mbox: Path, tmp_path: Path) -> None:
    """Root without CAP_CHOWN (a common container setup) cannot keep another user's owner."""
    env = tmp_path / "app.env"
    env.write_text("T=old\n")
    os.chown(env, 1234, 2345)
    cmd = ["setpriv", "--bounding-set=-chown", "--inh-caps=-chown", "--", EXE, "scan"]
    cmd += [f"mbox:{mbox}", "--state", str(tmp_path / "s"), "-u", "dana@example.com"]
    done = subprocess.run(
        [*cmd, "--write-env", f"{env}:T"], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 5, done.stderr
    assert "belongs to uid 1234 gid 2345; a replacement could not keep that owner" in done.stderr
    assert "Traceback" not in done.stderr and DANA not in done.stdout + done.stderr
    assert env.read_text() == "T=old\n" and env.stat().st_uid == 1234
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".app.env")] == []


def _as_nobody(argv: list[str], stderr: Path) -> int:
    """Run ``main(argv)`` in a forked child that dropped to nobody (no exec: the interpreter
    lives where nobody may not read, so everything it needs is imported before the fork)."""
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        code = 99
        try:
            sys.stderr = open(stderr, "w", encoding="utf-8")  # noqa: SIM115 - the child exits
            os.setgroups([])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            code = main(argv)
        finally:
            sys.stderr.flush()
            os._exit(code)
    return os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])


@as_root
def test_state_file_whose_owner_cannot_be_kept_is_refused_before_any_delivery(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    work = Path(tempfile.mkdtemp(prefix="if-owner-"))  # nobody cannot enter pytest's tmp_path
    monkeypatch.setenv("XDG_CONFIG_HOME", str(work / "xdg"))
    try:
        work.chmod(0o777)
        box = build_mbox(work / "inbox.mbox")
        box.chmod(0o644)
        state, env, err = work / "s", work / "app.env", work / "stderr"
        args = ["scan", f"mbox:{box}", "--state", str(state), "-q", "--write-env", f"{env}:T"]
        assert main([*args, "-u", "tz@example.com"]) == 0  # as root: imports everything used
        env.unlink()
        state.chmod(0o666)  # nobody may write it, but not make a replacement that root owns
        code = _as_nobody([*args, "-u", "dana@example.com"], err)
        capsys.readouterr()
        assert code == 5, err.read_text()
        assert "belongs to uid 0 gid 0; a replacement could not keep that owner" in err.read_text()
        assert not env.exists()  # refused before the token was handed to anything
        assert state.stat().st_uid == 0
    finally:
        shutil.rmtree(work)


def test_state_file_symlink_is_written_through(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    (tmp_path / "var").mkdir()
    real, link = tmp_path / "var" / "real.state", tmp_path / "s"
    link.symlink_to(real)
    assert scan(capsys, mbox, link, "-q") == (0, "")
    assert link.is_symlink() and json.loads(real.read_text())["format"] == "inbox-finder-scan-state"
    assert (tmp_path / "var" / "real.state.lock").exists()  # the lock sits by the real file
    assert scan(capsys, mbox, link) == (0, "")  # known: nothing new


@as_root
def test_state_file_keeps_owner_and_mode(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    state = tmp_path / "s"
    assert scan(capsys, mbox, state, "-q") == (0, "")
    os.chown(state, 1234, 2345)
    state.chmod(0o640)
    before = json.loads(state.read_text())
    box = mailbox.mbox(str(mbox))
    box.add(mailbox.mboxMessage(token_mail(new_token(), "dana@example.com")))
    box.close()
    assert scan(capsys, mbox, state, "-q") == (0, "")
    after = json.loads(state.read_text())
    assert after["cursor"] != before["cursor"] and after["salt"] == before["salt"]  # rewritten
    st = state.stat()
    assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (1234, 2345, 0o640)


def test_missing_state_directory_is_an_error_not_created(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    code, err = scan(capsys, mbox, tmp_path / "nodir" / "s", "-q")
    assert code == 5 and "does not exist" in err
    assert not (tmp_path / "nodir").exists()


def test_planted_lock_symlink_is_not_followed(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    (tmp_path / "s.lock").symlink_to(victim)
    code, err = scan(capsys, mbox, tmp_path / "s", "-q")
    assert code == 5 and "is a symlink" in err
    assert victim.read_text() == "precious\n" and stat.S_IMODE(victim.stat().st_mode) == 0o644
    assert not (tmp_path / "s").exists()
    dangling = tmp_path / "t.lock"
    dangling.symlink_to(tmp_path / "created-by-whom")
    assert scan(capsys, mbox, tmp_path / "t", "-q")[0] == 5
    assert not (tmp_path / "created-by-whom").exists()


def test_fifo_lock_is_refused_without_hanging(
    capsys: pytest.CaptureFixture[str], mbox: Path, tmp_path: Path
) -> None:
    os.mkfifo(tmp_path / "s.lock")
    result: list[tuple[int, str]] = []
    worker = threading.Thread(target=lambda: result.append(scan(capsys, mbox, tmp_path / "s")))
    worker.start()
    worker.join(20)
    assert not worker.is_alive()
    code, err = result[0]
    assert code == 5 and "not a regular file" in err

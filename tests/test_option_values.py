"""Any value of --since, --wait, --interval and --timeout: a documented exit code, one line.

Values that parse but cannot be represented (``0001-01-01``, ``99999999999d``, ``nan``) used
to pass validation and then fail as an internal error (exit 70) or blame the server. Each run
here is the real CLI on the shipped demo mbox.
"""

from __future__ import annotations

import contextlib
import io
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from inbox_finder.cli.main import main

DEMO = Path(__file__).resolve().parent.parent / "examples" / "demo.mbox"
SOURCE = f"mbox:{DEMO}"
DOCUMENTED = {0, 1, 2}  # found, not found, usage: a local lookup has no other outcome
FEW = settings(max_examples=150, deadline=None)


@pytest.fixture(autouse=True)
def _no_user_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("INBOX_FINDER_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg"))


def run(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


def assert_clean(code: int, err: str) -> None:
    assert code in DOCUMENTED, (code, err)
    assert "Traceback" not in err and "internal error" not in err, err
    assert err.count("\n") <= 1, err
    if code == 2:
        assert err.startswith("inbox-finder: error: ") and err.endswith("\n"), err


numbers = st.one_of(
    st.integers(min_value=-(10**3), max_value=10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from(["nan", "inf", "-inf", "1e400", "0", "0.0", "1e-9", "99999999999"]),
)
durations = st.one_of(
    st.builds(lambda n, unit: n + unit, numbers, st.sampled_from(["", "s", "m", "h", "d", "w"])),
    st.sampled_from(["99999999999d", "99999999999w", "36525d", "36526d", " 5 m ", "5x", "d"]),
    st.text(max_size=12),
)
offsets = st.integers(min_value=-1439, max_value=1439).map(lambda m: timezone(timedelta(minutes=m)))
iso_times = st.one_of(
    st.datetimes(min_value=datetime(1, 1, 1), max_value=datetime(9999, 12, 31, 23, 59, 59)).map(
        datetime.isoformat
    ),
    st.datetimes(timezones=offsets).map(datetime.isoformat),
    st.dates().map(lambda d: d.isoformat()),
    st.sampled_from(
        ["0001-01-01", "9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "1969-12-31"]
    ),
)


@FEW
@given(value=st.one_of(iso_times, durations))
def test_any_since(value: str) -> None:
    code, _, err = run("find", SOURCE, "-q", f"--since={value}")
    assert_clean(code, err)


@FEW
@given(wait=durations, interval=durations)
def test_any_wait_and_interval(wait: str, interval: str) -> None:
    # --since far back: a valid --wait finds the token at once instead of waiting.
    args = ["find", SOURCE, "-q", "--since=2000-01-01", f"--wait={wait}", f"--interval={interval}"]
    code, _, err = run(*args)
    assert_clean(code, err)


@FEW
@given(value=st.one_of(numbers, st.text(max_size=12)))
def test_any_timeout(value: str) -> None:
    code, _, err = run("find", SOURCE, "-q", f"--timeout={value}")
    assert_clean(code, err)
    try:
        seconds = float(value)
    except ValueError:
        return
    if math.isnan(seconds) or math.isinf(seconds):
        assert code == 2  # nan and inf used to pass and reach the network layer


@pytest.mark.parametrize(
    "args",
    [
        ["find", SOURCE, "--since", "0001-01-01"],
        ["find", SOURCE, "--since", "9999-12-31T23:59:59-14:00"],
        ["find", SOURCE, "--since", "99999999999d"],
        ["find", SOURCE, "--since", "2999-01-01"],
        ["find", SOURCE, "--wait", "99999999999d"],
        ["find", SOURCE, "--wait", "nan"],
        ["find", SOURCE, "--wait", "1s", "--interval", "inf"],
        ["find", SOURCE, "--wait", "1s", "--interval", "0"],
        ["find", SOURCE, "--timeout", "nan"],
        ["find", SOURCE, "--timeout", "inf"],
        ["find", "maildir:~nonexist/x"],
        ["find", "mbox:~no-such-user-here/inbox"],
        ["find", "mbox:/" + "x" * 5000],
        ["watch", SOURCE, "--state", "STATE", "--interval", "nan"],
        ["watch", SOURCE, "--state", "STATE", "--interval", "0s"],
        ["scan", SOURCE, "--state", "STATE", "--timeout", "nan"],
    ],
)
def test_bad_values_are_exit_2_with_a_reason(args: list[str], tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    code, out, err = run(*[str(state) if a == "STATE" else a for a in args])
    assert (code, out) == (2, "")
    assert_clean(code, err)
    assert len(err.strip()) > len("inbox-finder: error: ")
    assert not state.exists()  # refused before any scan


@pytest.mark.parametrize("value", ["nan", "inf", "-1.0", "0", "true", '"30"', "1e9"])
def test_bad_profile_timeout_is_exit_2(tmp_path: Path, value: str) -> None:
    config = tmp_path / "config.toml"
    config.write_text(f'[mailbox.work]\nurl = "{SOURCE}"\ntimeout = {value}\n')
    code, out, err = run("--config", str(config), "find", "work", "-q")
    assert (code, out) == (2, "")
    assert_clean(code, err)
    # A wrong type is refused by the declared key, a bad number by the timeout check.
    assert "timeout" in err and ("[mailbox.work]" in err or "profile work" in err)
